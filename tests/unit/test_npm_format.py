from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import pytest

from cargohold.errors import RequestInvalid
from cargohold.formats import npm

TARBALL = b"\x1f\x8b\x08\x00fake tarball bytes for tests"
REGISTRY = "http://registry.test/repository/npm"


def sri(algo: str, data: bytes) -> str:
    return f"{algo}-" + base64.b64encode(hashlib.new(algo, data).digest()).decode()


def publish_doc(
    name: str = "demo", version: str = "1.0.0", data: bytes = TARBALL, tag: str = "latest"
) -> dict[str, Any]:
    """A body shaped exactly as libnpmpublish (npm 11) builds it."""
    filename = f"{name}-{version}.tgz"
    return {
        "_id": name,
        "name": name,
        "description": "demo package",
        "dist-tags": {tag: version},
        "versions": {
            version: {
                "name": name,
                "version": version,
                "description": "demo package",
                "license": "MIT",
                "scripts": {"postinstall": "echo hi"},
                "readme": "# demo\n",
                "readmeFilename": "README.md",
                "_id": f"{name}@{version}",
                "_nodeVersion": "20.20.2",
                "_npmVersion": "11.19.1",
                "dist": {
                    "integrity": npm.integrity(data),
                    "shasum": npm.shasum(data),
                    "tarball": f"{REGISTRY}/{name}/-/{filename}",
                },
            }
        },
        "access": None,
        "_attachments": {
            filename: {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(data).decode(),
                "length": len(data),
            }
        },
    }


def dist(doc: dict[str, Any], version: str = "1.0.0") -> dict[str, Any]:
    result: dict[str, Any] = doc["versions"][version]["dist"]
    return result


def attachment(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = next(iter(doc["_attachments"].values()))
    return result


def refused(match: str) -> Any:
    return pytest.raises(RequestInvalid, match=match)


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["demo", "a", "a.b-c_d", "left-pad", "@acme/pkg", "@acme/_private", "@a-b/c.d", "x" * 214],
)
def test_valid_names(name: str) -> None:
    npm.validate_name(name)
    assert npm.name_problems(name) == []


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "length must be greater than zero"),
        (".hidden", "cannot start with a period"),
        ("_under", "cannot start with an underscore"),
        ("-dash", "cannot start with a hyphen"),
        (" padded", "leading or trailing spaces"),
        ("Upper", "capital letters"),
        ("http", "core module name"),
        ("fs", "core module name"),
        ("node_modules", "node_modules is not a valid package name"),
        ("FAVICON.ICO", "favicon.ico is not a valid package name"),
        ("x" * 215, "more than 214 characters"),
        ("a b", "URL-friendly"),
        ("a/b", "URL-friendly"),
        ("café", "URL-friendly"),
        ("@/pkg", "URL-friendly"),
        ("@acme/", "URL-friendly"),
        ("@acme/.pkg", "cannot start with a period"),
        ("@acme/a/b", "URL-friendly"),
        ("wow!", "special characters"),
        ("@acme/it's", "special characters"),
    ],
)
def test_invalid_names_for_new_packages(name: str, problem: str) -> None:
    with refused(problem):
        npm.validate_name(name)


@pytest.mark.parametrize("name", ["Upper", "http", "x" * 215, "wow!"])
def test_legacy_names_stay_valid_for_existing_packages(name: str) -> None:
    npm.validate_name(name, new_package=False)
    with pytest.raises(RequestInvalid):
        npm.validate_name(name)


def test_name_message_lists_every_problem() -> None:
    assert npm.name_problems("_Http") == [
        "name cannot start with an underscore",
        "name can no longer contain capital letters",
    ]


def test_split_name_and_tarball_filename() -> None:
    assert npm.split_name("demo") == (None, "demo")
    assert npm.split_name("@acme/pkg") == ("@acme", "pkg")
    assert npm.tarball_filename("@acme/pkg", "1.0.0-rc.1") == "pkg-1.0.0-rc.1.tgz"
    assert npm.tarball_filename("demo", "2.3.4") == "demo-2.3.4.tgz"
    for bad in ("@acme", "@/x", "@acme/a/b"):
        with refused("scoped name"):
            npm.split_name(bad)


# --- versions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    [
        "0.0.0",
        "1.2.3",
        "10.20.30",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-0.3.7",
        "1.0.0-x.7.z.92",
        "1.0.0-x-y-z.--",
        "1.2.3-1a",
        f"{2**53 - 1}.0.0",
    ],
)
def test_valid_versions(version: str) -> None:
    assert npm.valid_version(version)


@pytest.mark.parametrize(
    "version",
    [
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "v1.2.3",
        "=1.2.3",
        " 1.2.3",
        "1.2.3\n",
        "01.2.3",
        "1.02.3",
        "1.2.3-",
        "1.2.3-01",
        "1.2.3-a..b",
        "1.2.3+build",
        "1.2.3-rc.1+build.5",
        "1.2.3beta",
        "1.2.3-é",
        "\uff11.2.3",  # fullwidth digit one
        f"{2**53}.0.0",
        "1.2.3-" + "a" * 251,
    ],
)
def test_invalid_versions(version: str) -> None:
    assert not npm.valid_version(version)


def test_version_key_orders_like_semver() -> None:
    ordered = [
        "0.9.9",
        "1.0.0-0",
        "1.0.0-2",
        "1.0.0-10",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.9.0",
        "1.10.0",
        "2.0.0-0",
        "2.0.0",
    ]
    shuffled = ordered[::2] + ordered[1::2]
    assert sorted(shuffled, key=npm.version_key) == ordered


def test_version_key_refuses_invalid_version() -> None:
    with refused("not a valid semver version"):
        npm.version_key("1.2")


def test_clean_version_mirrors_semver_clean() -> None:
    assert npm.clean_version(" v1.2.3 ") == "1.2.3"
    assert npm.clean_version("==v1.0.0-rc.1") == "1.0.0-rc.1"
    assert npm.clean_version("1.x") is None


# --- tags ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag", ["latest", "beta", "next", "v2-beta", "canary-1", "release.2024", "x-legacy", "a_b"]
)
def test_valid_tags(tag: str) -> None:
    assert npm.valid_tag(tag)


@pytest.mark.parametrize(
    "tag",
    [
        # semver reads these as versions or ranges (checked against npm's semver 7)
        "1",
        "2024",
        "1.x",
        "~1.2",
        "*",
        "x",
        "v1",
        "vv1",
        "1.2.3",
        "1.2.3beta",
        "1.2.3*",
        # not URL-safe
        "",
        "a b",
        "a/b",
        "a%20",
        "ä",
        "^1",
        "t" * 257,
    ],
)
def test_invalid_tags(tag: str) -> None:
    assert not npm.valid_tag(tag)


def test_parse_dist_tag_value() -> None:
    assert npm.parse_dist_tag_value(b'"1.0.0"') == "1.0.0"
    assert npm.parse_dist_tag_value(b'"v1.0.0-beta.1"') == "1.0.0-beta.1"
    with refused("JSON string"):
        npm.parse_dist_tag_value(b"1.0.0")
    with refused("JSON string"):
        npm.parse_dist_tag_value(b'{"version": "1.0.0"}')
    with refused("JSON string"):
        npm.parse_dist_tag_value(b"\xff\xfe")
    with refused("not a valid semver version"):
        npm.parse_dist_tag_value(b'"^1.0.0"')


# --- checksums ----------------------------------------------------------------------------


def test_checksums_match_known_values() -> None:
    assert npm.shasum(b"") == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert npm.integrity(b"") == (
        "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
    )


# --- publish ------------------------------------------------------------------------------


def test_parse_publish_unscoped() -> None:
    doc = publish_doc()
    result = npm.parse_publish(doc, "demo")
    assert result.name == "demo"
    assert result.dist_tags == {"latest": "1.0.0"}
    (new,) = result.versions
    assert new.version == "1.0.0"
    assert new.tarball == TARBALL
    assert new.integrity == npm.integrity(TARBALL)
    assert new.shasum == hashlib.sha1(TARBALL).hexdigest()
    assert new.manifest["dist"]["tarball"] == f"{REGISTRY}/demo/-/demo-1.0.0.tgz"
    assert new.manifest["readme"] == "# demo\n"


def test_parse_publish_scoped_uses_full_name_attachment() -> None:
    doc = publish_doc("@acme/pkg", tag="beta")
    assert list(doc["_attachments"]) == ["@acme/pkg-1.0.0.tgz"]
    result = npm.parse_publish(doc, "@acme/pkg")
    assert [v.version for v in result.versions] == ["1.0.0"]
    assert result.dist_tags == {"beta": "1.0.0"}


def test_parse_publish_accepts_bare_attachment_name() -> None:
    doc = publish_doc("@acme/pkg")
    doc["_attachments"] = {"pkg-1.0.0.tgz": doc["_attachments"]["@acme/pkg-1.0.0.tgz"]}
    assert npm.parse_publish(doc, "@acme/pkg").versions[0].tarball == TARBALL


def test_parse_publish_verifies_every_known_hash() -> None:
    doc = publish_doc()
    dist(doc)["integrity"] = f"{sri('sha1', TARBALL)} {npm.integrity(TARBALL)} md5-whatever"
    assert npm.parse_publish(doc, "demo").versions[0].integrity == npm.integrity(TARBALL)
    dist(doc)["integrity"] = f"{sri('sha1', b'other')} {npm.integrity(TARBALL)}"
    with refused("does not match the attached tarball"):
        npm.parse_publish(doc, "demo")


@pytest.mark.parametrize(
    ("integrity_value", "problem"),
    [
        (None, "integrity is missing"),
        ("", "integrity is missing"),
        (sri("sha1", TARBALL), "must include a sha512"),
        (sri("sha256", TARBALL), "must include a sha512"),
        (npm.integrity(b"other bytes"), "does not match"),
        ("sha512-!!!notbase64", "does not match"),
    ],
)
def test_parse_publish_refuses_bad_integrity(integrity_value: str | None, problem: str) -> None:
    doc = publish_doc()
    dist(doc)["integrity"] = integrity_value
    with refused(problem):
        npm.parse_publish(doc, "demo")


@pytest.mark.parametrize(
    ("shasum_value", "problem"),
    [
        (None, "40 hex digits"),
        ("abc", "40 hex digits"),
        ("0" * 40, "does not match"),
    ],
)
def test_parse_publish_refuses_bad_shasum(shasum_value: str | None, problem: str) -> None:
    doc = publish_doc()
    dist(doc)["shasum"] = shasum_value
    with refused(problem):
        npm.parse_publish(doc, "demo")


def test_parse_publish_accepts_uppercase_shasum() -> None:
    doc = publish_doc()
    dist(doc)["shasum"] = npm.shasum(TARBALL).upper()
    assert npm.parse_publish(doc, "demo").versions[0].shasum == npm.shasum(TARBALL)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"data": "not base64!"}, "not valid base64"),
        ({"data": base64.b64encode(TARBALL).decode()[:-2]}, "not valid base64"),
        ({"data": ""}, "must be the base64 tarball"),
        ({"length": len(TARBALL) + 1}, "length is"),
        ({"length": True}, "length is"),
        ({"length": "12"}, "length is"),
    ],
)
def test_parse_publish_refuses_bad_attachment(change: dict[str, Any], problem: str) -> None:
    doc = publish_doc()
    attachment(doc).update(change)
    with refused(problem):
        npm.parse_publish(doc, "demo")


def test_parse_publish_allows_missing_length() -> None:
    doc = publish_doc()
    del attachment(doc)["length"]
    assert npm.parse_publish(doc, "demo").versions[0].tarball == TARBALL


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d.update(name="other"), "does not match the package in the URL"),
        (lambda d: d.update(_id="other"), "_id"),
        (lambda d: d.update(versions={}), "at least one version"),
        (lambda d: d.update(versions=[]), "at least one version"),
        (lambda d: d["versions"]["1.0.0"].update(version="1.0.1"), "must match its key"),
        (lambda d: d["versions"]["1.0.0"].update(name="other"), "has name"),
        (lambda d: d["versions"]["1.0.0"].update(_id="demo@9.9.9"), "has _id"),
        (lambda d: d["versions"]["1.0.0"].pop("dist"), "dist must be an object"),
        (lambda d: d.pop("_attachments"), "_attachments"),
        (lambda d: d.update(_attachments={}), "_attachments"),
        (lambda d: d.update({"dist-tags": {"latest": "2.0.0"}}), "not a version of this"),
        (lambda d: d.update({"dist-tags": {"1.x": "1.0.0"}}), "SemVer range"),
        (lambda d: d.update({"dist-tags": {"a b": "1.0.0"}}), "encodeURIComponent"),
        (lambda d: d.update({"dist-tags": ["latest"]}), "dist-tags"),
    ],
)
def test_parse_publish_refuses_inconsistent_document(mutate: Any, problem: str) -> None:
    doc = publish_doc()
    mutate(doc)
    with refused(problem):
        npm.parse_publish(doc, "demo")


def test_parse_publish_refuses_invalid_version_key() -> None:
    doc = publish_doc(version="1.0.0")
    doc["versions"] = {"v1.0.0": doc["versions"]["1.0.0"]}
    doc["versions"]["v1.0.0"]["version"] = "v1.0.0"
    with refused("not a valid semver version"):
        npm.parse_publish(doc, "demo")


def test_parse_publish_refuses_stray_attachment() -> None:
    doc = publish_doc()
    doc["_attachments"]["demo-2.0.0.tgz"] = attachment(doc)
    with refused("does not belong to any version"):
        npm.parse_publish(doc, "demo")


def test_parse_publish_requires_attachment_for_unknown_version() -> None:
    doc = publish_doc()
    doc["versions"]["0.9.0"] = {"name": "demo", "version": "0.9.0", "dist": {}}
    with refused("version 0.9.0 has no tarball"):
        npm.parse_publish(doc, "demo")
    result = npm.parse_publish(doc, "demo", existing_versions={"0.9.0"})
    assert [v.version for v in result.versions] == ["1.0.0"]


def test_parse_publish_dist_tags_may_name_existing_versions() -> None:
    doc = publish_doc(version="2.0.0-rc.1", tag="next")
    doc["dist-tags"]["stable"] = "1.0.0"
    result = npm.parse_publish(doc, "demo", existing_versions=["1.0.0"])
    assert result.dist_tags == {"next": "2.0.0-rc.1", "stable": "1.0.0"}


def test_parse_publish_several_versions() -> None:
    doc = publish_doc(version="1.0.0")
    other = b"second tarball"
    second = publish_doc(version="1.1.0", data=other)
    doc["versions"].update(second["versions"])
    doc["_attachments"].update(second["_attachments"])
    result = npm.parse_publish(doc, "demo")
    assert {v.version: v.tarball for v in result.versions} == {"1.0.0": TARBALL, "1.1.0": other}


def test_parse_publish_ignores_provenance_bundle() -> None:
    doc = publish_doc()
    doc["_attachments"]["demo-1.0.0.sigstore"] = {
        "content_type": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "data": '{"mediaType": "x"}',
        "length": 18,
    }
    assert len(npm.parse_publish(doc, "demo").versions) == 1


def test_parse_publish_checks_the_name() -> None:
    doc = publish_doc("Legacy")
    with refused("capital letters"):
        npm.parse_publish(doc, "Legacy")
    assert npm.parse_publish(doc, "Legacy", existing_versions={"0.1.0"}).name == "Legacy"


def test_parse_publish_refuses_non_object() -> None:
    with refused("JSON object"):
        npm.parse_publish([], "demo")  # type: ignore[arg-type]


def test_is_publish() -> None:
    assert npm.is_publish(publish_doc())
    assert not npm.is_publish({"name": "demo", "versions": {}})
    assert not npm.is_publish({"name": "demo", "_attachments": {}})


# --- update -------------------------------------------------------------------------------


def stored_packument() -> dict[str, Any]:
    docs = {}
    for version in ("1.0.0", "1.1.0", "2.0.0-beta.1"):
        manifest = copy.deepcopy(publish_doc(version=version)["versions"][version])
        manifest["_npmUser"] = {"name": "alice", "email": "alice@example.com"}
        docs[version] = manifest
    docs["1.1.0"]["deprecated"] = "old news"
    return npm.packument(
        "demo",
        docs,
        {"latest": "1.1.0", "beta": "2.0.0-beta.1"},
        {
            "1.0.0": "2024-01-01T00:00:00.000Z",
            "1.1.0": "2024-02-01T00:00:00.000Z",
            "2.0.0-beta.1": "2024-03-01T00:00:00.000Z",
        },
        lambda v: f"{REGISTRY}/demo/-/{npm.tarball_filename('demo', v)}",
        "2024-03-02T00:00:00.000Z",
        "7-abc",
    )


STORED = ("1.0.0", "1.1.0", "2.0.0-beta.1")
STORED_DEPRECATIONS = {"1.1.0": "old news"}


def test_parse_update_deprecate() -> None:
    doc = stored_packument()  # what npm deprecate fetched with ?write=true ...
    doc["versions"]["1.0.0"]["deprecated"] = "use 1.1.0"  # ... and changed
    update = npm.parse_update(doc, "demo", STORED, STORED_DEPRECATIONS)
    assert update.deprecations == {"1.0.0": "use 1.1.0"}
    assert update.removed_versions == ()
    assert update.dist_tags == {"latest": "1.1.0", "beta": "2.0.0-beta.1"}


def test_parse_update_undeprecate_and_unknown_stored_state() -> None:
    doc = stored_packument()
    doc["versions"]["1.1.0"]["deprecated"] = ""
    assert npm.parse_update(doc, "demo", STORED, STORED_DEPRECATIONS).deprecations == {"1.1.0": ""}
    # Without the stored messages every version sending "deprecated" is reported.
    assert npm.parse_update(doc, "demo", STORED).deprecations == {"1.1.0": ""}
    doc["versions"]["1.0.0"]["deprecated"] = False
    assert npm.parse_update(doc, "demo", STORED).deprecations == {"1.0.0": "", "1.1.0": ""}


def test_parse_update_unpublish_one_version() -> None:
    doc = stored_packument()
    # what libnpmpublish's unpublish does before PUT /demo/-rev/<rev>
    del doc["versions"]["1.1.0"]
    doc["dist-tags"] = {"latest": "2.0.0-beta.1", "beta": "2.0.0-beta.1"}
    update = npm.parse_update(doc, "demo", STORED, STORED_DEPRECATIONS)
    assert update.removed_versions == ("1.1.0",)
    assert update.deprecations == {}
    assert update.dist_tags == {"latest": "2.0.0-beta.1", "beta": "2.0.0-beta.1"}


def test_parse_update_without_dist_tags() -> None:
    doc = stored_packument()
    del doc["dist-tags"]
    assert npm.parse_update(doc, "demo", STORED).dist_tags is None


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d.update(name="other"), "does not match the package in the URL"),
        (lambda d: d.update(_id="other"), "_id"),
        (lambda d: d["versions"].update({"3.0.0": {"version": "3.0.0"}}), "3.0.0 is not published"),
        (lambda d: d.update(_attachments={"demo-3.0.0.tgz": {}}), "cannot be uploaded"),
        (lambda d: d["versions"]["1.0.0"].update(deprecated=42), "deprecated must be a string"),
        (lambda d: d["versions"].update({"1.0.0": "gone"}), "must be an object"),
        (lambda d: d.update({"dist-tags": {"latest": "9.9.9"}}), "not a version of this"),
    ],
)
def test_parse_update_refuses(mutate: Any, problem: str) -> None:
    doc = stored_packument()
    mutate(doc)
    with refused(problem):
        npm.parse_update(doc, "demo", STORED)


def test_parse_update_refuses_tag_on_removed_version() -> None:
    doc = stored_packument()
    del doc["versions"]["1.1.0"]  # but dist-tags still says latest: 1.1.0
    with refused("not a version of this"):
        npm.parse_update(doc, "demo", STORED)


# --- documents ----------------------------------------------------------------------------


def test_packument_shape() -> None:
    doc = stored_packument()
    assert doc["_id"] == doc["name"] == "demo"
    assert doc["_rev"] == "7-abc"
    assert list(doc["versions"]) == ["1.0.0", "1.1.0", "2.0.0-beta.1"]
    assert doc["dist-tags"] == {"latest": "1.1.0", "beta": "2.0.0-beta.1"}
    assert doc["time"] == {
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-03-02T00:00:00.000Z",
        "1.0.0": "2024-01-01T00:00:00.000Z",
        "1.1.0": "2024-02-01T00:00:00.000Z",
        "2.0.0-beta.1": "2024-03-01T00:00:00.000Z",
    }
    v1 = doc["versions"]["1.1.0"]
    assert v1["dist"]["tarball"] == f"{REGISTRY}/demo/-/demo-1.1.0.tgz"
    assert v1["dist"]["integrity"] == npm.integrity(TARBALL)
    assert v1["deprecated"] == "old news"
    assert v1["_id"] == "demo@1.1.0"
    assert "readme" not in v1
    assert doc["readme"] == "# demo\n"
    assert doc["readmeFilename"] == "README.md"
    assert doc["description"] == "demo package"
    assert doc["license"] == "MIT"
    assert doc["maintainers"] == [{"name": "alice", "email": "alice@example.com"}]
    assert "_attachments" not in doc
    json.dumps(doc)  # serialisable as is


def test_packument_rewrites_tarball_without_touching_input() -> None:
    manifest = publish_doc("@acme/pkg")["versions"]["1.0.0"]
    original = copy.deepcopy(manifest)
    doc = npm.packument(
        "@acme/pkg",
        {"1.0.0": manifest},
        {"latest": "1.0.0"},
        {"1.0.0": "2024-01-01T00:00:00.000Z", "created": "2023-12-31T00:00:00.000Z"},
        lambda v: f"{REGISTRY}/@acme/pkg/-/{npm.tarball_filename('@acme/pkg', v)}",
        "2024-01-01T00:00:00.000Z",
        "1-a",
    )
    assert doc["versions"]["1.0.0"]["dist"]["tarball"] == f"{REGISTRY}/@acme/pkg/-/pkg-1.0.0.tgz"
    assert doc["time"]["created"] == "2023-12-31T00:00:00.000Z"
    assert manifest == original


def test_packument_latest_falls_back_to_highest_version() -> None:
    docs: dict[str, dict[str, Any]] = {
        v: {"name": "demo", "version": v, "description": f"desc {v}", "dist": {}}
        for v in ("1.0.0", "1.10.0", "1.9.0")
    }
    doc = npm.packument("demo", docs, {}, {}, lambda v: v, "2024-01-01T00:00:00.000Z", "1-a")
    assert doc["description"] == "desc 1.10.0"
    assert list(doc["versions"]) == ["1.0.0", "1.9.0", "1.10.0"]
    assert doc["time"] == {
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
    }
    assert doc["maintainers"] == []


def test_packument_of_no_versions() -> None:
    doc = npm.packument("demo", {}, {}, {}, lambda v: v, "2024-01-01T00:00:00.000Z", "1-a")
    assert doc["versions"] == {}
    assert "description" not in doc


def test_abbreviated_keeps_install_fields_only() -> None:
    full = stored_packument()
    full["versions"]["1.0.0"].update(
        dependencies={"left-pad": "^1.0.0"},
        peerDependenciesMeta={"react": {"optional": True}},
        engines={"node": ">=18"},
        os=["linux"],
        libc=["glibc"],
        bin={"demo": "cli.js"},
        main="index.js",
        repository={"type": "git", "url": "git+https://github.com/acme/demo.git"},
    )
    corgi = npm.abbreviated(full)
    assert list(corgi) == ["name", "modified", "dist-tags", "versions"]
    assert corgi["modified"] == "2024-03-02T00:00:00.000Z"
    assert corgi["dist-tags"] == full["dist-tags"]
    v1 = corgi["versions"]["1.0.0"]
    assert v1 == {
        "name": "demo",
        "version": "1.0.0",
        "dependencies": {"left-pad": "^1.0.0"},
        "peerDependenciesMeta": {"react": {"optional": True}},
        "bin": {"demo": "cli.js"},
        "dist": full["versions"]["1.0.0"]["dist"],
        "engines": {"node": ">=18"},
        "os": ["linux"],
        "libc": ["glibc"],
        "license": "MIT",
        "hasInstallScript": True,
    }
    assert corgi["versions"]["1.1.0"]["deprecated"] == "old news"


def test_abbreviated_install_script_only_when_scripts_say_so() -> None:
    assert "hasInstallScript" not in npm.abbreviated_version(
        {"name": "a", "version": "1.0.0", "scripts": {"test": "jest", "install": ""}}
    )
    assert npm.abbreviated_version(
        {"name": "a", "version": "1.0.0", "scripts": {"preinstall": "node x"}}
    )["hasInstallScript"]


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*", True),
        ("application/vnd.npm.install-v1+json", True),
        ("Application/VND.npm.install-v1+json;q=0.9, application/json;q=0.5", True),
        ("application/json", False),
        ("*/*", False),
        ("", False),
        (None, False),
        ("application/vnd.npm.install-v1+json;q=0", False),
        ("application/vnd.npm.install-v1+json;q=0.5, application/json", False),
        ("application/vnd.npm.install-v1+json;q=0.5, */*;q=0.9", False),
    ],
)
def test_wants_abbreviated(accept: str | None, wanted: bool) -> None:
    assert npm.wants_abbreviated(accept) is wanted


# --- search -------------------------------------------------------------------------------


def test_search_result_shape() -> None:
    latest = {
        "name": "demo",
        "version": "1.1.0",
        "description": "demo package",
        "keywords": ["demo", "test", 3],
        "homepage": "https://demo.example",
        "repository": {"type": "git", "url": "git+https://github.com/acme/demo.git"},
        "bugs": {"url": "https://github.com/acme/demo/issues"},
        "_npmUser": {"name": "alice", "email": "alice@example.com"},
    }
    result = npm.search_result("demo", latest, "2024-02-01T00:00:00.000Z")
    assert result == {
        "package": {
            "name": "demo",
            "version": "1.1.0",
            "description": "demo package",
            "keywords": ["demo", "test"],
            "date": "2024-02-01T00:00:00.000Z",
            "links": {
                "homepage": "https://demo.example",
                "repository": "https://github.com/acme/demo",
                "bugs": "https://github.com/acme/demo/issues",
            },
            "publisher": {"username": "alice", "email": "alice@example.com"},
            "maintainers": [{"username": "alice", "email": "alice@example.com"}],
        },
        "score": {
            "final": 1.0,
            "detail": {"quality": 1.0, "popularity": 1.0, "maintenance": 1.0},
        },
        "searchScore": 1.0,
    }


def test_search_result_always_lists_maintainers() -> None:
    result = npm.search_result("bare", {"version": "0.1.0"}, "2024-01-01T00:00:00.000Z")
    package = result["package"]
    assert package["maintainers"] == []
    assert package["description"] == ""
    assert package["keywords"] == []
    assert package["links"] == {}
    assert "publisher" not in package


def test_search_result_normalises_package_json_variants() -> None:
    latest = {
        "version": "1.0.0",
        "keywords": "cli, tools  demo",
        "repository": "git@github.com:acme/demo.git",
        "maintainers": ["Bob Builder <bob@example.com> (https://bob.example)", {"name": "eve"}],
    }
    package = npm.search_result("demo", latest, "d", score=0.5)["package"]
    assert package["keywords"] == ["cli", "tools", "demo"]
    assert package["links"] == {"repository": "https://github.com/acme/demo"}
    assert package["maintainers"] == [
        {"username": "Bob Builder", "email": "bob@example.com"},
        {"username": "eve", "email": ""},
    ]
    assert npm.search_result("demo", {"repository": "acme/demo"}, "d")["package"]["links"] == {
        "repository": "https://github.com/acme/demo"
    }
