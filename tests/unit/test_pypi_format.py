"""Hosted PyPI: the legacy upload form and the simple index (`cargohold.formats.pypi`).

Upload forms are built the way the clients build them: twine's own code turns a
wheel or sdist written here into its field list, and the ``uv publish`` form copies
the fields uv's ``form_metadata`` sends (crates/uv-publish). Index pages are read
back with ``html.parser`` and, where pip is installed, with pip's own link parser.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import cargohold.errors as errors_module
from cargohold.errors import RequestInvalid
from cargohold.formats import pypi
from cargohold.formats.pypi import (
    LEGACY_HTML,
    MAX_METADATA_SIZE,
    SIMPLE_HTML,
    SIMPLE_JSON,
    IndexFile,
    NotAcceptable,
    Upload,
    check_digests,
    check_wheel_metadata,
    choose_content_type,
    normalize,
    parse_upload,
    project_html,
    project_json,
    root_html,
    root_json,
    sort_versions,
    validate_project_name,
    wheel_metadata,
)

SHA = "a" * 64
META_SHA = "b" * 64
WHEEL_NAME = "my_pkg-1.0-py3-none-any.whl"
SDIST_NAME = "my_pkg-1.0.tar.gz"


def metadata_text(name: str = "my-pkg", version: str = "1.0", **extra: str) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        "Summary: A tiny package for tests",
        "Requires-Python: >=3.8",
    ]
    lines += [f"{key.replace('_', '-')}: {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n\nThe description.\n"


def make_wheel(
    files: dict[str, bytes | str] | None = None,
    dist_info: str = "my_pkg-1.0.dist-info",
    metadata: str | None = None,
) -> bytes:
    """A wheel with the files a wheel has, or exactly ``files`` when given."""
    if files is None:
        files = {
            "my_pkg/__init__.py": "VALUE = 1\n",
            f"{dist_info}/METADATA": metadata if metadata is not None else metadata_text(),
            f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            f"{dist_info}/RECORD": "",
        }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def make_sdist(root: str = "my_pkg-1.0") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in {
            f"{root}/PKG-INFO": metadata_text().encode(),
            f"{root}/pyproject.toml": b"[project]\nname = 'my-pkg'\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def form(**overrides: str | list[str] | None) -> dict[str, list[str]]:
    """A minimal valid wheel upload form; ``None`` removes a field."""
    fields: dict[str, str | list[str] | None] = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": "my-pkg",
        "version": "1.0",
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "metadata_version": "2.1",
        "sha256_digest": SHA,
    }
    fields.update(overrides)
    return {
        key: value if isinstance(value, list) else [value]
        for key, value in fields.items()
        if value is not None
    }


def twine_form(path: Path) -> tuple[dict[str, list[str]], str]:
    """The fields and filename twine's upload sends for ``path``."""
    package = pytest.importorskip("twine.package")
    repository = pytest.importorskip("twine.repository")
    dist = package.PackageFile.from_filename(str(path), None)
    pairs = repository.Repository._convert_metadata_to_list_of_tuples(dist.metadata_dictionary())
    pairs += [(":action", "file_upload"), ("protocol_version", "1")]
    fields: dict[str, list[str]] = {}
    for key, value in pairs:
        fields.setdefault(key, []).append(value)
    return fields, dist.basefilename


# -- names --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "friendly-bard",
        "Friendly-Bard",
        "FRIENDLY-BARD",
        "friendly.bard",
        "friendly_bard",
        "friendly--bard",
        "FrIeNdLy-._.-bArD",
    ],
)
def test_normalize_follows_the_name_normalization_spec(name: str) -> None:
    assert normalize(name) == "friendly-bard"


@pytest.mark.parametrize("name", ["a", "A1", "zope.interface", "my_pkg-2", "x" * 255])
def test_valid_project_names(name: str) -> None:
    validate_project_name(name)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        ("-abc", "not a valid project name"),
        ("abc_", "not a valid project name"),
        (".abc", "not a valid project name"),
        ("a b", "not a valid project name"),
        ("a/b", "not a valid project name"),
        ("caf\u00e9", "not a valid project name"),
        ("\u212aelvin", "not a valid project name"),  # KELVIN SIGN, 'k' under IGNORECASE
        ("abc\n", "not a valid project name"),
        ("x" * 256, "longer than 255"),
    ],
)
def test_invalid_project_names(name: str, fragment: str) -> None:
    with pytest.raises(RequestInvalid, match=fragment):
        validate_project_name(name)


# -- upload form ---------------------------------------------------------------


def test_twine_wheel_form_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / WHEEL_NAME
    path.write_bytes(make_wheel())
    fields, filename = twine_form(path)
    upload = parse_upload(fields, filename)
    assert upload == Upload(
        name="my-pkg",
        version="1.0",
        filename=WHEEL_NAME,
        filetype="bdist_wheel",
        pyversion="py3",
        metadata_version="2.1",
        requires_python=">=3.8",
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        md5=None,
        blake2_256=hashlib.blake2b(path.read_bytes(), digest_size=32).hexdigest(),
        summary="A tiny package for tests",
    )
    assert upload.project == "my-pkg"


def test_twine_sdist_form_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / SDIST_NAME
    path.write_bytes(make_sdist())
    fields, filename = twine_form(path)
    upload = parse_upload(fields, filename)
    assert (upload.filetype, upload.pyversion, upload.filename) == ("sdist", "source", SDIST_NAME)
    check_digests(
        upload,
        hashlib.sha256(path.read_bytes()).hexdigest(),
        hashlib.md5(path.read_bytes()).hexdigest(),
        hashlib.blake2b(path.read_bytes(), digest_size=32).hexdigest(),
    )


def test_uv_publish_form_is_accepted() -> None:
    # As uv's form_metadata sends it: the raw metadata name, python tags joined
    # with '.', requires_python always present (empty when unset), lists repeated.
    fields = {
        ":action": ["file_upload"],
        "sha256_digest": [SHA],
        "protocol_version": ["1"],
        "metadata_version": ["2.3"],
        "name": ["My_Pkg"],
        "version": ["1.0"],
        "filetype": ["bdist_wheel"],
        "pyversion": ["py2.py3"],
        "summary": ["Fast"],
        "requires_python": [""],
        "classifiers": ["Programming Language :: Python", "Topic :: Utilities"],
        "requires_dist": ["colorama ; platform_system == 'Windows'"],
    }
    upload = parse_upload(fields, "my_pkg-1.0-py2.py3-none-any.whl")
    assert upload.name == "My_Pkg"
    assert upload.project == "my-pkg"
    assert upload.pyversion == "py2.py3"
    assert upload.requires_python is None
    assert upload.sha256 == SHA


def test_names_and_versions_compare_normalised() -> None:
    upload = parse_upload(form(name="My.Pkg", version="1.0.0"), "my_pkg-1.0-py3-none-any.whl")
    assert (upload.name, upload.version) == ("My.Pkg", "1.0.0")
    assert upload.canonical_version == "1"
    legacy = parse_upload(
        form(name="my-pkg", version="1.0rc1", filetype="sdist", pyversion="source"),
        "My.Pkg-1.0rc1.zip",
    )
    assert legacy.version == "1.0rc1"


def test_local_versions_are_allowed() -> None:
    upload = parse_upload(
        form(version="2.1.0+cpu", pyversion="cp311"),
        "my_pkg-2.1.0+cpu-cp311-cp311-manylinux_2_17_x86_64.whl",
    )
    assert upload.version == "2.1.0+cpu"


def test_optional_fields_fall_back() -> None:
    wheel = parse_upload(
        form(pyversion=None, metadata_version=None, sha256_digest=None),
        "my_pkg-1.0-cp311-cp311-linux_x86_64.whl",
    )
    assert wheel.pyversion == "cp311"
    assert wheel.metadata_version is None
    assert (wheel.sha256, wheel.md5, wheel.blake2_256) == (None, None, None)
    sdist = parse_upload(form(filetype="sdist", pyversion=None), SDIST_NAME)
    assert sdist.pyversion == "source"
    bare = parse_upload(form(protocol_version=None), WHEEL_NAME)
    assert bare.filename == WHEEL_NAME


def test_digest_fields_are_normalised() -> None:
    raw = hashlib.md5(b"content").digest()
    upload = parse_upload(
        form(
            sha256_digest=SHA.upper(),
            md5_digest=base64.urlsafe_b64encode(raw).decode().rstrip("="),
            blake2_256_digest="C" * 64,
        ),
        WHEEL_NAME,
    )
    assert (upload.sha256, upload.md5, upload.blake2_256) == (SHA, raw.hex(), "c" * 64)
    hex_md5 = parse_upload(form(md5_digest=raw.hex().upper()), WHEEL_NAME)
    assert hex_md5.md5 == raw.hex()


def test_summary_is_trimmed_not_refused() -> None:
    assert parse_upload(form(summary="  One line\nsecond  "), WHEEL_NAME).summary == "One line"
    assert parse_upload(form(summary="x" * 600), WHEEL_NAME).summary == "x" * 512
    assert parse_upload(form(summary="  "), WHEEL_NAME).summary is None


def test_plain_strings_count_as_one_value() -> None:
    fields: dict[str, Any] = {key: value[0] for key, value in form().items()}
    assert parse_upload(fields, WHEEL_NAME).name == "my-pkg"


@pytest.mark.parametrize(
    ("overrides", "filename", "fragment"),
    [
        ({":action": None}, WHEEL_NAME, "':action' is missing"),
        ({":action": "submit"}, WHEEL_NAME, "'submit' is not supported"),
        ({"protocol_version": "2"}, WHEEL_NAME, "unknown protocol_version '2'"),
        ({"name": None}, WHEEL_NAME, "'name' .* is missing"),
        ({"name": "my pkg"}, WHEEL_NAME, "'my pkg' is not a valid project name"),
        ({"version": None}, WHEEL_NAME, "'version' .* is missing"),
        ({"version": "1.0 beta"}, WHEEL_NAME, "'1.0 beta' is not a valid PEP 440 version"),
        ({"version": " 1.0"}, WHEEL_NAME, "whitespace"),
        ({"filetype": None}, WHEEL_NAME, "'filetype' .* is missing"),
        ({"filetype": "bdist_egg"}, "my_pkg-1.0-py3.11.egg", "'bdist_egg' is not accepted"),
        ({}, "my_pkg-1.0.exe", "invalid file extension"),
        ({"filetype": "sdist"}, "my_pkg-1.0.tgz", "invalid file extension"),
        ({}, "my_pkg-1.0-py3-none-any.WHL", "invalid file extension"),
        ({}, "", "no filename"),
        ({}, "../my_pkg-1.0-py3-none-any.whl", "'/' or '\\\\'"),
        ({}, "dist\\my_pkg-1.0-py3-none-any.whl", "'/' or '\\\\'"),
        ({}, "my_pkg-1.0-py3-none-any\x00.whl", "control characters"),
        ({}, "my_pkg-1.0-py3-none-" + "x" * 250 + ".whl", "longer than 255"),
        ({"filetype": "sdist"}, WHEEL_NAME, "not a valid name for filetype 'sdist'"),
        ({}, SDIST_NAME, "not a valid name for filetype 'bdist_wheel'"),
        ({}, "my_pkg-1.0.whl", "not a valid wheel filename"),
        ({"filetype": "sdist"}, "my_pkg.tar.gz", "not a valid source distribution filename"),
        ({}, "other-1.0-py3-none-any.whl", "is for project 'other'.*'my-pkg'"),
        ({}, "my_pkg-1.1-py3-none-any.whl", "is for version '1.1'.*'1.0'"),
        ({"filetype": "sdist"}, "my_pkg-2.0.tar.gz", r"is for version '2\.0'"),
        ({"filetype": "sdist", "pyversion": "py3"}, SDIST_NAME, "use 'source' for an sdist"),
        ({"requires_python": ">=3.6.*"}, WHEEL_NAME, "Requires-Python '>=3.6.\\*' is not"),
        ({"sha256_digest": "abc"}, WHEEL_NAME, "sha256_digest 'abc' is not a hex-encoded"),
        ({"sha256_digest": "g" * 64}, WHEEL_NAME, "sha256_digest"),
        ({"blake2_256_digest": "a" * 63}, WHEEL_NAME, "blake2_256_digest"),
        ({"md5_digest": "a" * 31}, WHEEL_NAME, "md5_digest"),
        ({"md5_digest": "not+base64/atall!!!!!!"}, WHEEL_NAME, "md5_digest"),
        ({"metadata_version": "two"}, WHEEL_NAME, "metadata_version 'two'"),
        ({"name": ["my-pkg", "other"]}, WHEEL_NAME, "'name' was sent more than once"),
    ],
)
def test_invalid_uploads(
    overrides: dict[str, str | list[str] | None], filename: str, fragment: str
) -> None:
    with pytest.raises(RequestInvalid, match=fragment):
        parse_upload(form(**overrides), filename)


def test_a_repeated_identical_value_is_not_a_conflict() -> None:
    assert parse_upload(form(name=["my-pkg", "my-pkg"]), WHEEL_NAME).name == "my-pkg"


def test_long_values_are_cut_short_in_messages() -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_upload(form(version="x" * 5000), WHEEL_NAME)
    assert len(caught.value.text) < 400


# -- digests -------------------------------------------------------------------


def _upload(sha256: str | None, md5: str | None, blake2: str | None) -> Upload:
    return Upload(
        "my-pkg", "1.0", WHEEL_NAME, "bdist_wheel", "py3", None, None, sha256, md5, blake2, None
    )


CONTENT = b"wheel bytes"
SHA256 = hashlib.sha256(CONTENT).hexdigest()
MD5 = hashlib.md5(CONTENT).hexdigest()
BLAKE2 = hashlib.blake2b(CONTENT, digest_size=32).hexdigest()


def test_matching_digests_pass() -> None:
    check_digests(_upload(SHA256, MD5, BLAKE2), SHA256, MD5, BLAKE2)
    check_digests(_upload(SHA256, None, None), SHA256.upper(), MD5, BLAKE2)


def test_no_declared_digest_passes() -> None:
    check_digests(_upload(None, None, None), SHA256, MD5, BLAKE2)


@pytest.mark.parametrize(
    ("declared", "field"),
    [
        ((SHA, None, None), "sha256_digest"),
        ((SHA256, "0" * 32, None), "md5_digest"),
        ((SHA256, MD5, "0" * 64), "blake2_256_digest"),
    ],
)
def test_a_mismatch_names_the_digest(
    declared: tuple[str, str | None, str | None], field: str
) -> None:
    with pytest.raises(RequestInvalid, match=f"^{field} does not match the uploaded file"):
        check_digests(_upload(*declared), SHA256, MD5, BLAKE2)


# -- wheel METADATA --------------------------------------------------------------


def test_wheel_metadata_is_read() -> None:
    assert wheel_metadata(io.BytesIO(make_wheel())) == metadata_text().encode()


def test_only_a_top_level_dist_info_counts() -> None:
    wheel = make_wheel(
        {
            "my_pkg/_vendor/other-2.0.dist-info/METADATA": metadata_text("other", "2.0"),
            "my_pkg-1.0.dist-info/METADATA": metadata_text(),
        }
    )
    assert wheel_metadata(io.BytesIO(wheel)) == metadata_text().encode()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"not a zip at all", "not a valid zip file"),
        (make_wheel()[:-30], "not a valid zip file"),
        (make_wheel({"my_pkg/__init__.py": ""}), "no .dist-info/METADATA"),
        (make_wheel({"my_pkg-1.0.dist-info/WHEEL": ""}), "no .dist-info/METADATA"),
        (
            make_wheel({"a-1.0.dist-info/METADATA": "x", "b-1.0.dist-info/METADATA": "y"}),
            "more than one .dist-info/METADATA",
        ),
        (
            make_wheel({"my_pkg-1.0.dist-info/METADATA": b"\0" * (MAX_METADATA_SIZE + 1)}),
            "larger than 10 MiB",
        ),
    ],
)
def test_bad_wheels(data: bytes, fragment: str) -> None:
    with pytest.raises(RequestInvalid, match=fragment):
        wheel_metadata(io.BytesIO(data))


def test_duplicate_metadata_entries_are_refused() -> None:
    buffer = io.BytesIO()
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(buffer, "w") as archive,
    ):
        archive.writestr("my_pkg-1.0.dist-info/METADATA", metadata_text())
        archive.writestr("my_pkg-1.0.dist-info/METADATA", metadata_text("evil"))
    with pytest.raises(RequestInvalid, match="more than one"):
        wheel_metadata(buffer)


def _stored_wheel(metadata: bytes) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("my_pkg-1.0.dist-info/METADATA", metadata)
    return bytearray(buffer.getvalue())


def test_a_corrupted_member_is_refused() -> None:
    data = _stored_wheel(b"Name: my-pkg\n")
    at = data.index(b"Name: my-pkg")
    data[at] ^= 0xFF
    with pytest.raises(RequestInvalid, match=r"not a valid zip file.*CRC"):
        wheel_metadata(io.BytesIO(bytes(data)))


def test_a_bomb_that_understates_its_size_is_refused() -> None:
    # 10 MiB of one byte deflates to about 10 KiB; the headers claim 100 bytes.
    # zipfile stops at the claimed size, so the CRC cannot match.
    big = b"x" * (MAX_METADATA_SIZE + 10)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("my_pkg-1.0.dist-info/METADATA", big)
    data = buffer.getvalue()
    assert len(data) < 100_000
    patched = data.replace(len(big).to_bytes(4, "little"), (100).to_bytes(4, "little"))
    assert patched != data
    with pytest.raises(RequestInvalid, match="CRC"):
        wheel_metadata(io.BytesIO(patched))


def _bad_offset_wheel() -> bytes:
    """The end record puts the central directory 1000 bytes too far, so zipfile
    seeks to a member before the start of the file."""
    data = _stored_wheel(b"Name: my-pkg\n")
    end = data.rindex(b"PK\x05\x06")
    offset = int.from_bytes(data[end + 16 : end + 20], "little")
    data[end + 16 : end + 20] = (offset + 1000).to_bytes(4, "little")
    return bytes(data)


def test_a_bad_offset_is_refused_in_memory() -> None:
    with pytest.raises(RequestInvalid, match="not a valid zip file"):
        wheel_metadata(io.BytesIO(_bad_offset_wheel()))


def test_a_bad_offset_is_refused_on_disk(tmp_path: Path) -> None:
    path = tmp_path / WHEEL_NAME
    path.write_bytes(_bad_offset_wheel())
    with path.open("rb") as file, pytest.raises(RequestInvalid, match="not a valid zip file"):
        wheel_metadata(file)


def test_an_encrypted_member_is_refused() -> None:
    data = _stored_wheel(b"Name: my-pkg\n")
    # Set the "encrypted" flag in the local header and the central directory entry.
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    data[local + 6] |= 0x01
    data[central + 8] |= 0x01
    with pytest.raises(RequestInvalid, match="cannot be read"):
        wheel_metadata(io.BytesIO(bytes(data)))


def test_wheel_metadata_must_describe_the_upload() -> None:
    upload = parse_upload(form(name="My.Pkg", version="1.0.0"), WHEEL_NAME)
    check_wheel_metadata(upload, metadata_text("my_pkg", "1.0").encode())
    with pytest.raises(RequestInvalid, match="for project 'other'"):
        check_wheel_metadata(upload, metadata_text("other").encode())
    with pytest.raises(RequestInvalid, match=r"for version '2\.0'"):
        check_wheel_metadata(upload, metadata_text(version="2.0").encode())
    with pytest.raises(RequestInvalid, match="for version 'junk'"):
        check_wheel_metadata(upload, metadata_text(version="junk").encode())
    with pytest.raises(RequestInvalid, match="exactly one Version"):
        check_wheel_metadata(upload, b"Metadata-Version: 2.1\nName: my-pkg\n")
    with pytest.raises(RequestInvalid, match="exactly one Name"):
        check_wheel_metadata(upload, b"Name: my-pkg\nName: other\nVersion: 1.0\n")
    with pytest.raises(RequestInvalid, match="not UTF-8"):
        check_wheel_metadata(upload, b"Name: my-pkg\nVersion: 1.0\nSummary: \xff\n")


# -- content negotiation ---------------------------------------------------------

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
UV_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, LEGACY_HTML),
        ("", LEGACY_HTML),
        ("*/*", LEGACY_HTML),
        (PIP_ACCEPT, SIMPLE_JSON),
        (UV_ACCEPT, SIMPLE_JSON),
        (BROWSER_ACCEPT, LEGACY_HTML),
        ("text/html", LEGACY_HTML),
        ("text/*", LEGACY_HTML),
        (SIMPLE_HTML, SIMPLE_HTML),
        (SIMPLE_JSON, SIMPLE_JSON),
        ("application/*", SIMPLE_JSON),
        ("application/vnd.pypi.simple.latest+json", SIMPLE_JSON),
        ("application/vnd.pypi.simple.latest+html", SIMPLE_HTML),
        (f"{SIMPLE_JSON};q=0.2, text/html;q=0.9", LEGACY_HTML),
        (f"{SIMPLE_HTML}, {SIMPLE_JSON}", SIMPLE_JSON),
        (f"text/html, {SIMPLE_HTML}", SIMPLE_HTML),
        (f"{SIMPLE_JSON}, */*", SIMPLE_JSON),
        ("*/*, text/html;q=0", SIMPLE_JSON),
        ("Application/Vnd.PyPI.Simple.V1+JSON", SIMPLE_JSON),
        (f"text/html;q=abc, {SIMPLE_JSON};q=0.5", SIMPLE_JSON),
        (f"text/html;q=2, {SIMPLE_JSON};q=0.5", SIMPLE_JSON),
        (f"garbage, {SIMPLE_HTML};charset=utf-8", SIMPLE_HTML),
    ],
)
def test_content_negotiation(accept: str | None, chosen: str) -> None:
    assert choose_content_type(accept) == chosen


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "application/vnd.pypi.simple.v2+json",
        "text/html;q=0",
        f"{SIMPLE_JSON};q=0, text/*;q=0",
        "garbage",
        "image/*",
    ],
)
def test_nothing_acceptable(accept: str) -> None:
    with pytest.raises(NotAcceptable, match="none of the media types in Accept") as caught:
        choose_content_type(accept)
    assert isinstance(caught.value, errors_module.Invalid)
    assert SIMPLE_JSON in caught.value.text


# -- HTML pages ------------------------------------------------------------------


class PageParser(HTMLParser):
    """Anchors (attributes and text) and meta tags of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.meta: dict[str, str | None] = {}
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), []
        elif tag == "meta":
            values = dict(attrs)
            self.meta[str(values.get("name"))] = values.get("content")

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.anchors.append((self._open, "".join(self._text)))
            self._open = None


def parse_page(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser


WHEN = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
FILES = [
    IndexFile(
        filename="my_pkg-1.0.tar.gz",
        url="../../files/my-pkg/1.0/my_pkg-1.0.tar.gz",
        sha256=SHA,
        size=1234,
        upload_time=WHEN,
        requires_python=None,
        yanked=None,
        metadata_sha256=None,
    ),
    IndexFile(
        filename=WHEEL_NAME,
        url=f"https://cdn.example/files/{WHEEL_NAME}",
        sha256=SHA,
        size=99,
        upload_time=WHEN,
        requires_python=">=3.8,<4",
        yanked="",
        metadata_sha256=META_SHA,
    ),
    IndexFile(
        filename="my_pkg-0.9-py3-none-any.whl",
        url="/files/my_pkg-0.9-py3-none-any.whl?a=1&b=2",
        sha256=SHA,
        size=7,
        upload_time=WHEN,
        requires_python='<3 & "quoted"',
        yanked='broken "badly" <see #12>',
        metadata_sha256=None,
    ),
]


def test_root_html_lists_projects() -> None:
    seen: list[str] = []

    def link(name: str) -> str:
        seen.append(name)
        return f"/repository/py/simple/{name}/"

    page = root_html(["My.Pkg", "zope_interface", "a&b"], link)
    parsed = parse_page(page)
    assert page.startswith("<!DOCTYPE html>")
    assert seen == ["my-pkg", "zope-interface", "a&b"]
    assert [(a["href"], text) for a, text in parsed.anchors] == [
        ("/repository/py/simple/my-pkg/", "My.Pkg"),
        ("/repository/py/simple/zope-interface/", "zope_interface"),
        ("/repository/py/simple/a&b/", "a&b"),
    ]
    assert parsed.meta["pypi:repository-version"] == "1.1"


def test_project_html_anchors() -> None:
    page = project_html("My.Pkg", FILES)
    parsed = parse_page(page)
    assert parsed.meta == {"pypi:repository-version": "1.1"}
    assert "<title>Links for My.Pkg</title>" in page
    (sdist, sdist_text), (wheel, wheel_text), (old, old_text) = parsed.anchors

    assert sdist == {"href": f"../../files/my-pkg/1.0/my_pkg-1.0.tar.gz#sha256={SHA}"}
    assert sdist_text == "my_pkg-1.0.tar.gz"

    assert wheel["href"] == f"https://cdn.example/files/{WHEEL_NAME}#sha256={SHA}"
    assert wheel["data-requires-python"] == ">=3.8,<4"
    assert wheel["data-yanked"] == ""
    assert wheel["data-core-metadata"] == f"sha256={META_SHA}"
    assert wheel["data-dist-info-metadata"] == f"sha256={META_SHA}"
    assert wheel_text == WHEEL_NAME
    # The anchor text is the last path component of the URL (PEP 503).
    assert str(wheel["href"]).split("#")[0].rsplit("/", 1)[1] == wheel_text

    assert old["href"] == f"/files/my_pkg-0.9-py3-none-any.whl?a=1&b=2#sha256={SHA}"
    assert old["data-requires-python"] == '<3 & "quoted"'
    assert old["data-yanked"] == 'broken "badly" <see #12>'
    assert "data-core-metadata" not in old
    assert old_text == "my_pkg-0.9-py3-none-any.whl"


def test_project_html_escapes_as_pep_503_requires() -> None:
    page = project_html("my-pkg", FILES)
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in page
    assert 'data-yanked=""' in page  # a bare attribute reads as "not yanked" in pip
    assert "?a=1&amp;b=2#sha256=" in page
    assert "<see" not in page


def test_empty_project_page_is_valid() -> None:
    parsed = parse_page(project_html("my-pkg", []))
    assert parsed.anchors == []
    assert parsed.meta["pypi:repository-version"] == "1.1"


ROOT = "https://index.example"


def test_pip_reads_the_html_page() -> None:
    link_module = pytest.importorskip("pip._internal.models.link")
    page_url = f"{ROOT}/repository/py/simple/my-pkg/"
    links = [
        link_module.Link.from_element(attrs, page_url=page_url, base_url=page_url)
        for attrs, _ in parse_page(project_html("my-pkg", FILES)).anchors
    ]
    sdist, wheel, old = links
    assert sdist.url == f"{ROOT}/repository/py/files/my-pkg/1.0/my_pkg-1.0.tar.gz#sha256={SHA}"
    assert not sdist.is_yanked
    assert sdist.metadata_link() is None
    assert wheel.is_yanked
    assert wheel.requires_python == ">=3.8,<4"
    metadata = wheel.metadata_link()
    assert metadata is not None
    assert metadata.url_without_fragment == f"https://cdn.example/files/{WHEEL_NAME}.metadata"
    assert metadata.hash == META_SHA
    assert old.yanked_reason == 'broken "badly" <see #12>'


# -- JSON pages --------------------------------------------------------------------


def test_root_json() -> None:
    assert root_json(["Frob", "spamspamspam"]) == {
        "meta": {"api-version": "1.1"},
        "projects": [{"name": "Frob"}, {"name": "spamspamspam"}],
    }


def test_project_json_shape() -> None:
    doc = project_json("My.Pkg", FILES, ["1.0", "0.9", "1.0"])
    assert json.loads(json.dumps(doc)) == doc
    assert doc["meta"] == {"api-version": "1.1"}
    assert doc["name"] == "my-pkg"
    assert doc["versions"] == ["0.9", "1.0"]
    sdist, wheel, old = doc["files"]
    assert sdist == {
        "filename": "my_pkg-1.0.tar.gz",
        "url": "../../files/my-pkg/1.0/my_pkg-1.0.tar.gz",
        "hashes": {"sha256": SHA},
        "requires-python": None,
        "yanked": False,
        "core-metadata": False,
        "size": 1234,
        "upload-time": "2024-01-02T03:04:05.000006Z",
    }
    assert wheel["yanked"] is True
    assert wheel["core-metadata"] == {"sha256": META_SHA}
    assert wheel["requires-python"] == ">=3.8,<4"
    assert old["yanked"] == 'broken "badly" <see #12>'
    # PEP 714: the old key breaks pip 22.3-23.1 in JSON, so it is not written there.
    assert all("dist-info-metadata" not in f for f in doc["files"])


def test_pip_reads_the_json_page() -> None:
    link_module = pytest.importorskip("pip._internal.models.link")
    page_url = "https://index.example/repository/py/simple/my-pkg/"
    doc = project_json("my-pkg", FILES, ["1.0", "0.9"])
    links = [link_module.Link.from_json(f, page_url) for f in doc["files"]]
    sdist, wheel, old = links
    assert not sdist.is_yanked
    assert sdist.metadata_link() is None
    assert sdist.upload_time == WHEN
    assert wheel.is_yanked
    assert wheel.requires_python == ">=3.8,<4"
    metadata = wheel.metadata_link()
    assert metadata is not None
    assert metadata.url_without_fragment == f"https://cdn.example/files/{WHEEL_NAME}.metadata"
    assert old.yanked_reason == 'broken "badly" <see #12>'


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05.000000Z"),
        (
            datetime(2024, 1, 2, 5, 4, 5, 120000, tzinfo=timezone(timedelta(hours=2))),
            "2024-01-02T03:04:05.120000Z",
        ),
        (datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05.000000Z"),
    ],
)
def test_upload_time_is_utc_with_z(moment: datetime, text: str) -> None:
    assert pypi.upload_time_iso(moment) == text
    assert datetime.fromisoformat(text).tzinfo is not None


# -- versions ----------------------------------------------------------------------


def test_sort_versions_uses_pep_440_order() -> None:
    versions = [
        "1.0",
        "1.10",
        "1.9",
        "1.0rc1",
        "1.0.post1",
        "1.0.dev0",
        "0.9",
        "2!0.1",
        "1.0a1",
        "junk",
        "1.0",
        "1.0+local",
    ]
    assert sort_versions(versions) == [
        "junk",
        "0.9",
        "1.0.dev0",
        "1.0a1",
        "1.0rc1",
        "1.0",
        "1.0+local",
        "1.0.post1",
        "1.9",
        "1.10",
        "2!0.1",
    ]


def test_sort_versions_keeps_equal_spellings() -> None:
    assert sort_versions(["1.0.0", "1.0"]) == ["1.0.0", "1.0"]
    assert sort_versions([]) == []
