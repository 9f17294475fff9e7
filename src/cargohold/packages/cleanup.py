"""Cleanup policies of hosted package repositories: stored, previewed, run.

Each format says what a version is and how versions order (Maven's rules, semver,
PEP 440); `formats.cleanup.select` decides what goes. Removed files leave the
repository at once; their bytes go when garbage collection finds no one else
storing them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from packaging.version import InvalidVersion, Version

from cargohold.core.access import Principal
from cargohold.errors import RequestInvalid
from cargohold.formats import maven, npm
from cargohold.formats.cleanup import PackageFile, Removal, parse_policy, select
from cargohold.metadata.packages import AssetRecord, PackageRepositoryRecord, PackageStore
from cargohold.packages.repositories import PackageRepositories

log = logging.getLogger(__name__)


def _pep440_key(version: str) -> tuple[int, Any]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


_VERSION_KEYS: dict[str, Callable[[str], Any]] = {
    "maven": maven.version_key,
    "npm": npm.version_key,
    "pypi": _pep440_key,
}
_FILE_KINDS = {"maven": "artifact", "npm": "tarball", "pypi": "file"}


def _file(repo: PackageRepositoryRecord, asset: AssetRecord) -> PackageFile | None:
    if asset.version is None or asset.attributes.get("kind") != _FILE_KINDS[repo.format]:
        return None
    snapshot, build = False, None
    if repo.format == "maven":
        parsed = maven.parse_path(asset.path)
        snapshot = parsed.snapshot
        if parsed.timestamp is not None:
            build = f"{parsed.timestamp}-{parsed.build_number}"
    return PackageFile(
        package=asset.package,
        version=asset.version,
        path=asset.path,
        size=asset.size,
        created_at=asset.created_at,
        snapshot=snapshot,
        build=build,
    )


# How a format removes files when it has more to do than delete rows (npm leaves
# markers so an unpublished version is never reused, and fixes its dist-tags).
Remover = Callable[[PackageRepositoryRecord, list[str]], Awaitable[None]]


class PackageCleanup:
    def __init__(
        self,
        store: PackageStore,
        repositories: PackageRepositories,
        removers: dict[str, Remover] | None = None,
    ) -> None:
        self.store = store
        self.repositories = repositories
        self.removers = removers or {}

    async def set_policy(self, actor: Principal, name: str, text: str | None) -> str | None:
        """Store a policy (None removes it); returns it in its stored form."""
        stored = parse_policy(text).to_json() if text is not None else None
        await self.repositories.set_cleanup_policy(actor, name, stored)
        return stored

    async def get_policy(self, actor: Principal, name: str) -> str | None:
        return (await self.repositories.resolve(actor, name, "pull")).cleanup_policy

    async def preview(self, actor: Principal, name: str) -> list[Removal]:
        repo = await self.repositories.resolve(actor, name, "pull")
        return await self._plan(repo)

    async def run(self, actor: Principal, name: str) -> list[Removal]:
        repo = await self.repositories.writable(actor, name, "delete")
        return await self._apply(repo, await self._plan(repo))

    async def run_all(self) -> int:
        """Every repository with a policy, as the scheduler does; returns files removed."""
        removed = 0
        for repo in await self.store.list_package_repositories():
            if repo.cleanup_policy is None or repo.write_policy == "readonly":
                continue
            try:
                done = await self._apply(repo, await self._plan(repo))
            except Exception:
                log.exception("cleanup of %s failed", repo.name)
                continue
            removed += sum(len(r.paths) for r in done)
        return removed

    async def _plan(self, repo: PackageRepositoryRecord) -> list[Removal]:
        if repo.cleanup_policy is None:
            raise RequestInvalid(f"repository {repo.name} has no cleanup policy")
        policy = parse_policy(repo.cleanup_policy)
        assets = await self.store.list_assets(repo.name)
        files = [f for f in (_file(repo, a) for a in assets) if f is not None]
        tags: dict[str, set[str]] = {}
        if repo.format == "npm":
            for package in {f.package for f in files}:
                tags[package] = set((await self.store.package_tags(repo.name, package)).values())

        def tagged(package: str, version: str) -> bool:
            return version in tags.get(package, set())

        key = _VERSION_KEYS[repo.format]
        return select(policy, files, key, tagged, datetime.now(UTC))

    async def _apply(self, repo: PackageRepositoryRecord, plan: list[Removal]) -> list[Removal]:
        remover = self.removers.get(repo.format)
        for removal in plan:
            if remover is not None:
                await remover(repo, list(removal.paths))
            else:
                await self.store.delete_assets(repo.name, list(removal.paths))
        if plan:
            log.info(
                "cleanup of %s removed %d files (%d bytes)",
                repo.name,
                sum(len(r.paths) for r in plan),
                sum(r.bytes for r in plan),
            )
        return plan
