"""The bytes of package files: received while hashed, verified, then published.

A file streams into a staging file in the uploads area (so garbage collection
purges what a crash abandons) while md5, sha1, sha256 and sha512 are computed,
the digests Maven, npm and PyPI clients check. Only after the caller's checks
pass is it fsync'd and renamed to its content-addressed blob path, the same blob
tree images use: identical bytes are stored once. Its database row is written
after that, so a crash at any instant leaves no visible partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cargohold.core.streams import drain, pump
from cargohold.errors import ResourceUnknown, SizeInvalid
from cargohold.storage import layout
from cargohold.storage.driver import PathNotFound, StorageDriver
from cargohold.types import Digest

ALGORITHMS = ("md5", "sha1", "sha256", "sha512")


@dataclass(frozen=True, slots=True)
class StoredFile:
    size: int
    hashes: dict[str, str]  # algorithm -> hex

    @property
    def digest(self) -> str:
        return f"sha256:{self.hashes['sha256']}"


@dataclass(frozen=True, slots=True)
class Staged:
    """A received file not yet published: checks may read it through `path`."""

    upload_id: str
    path: str
    file: StoredFile


class _Hashers:
    """Every digest in one pass (`pump` calls ``update`` off the event loop)."""

    def __init__(self) -> None:
        self.hashers: dict[str, Any] = {name: hashlib.new(name) for name in ALGORITHMS}
        self.hashers["blake2_256"] = hashlib.blake2b(digest_size=32)  # PyPI's third digest

    def update(self, data: bytes) -> None:
        for hasher in self.hashers.values():
            hasher.update(data)

    def result(self, size: int) -> StoredFile:
        return StoredFile(size, {name: h.hexdigest() for name, h in self.hashers.items()})


Check = Callable[[Staged], Awaitable[None]]


def _too_large(limit: int) -> SizeInvalid:
    return SizeInvalid(f"the file is larger than the {limit}-byte limit")


class FileStore:
    def __init__(self, driver: StorageDriver, chunk_bytes: int) -> None:
        self.driver = driver
        self.chunk_bytes = chunk_bytes

    async def receive(
        self,
        body: AsyncIterator[bytes],
        limit: int,
        check: Check | None = None,
        declared: int | None = None,
    ) -> StoredFile:
        """Stream ``body`` in and publish it once ``check`` (which raises to refuse)
        has passed; refused or failed, nothing stays. A ``declared`` size over the
        limit is refused before any byte is read, so the client is told at once."""
        if declared is not None and declared > limit:
            raise _too_large(limit)
        upload_id = uuid.uuid4().hex
        path = layout.path_for(layout.UploadData(upload_id))
        writer = await self.driver.writer(path)
        hashers = _Hashers()
        published = False
        try:
            try:
                size = await pump(body, writer, hashers, self.chunk_bytes, limit)
            except SizeInvalid:
                await drain(body)
                raise _too_large(limit) from None
            stored = hashers.result(size)
            if check is not None:
                await check(Staged(upload_id, path, stored))
            digest = Digest.parse(stored.digest)
            await writer.commit(move_to=layout.path_for(layout.BlobData(digest)))
            published = True
            return stored
        finally:
            await writer.close()
            if not published:
                with contextlib.suppress(PathNotFound):
                    await self.driver.delete(path)

    async def put_bytes(self, data: bytes) -> StoredFile:
        """Publish a small document (fsync'd, content addressed)."""
        hashers = _Hashers()
        hashers.update(data)
        stored = hashers.result(len(data))
        path = layout.path_for(layout.BlobData(Digest.parse(stored.digest)))
        await self.driver.put_content(path, data)
        return stored

    async def read_staged(self, staged: Staged) -> AsyncIterator[bytes]:
        async for chunk in self.driver.reader(staged.path):
            yield chunk

    def staged_local_path(self, staged: Staged) -> str | None:
        return self.driver.local_path(staged.path)

    def blob_path(self, digest: str) -> str:
        return layout.path_for(layout.BlobData(Digest.parse(digest)))

    def local_path(self, digest: str) -> str | None:
        return self.driver.local_path(self.blob_path(digest))

    def reader(self, digest: str) -> AsyncIterator[bytes]:
        return self.driver.reader(self.blob_path(digest))

    async def read(self, digest: str) -> bytes:
        """A small stored file whole (documents the server itself wrote)."""
        try:
            return await self.driver.get_content(self.blob_path(digest))
        except PathNotFound:
            raise ResourceUnknown("the file's content is missing from storage") from None


def hashes_of(data: bytes) -> dict[str, str]:
    return {name: hashlib.new(name, data).hexdigest() for name in ALGORITHMS}
