"""Blob uploads: monolithic, chunked and streamed, resumable across restarts.

An upload is one file in storage, the bytes received so far
(``layout.UploadData``). Which repository it belongs to is part of its id (see
`upload_id_for`), so continuing an upload costs no lookup and publishing it leaves
nothing to clean up: the file is renamed into the blob tree. The running hash
lives in memory; after a restart, or on another replica, it is rebuilt by reading
the bytes back, so an interrupted upload can always be resumed. Nothing becomes a
blob until its digest is verified, fsync'd and renamed into place.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cargohold.core.streams import pump
from cargohold.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    RangeInvalid,
    RegistryError,
    SizeInvalid,
)
from cargohold.metadata.store import MetadataStore
from cargohold.storage import layout
from cargohold.storage.driver import FileWriter, PathBusy, PathNotFound, StorageDriver
from cargohold.types import Digest, is_count

MAX_LIVE_UPLOADS = 4096


# Called with (repository, digest, size) before a verified blob is published; it
# raises to refuse (a namespace quota, for instance).
Admit = Callable[[str, str, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UploadStatus:
    upload_id: str
    repository: str
    size: int


@dataclass(slots=True)
class _Live:
    """The running hash of an upload this process has been serving."""

    size: int
    hasher: Any


def _binding(repository: str, nonce: str) -> str:
    return hashlib.sha256(f"{repository}\n{nonce}".encode()).hexdigest()[:16]


def upload_id_for(repository: str) -> str:
    """A new upload id, bound to ``repository``: a random nonce and a hash of both.

    The id names the upload's file, so another repository cannot reach that file
    without finding a nonce whose hash for its own name matches: no record of the
    owner needs to be stored or read.
    """
    nonce = uuid.uuid4().hex
    return f"{nonce}-{_binding(repository, nonce)}"


def belongs_to(repository: str, upload_id: str) -> bool:
    nonce, dash, tag = upload_id.partition("-")
    return (
        dash == "-"
        and len(nonce) == 32
        and layout.valid_upload_id(upload_id)
        and hmac.compare_digest(tag, _binding(repository, nonce))
    )


def _acknowledged(size: int) -> str:
    """The ``Range`` header value for an upload holding ``size`` bytes."""
    return f"0-{max(size - 1, 0)}"


class Uploads:
    def __init__(
        self,
        driver: StorageDriver,
        store: MetadataStore,
        chunk_bytes: int,
        admit: Admit | None = None,
    ) -> None:
        self._admit = admit
        self._driver = driver
        self._store = store
        self._chunk_bytes = chunk_bytes
        # Hash states are a cache (storage can always rebuild them): bounded, so
        # abandoned uploads cannot grow memory. Locks live while someone holds one.
        self._live: OrderedDict[str, _Live] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, upload_id: str) -> asyncio.Lock:
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        return lock

    def _remember(self, upload_id: str, live: _Live) -> None:
        self._live[upload_id] = live
        self._live.move_to_end(upload_id)
        while len(self._live) > MAX_LIVE_UPLOADS:
            self._live.popitem(last=False)

    async def start(self, repository: str) -> UploadStatus:
        """Open a new, empty upload for ``repository``."""
        upload_id = upload_id_for(repository)
        # Scratch state: after a power loss the client simply starts a new upload,
        # so creating it need not cost an fsync on every push.
        writer = await self._driver.writer(layout.path_for(layout.UploadData(upload_id)))
        await writer.close()
        self._remember(upload_id, _Live(0, hashlib.sha256()))
        return UploadStatus(upload_id, repository, 0)

    @staticmethod
    def _check(repository: str, upload_id: str) -> None:
        """Raise `BlobUploadUnknown` unless ``upload_id`` is one of ``repository``'s:
        never let one repository continue (or probe) another's upload."""
        if not belongs_to(repository, upload_id):
            raise BlobUploadUnknown(detail={"upload": upload_id[:100]})

    async def _size(self, repository: str, upload_id: str) -> int:
        """The upload's size so far; `BlobUploadUnknown` if there is no such upload."""
        self._check(repository, upload_id)
        try:
            stat = await self._driver.stat(layout.path_for(layout.UploadData(upload_id)))
        except PathNotFound:
            raise BlobUploadUnknown(detail={"upload": upload_id}) from None
        return stat.size

    @contextlib.asynccontextmanager
    async def _session(
        self, repository: str, upload_id: str
    ) -> AsyncIterator[tuple[FileWriter, _Live]]:
        """Exclusive use of an upload: one request at a time in this process (the
        lock) and across processes (the storage driver's append lock), with a hash
        state that matches the bytes stored."""
        self._check(repository, upload_id)
        async with self._lock(upload_id):
            try:
                writer = await self._driver.writer(
                    layout.path_for(layout.UploadData(upload_id)), append=True
                )
            except PathNotFound:
                raise BlobUploadUnknown(detail={"upload": upload_id}) from None
            except PathBusy:
                raise BlobUploadInvalid(
                    "another request is writing to this upload", detail={"upload": upload_id}
                ) from None
            try:
                yield writer, await self._live_state(upload_id, writer.size)
            finally:
                await writer.close()

    async def _live_state(self, upload_id: str, size: int) -> _Live:
        live = self._live.get(upload_id)
        if live is not None and live.size == size:
            return live
        # Restarted, or served elsewhere until now: rebuild the hash from storage.
        hasher = hashlib.sha256()
        read = 0
        async for chunk in self._driver.reader(layout.path_for(layout.UploadData(upload_id))):
            chunk = chunk[: size - read]
            hasher.update(chunk)
            read += len(chunk)
            if read >= size:
                break
        live = _Live(size, hasher)
        self._remember(upload_id, live)
        return live

    async def status(self, repository: str, upload_id: str) -> UploadStatus:
        """How many bytes the upload has acknowledged.

        A chunk still arriving in this process is waited for, so the answer never
        counts bytes that may yet be rolled back.
        """
        async with self._lock(upload_id):
            size = await self._size(repository, upload_id)
        return UploadStatus(upload_id, repository, size)

    @staticmethod
    def _expected(
        start: int, content_range: tuple[int, int] | None, content_length: int | None
    ) -> int | None:
        """How long the chunk must be; `RangeInvalid` unless it starts at ``start``."""
        if content_range is None:
            return content_length
        first, last = content_range
        if first != start or last < first:
            raise RangeInvalid(
                f"chunk must start at byte {start}",
                detail={"range": _acknowledged(start)},
                headers={"Range": _acknowledged(start)},
            )
        expected = last - first + 1
        if content_length is not None and content_length != expected:
            raise SizeInvalid("Content-Length does not match Content-Range")
        return expected

    async def append(
        self,
        repository: str,
        upload_id: str,
        body: AsyncIterator[bytes],
        content_range: tuple[int, int] | None = None,
        content_length: int | None = None,
    ) -> UploadStatus:
        """Add a chunk. ``content_range`` is the inclusive byte range the client claims.

        Raises `RangeInvalid` if the chunk does not start at the current end, and
        `SizeInvalid` if the body disagrees with the declared range or length; either
        way the upload is left exactly as it was before the request.
        """
        async with self._session(repository, upload_id) as (writer, live):
            expected = self._expected(live.size, content_range, content_length)
            await self._write(writer, live, body, expected)
            return UploadStatus(upload_id, repository, live.size)

    async def _write(
        self, writer: FileWriter, live: _Live, body: AsyncIterator[bytes], expected: int | None
    ) -> None:
        start = live.size
        backup = live.hasher.copy()
        try:
            written = await pump(body, writer, live.hasher, self._chunk_bytes, limit=expected)
            if expected is not None and written != expected:
                raise SizeInvalid(f"body has {written} bytes, {expected} were declared")
        except BaseException:
            await writer.truncate(start)
            live.hasher = backup
            raise
        live.size = start + written

    async def complete(
        self,
        repository: str,
        upload_id: str,
        digest: Digest,
        body: AsyncIterator[bytes] | None = None,
        content_range: tuple[int, int] | None = None,
        content_length: int | None = None,
    ) -> int:
        """Take a last chunk, verify ``digest`` and publish the blob; return its size.

        On a digest mismatch the upload is discarded (as distribution does) and
        `DigestInvalid` raised; nothing is published. Any other failure leaves the
        upload in place for the client to retry.
        """
        async with self._session(repository, upload_id) as (writer, live):
            if body is not None:
                expected = self._expected(live.size, content_range, content_length)
                await self._write(writer, live, body, expected)
            await self._finish(repository, upload_id, writer, live, digest)
            return live.size

    async def _finish(
        self, repository: str, upload_id: str, writer: FileWriter, live: _Live, digest: Digest
    ) -> None:
        """Verify, make durable, publish, link, then forget the upload."""
        actual = await self._digest(upload_id, live, digest.algorithm)
        if actual != digest.hex:
            await self._discard(upload_id)
            raise DigestInvalid(
                "uploaded content does not match the digest",
                detail={"digest": str(digest), "actual": f"{digest.algorithm}:{actual}"},
            )
        if self._admit is not None:
            try:
                await self._admit(repository, str(digest), live.size)
            except RegistryError:
                await self._discard(upload_id)  # refused for good: nothing stays
                raise
        # Durable and in place in one step; an earlier background write-back
        # failure surfaces here. Replacing an existing copy is harmless: only
        # verified bytes ever land at a blob's path, and readers keep their file.
        await writer.commit(move_to=layout.path_for(layout.BlobData(digest)))
        self._live.pop(upload_id, None)  # its file is the blob now: nothing to delete
        await self._store.link_blob(repository, str(digest), live.size)

    async def _digest(self, upload_id: str, live: _Live, algorithm: str) -> str:
        if algorithm == "sha256":
            return str(live.hasher.copy().hexdigest())
        hasher = hashlib.new(algorithm)
        async for chunk in self._driver.reader(layout.path_for(layout.UploadData(upload_id))):
            hasher.update(chunk)
        return hasher.hexdigest()

    async def _discard(self, upload_id: str) -> None:
        self._live.pop(upload_id, None)
        with contextlib.suppress(PathNotFound):
            await self._driver.delete(layout.path_for(layout.UploadData(upload_id)))

    async def cancel(self, repository: str, upload_id: str) -> None:
        async with self._lock(upload_id):
            await self._size(repository, upload_id)
            await self._discard(upload_id)

    async def monolithic(
        self,
        repository: str,
        digest: Digest,
        body: AsyncIterator[bytes],
        content_length: int | None,
    ) -> int:
        """POST with ``?digest=``: the whole blob in one request.

        No other request can name this upload, so it skips the bookkeeping that
        makes uploads resumable, and any failure discards it.
        """
        upload_id = uuid.uuid4().hex  # bound to no repository: no request can name it
        live = _Live(0, hashlib.sha256())
        writer = await self._driver.writer(layout.path_for(layout.UploadData(upload_id)))
        try:
            await self._write(writer, live, body, content_length)
            await self._finish(repository, upload_id, writer, live, digest)
        except BaseException:
            await self._discard(upload_id)
            raise
        finally:
            await writer.close()
        return live.size


def parse_content_range(value: str) -> tuple[int, int]:
    """``"0-1023"`` (or ``"bytes 0-1023"``/``"bytes=0-1023"``) to ``(0, 1023)``."""
    text = value.strip()
    for prefix in ("bytes=", "bytes "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.split("/", 1)[0]
    first, sep, last = text.partition("-")
    if not sep or not is_count(first) or not is_count(last):
        raise BlobUploadInvalid(f"malformed Content-Range {value[:100]!r}")
    return int(first), int(last)
