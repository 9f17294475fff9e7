"""What every package format's service works with."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.core.repositories import Repositories
from cargohold.metadata.packages import AssetRecord, PackageRepositoryRecord, PackageStore
from cargohold.packages.files import FileStore
from cargohold.packages.repositories import PackageRepositories


@dataclass
class FormatService:
    store: PackageStore
    files: FileStore
    repositories: PackageRepositories
    quotas: Repositories  # the namespace quota check images use too
    max_file_bytes: int

    async def admit(
        self, repo: PackageRepositoryRecord, size: int, replaces: AssetRecord | None
    ) -> None:
        """The namespace quota check for a file; one replacing another (a redeploy)
        costs only what it adds."""
        growth = size - (replaces.size if replaces is not None else 0)
        if growth > 0:
            await self.quotas.admit_namespace(repo.namespace, None, growth)
