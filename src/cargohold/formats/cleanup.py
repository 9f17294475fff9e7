"""Cleanup policies for hosted package repositories: the JSON text and which files
it removes. Pure: the caller lists the repository's files, this decides.

A policy, every field optional::

    {"keep_last_versions": 5, "max_age_days": 90, "snapshot_max_age_days": 14}

- ``keep_last_versions`` and ``max_age_days`` select release versions; when both
  are given a version goes only if both say so (as Nexus combines its criteria):
  it is not among the newest N of its package, and it was last published more than
  the given days ago.
- ``snapshot_max_age_days`` (Maven) removes builds of a SNAPSHOT version older than
  the given days, always keeping the newest build of each snapshot version.
- A version an npm dist-tag points at is never removed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cargohold.errors import RequestInvalid

MAX_POLICY_TEXT = 4096
_FIELDS = ("keep_last_versions", "max_age_days", "snapshot_max_age_days")


@dataclass(frozen=True, slots=True)
class CleanupPolicy:
    keep_last_versions: int | None = None
    max_age_days: int | None = None
    snapshot_max_age_days: int | None = None

    def to_json(self) -> str:
        doc = {f: getattr(self, f) for f in _FIELDS if getattr(self, f) is not None}
        return json.dumps(doc, sort_keys=True)


def parse_policy(text: str) -> CleanupPolicy:
    if len(text) > MAX_POLICY_TEXT:
        raise RequestInvalid(f"a cleanup policy is at most {MAX_POLICY_TEXT} characters")
    try:
        doc: Any = json.loads(text)
    except ValueError as exc:
        raise RequestInvalid(f"the cleanup policy is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RequestInvalid("a cleanup policy is a JSON object")
    unknown = sorted(set(doc) - set(_FIELDS))
    if unknown:
        raise RequestInvalid(
            f"unknown cleanup policy field {unknown[0]!r}; known: {', '.join(_FIELDS)}"
        )
    values: dict[str, int] = {}
    for field in _FIELDS:
        value = doc.get(field)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100000:
            raise RequestInvalid(f"{field} must be a whole number from 1 to 100000")
        values[field] = value
    if not values:
        raise RequestInvalid(f"a cleanup policy needs at least one of {', '.join(_FIELDS)}")
    return CleanupPolicy(**values)


@dataclass(frozen=True, slots=True)
class PackageFile:
    package: str
    version: str
    path: str
    size: int
    created_at: datetime
    snapshot: bool = False  # a Maven SNAPSHOT version
    build: str | None = None  # a snapshot build's "timestamp-number", if timestamped


@dataclass(frozen=True, slots=True)
class Removal:
    package: str
    version: str
    paths: tuple[str, ...]
    bytes: int
    reason: str


def select(
    policy: CleanupPolicy,
    files: Iterable[PackageFile],
    version_key: Callable[[str], Any],
    tagged: Callable[[str, str], bool],
    now: datetime,
) -> list[Removal]:
    """What ``policy`` removes from ``files``, one entry per version (or, for
    snapshots, per version's expired builds), ordered by package and version."""
    groups: dict[tuple[str, str], list[PackageFile]] = {}
    for file in files:
        groups.setdefault((file.package, file.version), []).append(file)
    removals: list[Removal] = []
    releases: dict[str, list[str]] = {}
    for (package, version), group in groups.items():
        if any(f.snapshot for f in group):
            removal = _snapshot_builds(policy, package, version, group, now)
            if removal is not None:
                removals.append(removal)
        else:
            releases.setdefault(package, []).append(version)
    for package, versions in releases.items():
        ordered = sorted(versions, key=version_key, reverse=True)
        for rank, version in enumerate(ordered):
            if tagged(package, version):
                continue
            group = groups[(package, version)]
            published = max(f.created_at for f in group)
            reasons = _release_reasons(policy, rank, published, now)
            if reasons is not None:
                removals.append(_removal(package, version, group, reasons))
    return sorted(removals, key=lambda r: (r.package, version_key(r.version)))


def _release_reasons(
    policy: CleanupPolicy, rank: int, published: datetime, now: datetime
) -> str | None:
    checks: list[tuple[bool, str]] = []
    if policy.keep_last_versions is not None:
        checks.append(
            (rank >= policy.keep_last_versions, f"not among the newest {policy.keep_last_versions}")
        )
    if policy.max_age_days is not None:
        old = now - published > timedelta(days=policy.max_age_days)
        checks.append((old, f"published more than {policy.max_age_days} days ago"))
    if not checks or not all(hit for hit, _ in checks):
        return None
    return " and ".join(text for _, text in checks)


def _snapshot_builds(
    policy: CleanupPolicy,
    package: str,
    version: str,
    group: Sequence[PackageFile],
    now: datetime,
) -> Removal | None:
    days = policy.snapshot_max_age_days
    if days is None:
        return None
    builds: dict[str, list[PackageFile]] = {}
    for file in group:
        builds.setdefault(file.build or "", []).append(file)
    newest = max(builds, key=lambda b: max(f.created_at for f in builds[b]))
    expired = [
        f
        for build, files in builds.items()
        if build != newest
        for f in files
        if now - max(x.created_at for x in files) > timedelta(days=days)
    ]
    if not expired:
        return None
    return _removal(package, version, expired, f"snapshot builds older than {days} days")


def _removal(package: str, version: str, files: Sequence[PackageFile], reason: str) -> Removal:
    return Removal(
        package=package,
        version=version,
        paths=tuple(sorted(f.path for f in files)),
        bytes=sum(f.size for f in files),
        reason=reason,
    )
