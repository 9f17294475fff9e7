"""Cleanup policies for package repositories: parsing, and what they select."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cargohold.errors import RequestInvalid
from cargohold.formats.cleanup import CleanupPolicy, PackageFile, parse_policy, select
from cargohold.formats.maven import version_key

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def release(version: str, age: float, package: str = "g:a") -> PackageFile:
    return PackageFile(package, version, f"{package}/{version}/a-{version}.jar", 10, days_ago(age))


def build(version: str, stamp: str, age: float) -> PackageFile:
    return PackageFile(
        "g:a", version, f"g/a/{version}/a-{stamp}.jar", 5, days_ago(age), True, stamp
    )


def never_tagged(package: str, version: str) -> bool:
    return False


def test_parse_accepts_fields_and_normalises() -> None:
    policy = parse_policy('{"max_age_days": 30, "keep_last_versions": 3}')
    assert policy == CleanupPolicy(keep_last_versions=3, max_age_days=30)
    assert policy.to_json() == '{"keep_last_versions": 3, "max_age_days": 30}'


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[]", "JSON object"),
        ("{", "not JSON"),
        ("{}", "at least one"),
        ('{"keep": 1}', "unknown cleanup policy field 'keep'"),
        ('{"keep_last_versions": 0}', "from 1 to 100000"),
        ('{"max_age_days": true}', "whole number"),
        ('{"max_age_days": "3"}', "whole number"),
        ('{"max_age_days": 1.5}', "whole number"),
        ("{" + " " * 5000 + "}", "at most"),
    ],
)
def test_parse_refuses(text: str, fragment: str) -> None:
    with pytest.raises(RequestInvalid, match=fragment):
        parse_policy(text)


def test_keep_last_versions_by_version_order_not_upload_order() -> None:
    files = [release("1.10", 1), release("1.9", 0), release("1.2", 5), release("2.0-rc1", 2)]
    removed = select(CleanupPolicy(keep_last_versions=2), files, version_key, never_tagged, NOW)
    assert [r.version for r in removed] == ["1.2", "1.9"]
    assert all(r.reason == "not among the newest 2" for r in removed)


def test_both_criteria_must_hold() -> None:
    files = [release("1", 100), release("2", 100), release("3", 1), release("4", 200)]
    policy = CleanupPolicy(keep_last_versions=1, max_age_days=30)
    removed = select(policy, files, version_key, never_tagged, NOW)
    # 4 is newest (kept); 3 is recent (kept); 1 and 2 are old and not newest.
    assert [r.version for r in removed] == ["1", "2"]
    assert "published more than 30 days ago" in removed[0].reason


def test_age_only_counts_newest_file_of_a_version() -> None:
    files = [release("1", 100), PackageFile("g:a", "1", "g/a/1/a-1.pom", 3, days_ago(1))]
    assert select(CleanupPolicy(max_age_days=30), files, version_key, never_tagged, NOW) == []


def test_tagged_versions_are_kept() -> None:
    files = [release("1.0.0", 90, "pkg"), release("2.0.0", 1, "pkg")]
    removed = select(
        CleanupPolicy(max_age_days=30),
        files,
        version_key,
        lambda package, version: version == "1.0.0",
        NOW,
    )
    assert removed == []


def test_snapshot_builds_expire_but_newest_build_stays() -> None:
    files = [
        build("1.0-SNAPSHOT", "20260101.000000-1", 300),
        build("1.0-SNAPSHOT", "20260102.000000-2", 200),
        build("1.0-SNAPSHOT", "20261126.000000-3", 1),
        build("2.0-SNAPSHOT", "20250101.000000-1", 600),  # alone: the newest build
        release("0.9", 700),
    ]
    policy = CleanupPolicy(snapshot_max_age_days=14)
    removed = select(policy, files, version_key, never_tagged, NOW)
    assert [(r.version, len(r.paths)) for r in removed] == [("1.0-SNAPSHOT", 2)]
    assert removed[0].bytes == 10
    # Release rules never touch snapshots, and snapshot rules never touch releases.
    assert (
        select(CleanupPolicy(max_age_days=1), files, version_key, never_tagged, NOW)[0].version
        == "0.9"
    )
