from __future__ import annotations

import pytest

from cargohold.errors import DigestInvalid, NameInvalid, TagInvalid, Unsupported
from cargohold.types import Digest, Reference, check_name, check_tag


@pytest.mark.parametrize(
    "name",
    ["a", "team/app", "project/repo/image", "a-b/c_d/e.f", "a__b", "a---b", "0/1", "a" * 255],
)
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "A", "a/", "/a", "a//b", "a/../b", "a/./b", "-a", "a-", "a_", "a___b", "a" * 256, "a b"],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(NameInvalid):
        check_name(name)


@pytest.mark.parametrize("tag", ["latest", "v1.0", "_x", "A-b_c.d", "t" * 128])
def test_valid_tags(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "t" * 129, "a/b", "a:b", "a b"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(TagInvalid):
        check_tag(tag)


def test_digest_parse_and_render() -> None:
    d = Digest.parse("sha256:" + "a" * 64)
    assert (d.algorithm, str(d)) == ("sha256", "sha256:" + "a" * 64)
    assert Digest.of(b"") == Digest.parse(
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("sha256:" + "a" * 63, DigestInvalid),
        ("sha256:" + "A" * 64, DigestInvalid),
        ("sha512:" + "a" * 64, DigestInvalid),
        ("sha256", DigestInvalid),
        ("md5:" + "a" * 32, Unsupported),
        ("blake3:" + "a" * 64, Unsupported),
    ],
)
def test_bad_digests(value: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        Digest.parse(value)


def test_reference() -> None:
    assert Reference.parse("v1").tag == "v1"
    assert Reference.parse("sha256:" + "b" * 64).digest is not None
