"""The metadata of hosted package repositories: what the package services need.

`PackageStore` is implemented on SQL by `packages_sql.SqlPackageStore`; the
conformance suite runs against SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

FORMATS = ("maven", "npm", "pypi")
WRITE_POLICIES = ("allow", "deny", "readonly")
VERSION_POLICIES = ("release", "snapshot", "mixed")


@dataclass(frozen=True, slots=True)
class PackageRepositoryRecord:
    name: str
    format: str
    namespace: str
    private: bool
    write_policy: str  # allow: redeploy; deny: a path is written once; readonly
    version_policy: str  # Maven only: release, snapshot or mixed
    created_at: datetime
    cleanup_policy: str | None = None  # JSON text as given


@dataclass(frozen=True, slots=True)
class AssetRecord:
    repository: str
    path: str
    package: str
    version: str | None
    digest: str
    size: int
    content_type: str
    created_at: datetime
    attributes: dict[str, Any] = field(default_factory=dict)
    extra_digest: str | None = None  # a blob that goes with this file (PEP 658 metadata)


class PackageStore(Protocol):
    async def create_package_repository(self, record: PackageRepositoryRecord) -> bool:
        """False when the name is taken."""
        ...

    async def get_package_repository(self, name: str) -> PackageRepositoryRecord | None: ...

    async def list_package_repositories(self) -> list[PackageRepositoryRecord]: ...

    async def update_package_repository(self, name: str, changes: dict[str, Any]) -> bool:
        """Change only the settings named (private, write_policy, version_policy,
        cleanup_policy), so two changes at once never undo each other."""
        ...

    async def package_repositories_of(self, namespace: str) -> list[str]:
        """Names of the package repositories ``namespace`` owns."""
        ...

    async def delete_package_repository(self, name: str) -> bool:
        """Forget the repository, its assets and tags (GC collects the bytes)."""
        ...

    async def get_asset(self, repository: str, path: str) -> AssetRecord | None: ...

    async def put_asset(self, asset: AssetRecord, overwrite: bool) -> bool:
        """Store the asset; False (and nothing written) when the path exists and
        ``overwrite`` is off, so two racing first writes cannot both win."""
        ...

    async def set_asset_attributes(
        self, repository: str, path: str, attributes: dict[str, Any]
    ) -> bool: ...

    async def delete_assets(self, repository: str, paths: list[str]) -> list[AssetRecord]:
        """Delete what exists of ``paths``; return what was deleted."""
        ...

    async def list_assets(
        self,
        repository: str,
        prefix: str | None = None,
        package: str | None = None,
        version: str | None = None,
        limit: int | None = None,
    ) -> list[AssetRecord]:
        """Assets ordered by path, filtered by path prefix and/or component; at most
        ``limit`` of them."""
        ...

    async def list_packages(self, repository: str) -> list[str]:
        """Distinct package names, sorted."""
        ...

    async def package_tags(self, repository: str, package: str) -> dict[str, str]: ...

    async def set_package_tag(
        self, repository: str, package: str, tag: str, version: str
    ) -> None: ...

    async def delete_package_tags(
        self, repository: str, package: str, tags: list[str] | None = None
    ) -> int:
        """Delete the named tags (all of the package's when None); return how many."""
        ...
