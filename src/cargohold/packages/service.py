"""The package services, built once from the registry's parts."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.core.registry import Registry
from cargohold.packages.cleanup import PackageCleanup
from cargohold.packages.files import FileStore
from cargohold.packages.maven import MavenRepository
from cargohold.packages.npm import NpmRepository
from cargohold.packages.pypi import PypiRepository
from cargohold.packages.repositories import PackageRepositories


@dataclass
class Packages:
    repositories: PackageRepositories
    files: FileStore
    maven: MavenRepository
    pypi: PypiRepository
    npm: NpmRepository
    cleanup: PackageCleanup

    @classmethod
    def build(cls, registry: Registry) -> Packages:
        settings = registry.settings
        store = registry.package_store
        files = FileStore(registry.driver, settings.limits.upload_chunk_bytes)
        repositories = PackageRepositories(store, registry.account_store, registry.access)
        limit = settings.packages.max_file_bytes
        quotas = registry.repositories
        npm = NpmRepository(store, files, repositories, quotas, limit)
        cleanup = PackageCleanup(store, repositories, {"npm": npm.remove_paths})
        registry.scheduled_jobs.append(cleanup.run_all)
        return cls(
            repositories=repositories,
            files=files,
            maven=MavenRepository(store, files, repositories, quotas, limit),
            pypi=PypiRepository(store, files, repositories, quotas, limit),
            npm=npm,
            cleanup=cleanup,
        )
