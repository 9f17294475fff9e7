"""The registry's services, built once from settings and handed to the HTTP layer and CLI."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.config import Settings
from cargohold.core.blobs import Blobs
from cargohold.core.listings import Listings
from cargohold.core.manifests import Manifests
from cargohold.core.uploads import Uploads
from cargohold.core.usage import PullRecorder
from cargohold.metadata.store import MetadataStore
from cargohold.storage.driver import StorageDriver


@dataclass
class Registry:
    driver: StorageDriver
    store: MetadataStore
    blobs: Blobs
    uploads: Uploads
    manifests: Manifests
    listings: Listings
    pulls: PullRecorder

    @classmethod
    def build(cls, driver: StorageDriver, store: MetadataStore, settings: Settings) -> Registry:
        limits = settings.limits
        return cls(
            driver=driver,
            store=store,
            blobs=Blobs(driver, store),
            uploads=Uploads(driver, store, limits.upload_chunk_bytes),
            manifests=Manifests(driver, store, limits.max_manifest_bytes),
            listings=Listings(store),
            pulls=PullRecorder(store, limits.stats_flush_seconds),
        )

    async def open(self) -> None:
        await self.store.create_schema()
        self.pulls.start()

    async def close(self) -> None:
        await self.pulls.stop()
        await self.store.close()
