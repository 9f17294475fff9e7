"""Blobs as a repository sees them: existence, reading, mounting, unlinking.

A blob is visible in a repository only when linked to it in the metadata store,
even if its bytes are in storage for another repository; that keeps private
content private and makes cross-repository mounts a metadata-only operation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from cargohold.errors import BlobUnknown
from cargohold.metadata.store import MetadataStore
from cargohold.storage import layout
from cargohold.storage.driver import PathNotFound, StorageDriver
from cargohold.types import Digest


@dataclass(frozen=True, slots=True)
class BlobLocation:
    """Where to read a blob: a local file the server may send itself, a stream, or
    (a small blob kept in the metadata store) its bytes."""

    digest: Digest
    size: int
    local_path: str | None
    storage_path: str
    content: bytes | None = None


class Blobs:
    def __init__(
        self,
        driver: StorageDriver,
        store: MetadataStore,
        admit: Callable[[str, str, int], Awaitable[None]] | None = None,
    ) -> None:
        self._admit = admit
        self._driver = driver
        self._store = store

    async def locate(self, repository: str, digest: Digest) -> BlobLocation:
        """Raise `BlobUnknown` unless ``repository`` links the blob and its bytes exist."""
        size = await self._store.linked_blob_size(repository, str(digest))
        if size is None:
            raise BlobUnknown(detail={"digest": str(digest)})
        path = layout.path_for(layout.BlobData(digest))
        try:
            info = await self._driver.stat(path)
        except PathNotFound:
            content = await self._store.blob_content(str(digest))
            if content is None:
                raise BlobUnknown(detail={"digest": str(digest)}) from None
            return BlobLocation(digest, len(content), None, path, content)
        return BlobLocation(digest, info.size, self._driver.local_path(path), path)

    def read(self, location: BlobLocation, offset: int = 0) -> AsyncIterator[bytes]:
        """A blob in storage (one kept in the database comes with its bytes)."""
        return self._driver.reader(location.storage_path, offset)

    async def _stored(self, digest: Digest) -> bool:
        try:
            await self._driver.stat(layout.path_for(layout.BlobData(digest)))
        except PathNotFound:
            return await self._store.blob_stored(str(digest))
        return True

    async def mount(self, repository: str, digest: Digest, source: str | None) -> bool:
        """Link an existing blob into ``repository`` without upload; False if impossible.

        With ``source`` the blob must be linked there; without it, any repository
        that links it will do (OCI "mount without from").
        """
        if source is not None:
            size = await self._store.linked_blob_size(source, str(digest))
        else:
            size = await self._store.any_blob_link(str(digest))
        if size is None:
            return False
        if self._admit is not None:
            await self._admit(repository, str(digest), size)
        # Link first, then look for the bytes: garbage collection either sees the
        # fresh link and keeps the blob, or has moved it away and we see it gone.
        await self._store.link_blob(repository, str(digest), size)
        if not await self._stored(digest):
            await self._store.unlink_blob(repository, str(digest))
            return False
        return True

    async def delete(self, repository: str, digest: Digest) -> None:
        """Unlink from ``repository``; bytes go when garbage collection finds no user."""
        if not await self._store.unlink_blob(repository, str(digest)):
            raise BlobUnknown(detail={"digest": str(digest)})
