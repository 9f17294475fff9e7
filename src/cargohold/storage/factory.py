"""Choose the storage driver named in the settings."""

from __future__ import annotations

from cargohold.config import Settings
from cargohold.storage.driver import StorageDriver


def make_driver(settings: Settings) -> StorageDriver:
    if settings.storage.driver == "inmemory":
        from cargohold.storage.drivers.inmemory import InMemoryDriver

        return InMemoryDriver()
    from cargohold.storage.drivers.filesystem import FilesystemDriver

    return FilesystemDriver(settings.storage_root)
