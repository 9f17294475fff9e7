"""What every package format's service works with."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.core.repositories import Repositories
from cargohold.metadata.packages import PackageStore
from cargohold.packages.files import FileStore
from cargohold.packages.repositories import PackageRepositories


@dataclass
class FormatService:
    store: PackageStore
    files: FileStore
    repositories: PackageRepositories
    quotas: Repositories  # the namespace quota check images use too
    max_file_bytes: int
