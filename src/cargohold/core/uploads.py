"""Blob uploads: monolithic, chunked and streamed, resumable across restarts.

An upload is one file in storage, the bytes received so far
(``layout.UploadData``), made when its first bytes arrive: opening an upload writes
nothing. Its id is issued by this registry for one repository (see `UploadIds`),
so continuing an upload costs no lookup, and a missing file means either "nothing
written yet" or "over" (finished or cancelled, recorded in the metadata store).
Publishing renames the file into the blob tree, leaving nothing to clean up. The
running hash lives in memory; after a restart, or on another replica, it is
rebuilt by reading the bytes back, so an interrupted upload can always be resumed.
Nothing becomes a blob until its digest is verified, fsync'd and renamed into
place.

A small blob sent whole in one request (most configs, signatures, small layers)
never becomes a file: it is verified in memory and stored in the metadata
database in the transaction that links it. Measured here (400 small images, 8
clients), that cut the server's CPU per image by more than a third: no file to
create, no fsync, rename and directory fsync, and no inode allocation on the
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cargohold.core.streams import pump, read_limited
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
    """The running hash of an upload this process has been serving, and which file
    it is the hash of (None: no file yet)."""

    size: int
    hasher: Any
    identity: object = None


class UploadIds:
    """Upload ids this registry issued: a random nonce, the time of issue, and a
    keyed hash of both with the repository's name.

    Nothing is stored when an upload opens, so the id itself is the proof: no one
    can name an upload the registry did not open (skipping the POST that enforces
    explicit repository creation), nor reach one repository's upload from another.
    The key is shared by every worker and replica (see `Registry.open`). An id
    with no file behind it is honoured for ``lifetime`` seconds after issue.
    """

    def __init__(self, key: bytes | None = None, lifetime: float = 24 * 3600) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self.lifetime = lifetime

    def use_key(self, key: bytes) -> None:
        self._key = key

    def _mac(self, repository: str, nonce: str, issued: str) -> str:
        message = f"{repository}\n{nonce}\n{issued}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:16]

    def issue(self, repository: str) -> str:
        nonce = uuid.uuid4().hex
        issued = f"{int(time.time()):08x}"
        return f"{nonce}-{issued}-{self._mac(repository, nonce, issued)}"

    def authentic(self, repository: str, upload_id: str) -> bool:
        parts = upload_id.split("-")
        if len(parts) != 3:
            return False
        nonce, issued, mac = parts
        return (
            len(nonce) == 32
            and len(issued) == 8
            and layout.valid_upload_id(upload_id)
            and hmac.compare_digest(mac, self._mac(repository, nonce, issued))
        )

    def fresh(self, upload_id: str) -> bool:
        """Issued within the lifetime (call only on an `authentic` id)."""
        issued = int(upload_id.split("-")[1], 16)
        return time.time() - issued <= self.lifetime


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
        inline_max_bytes: int = 0,
        ids: UploadIds | None = None,
    ) -> None:
        self._admit = admit
        self._driver = driver
        self._store = store
        self._chunk_bytes = chunk_bytes
        self._inline_max = inline_max_bytes
        self.ids = ids if ids is not None else UploadIds()
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
        """Open a new, empty upload for ``repository``: an id, and nothing stored."""
        upload_id = self.ids.issue(repository)
        self._remember(upload_id, _Live(0, hashlib.sha256()))
        return UploadStatus(upload_id, repository, 0)

    def _check(self, repository: str, upload_id: str) -> None:
        """Raise `BlobUploadUnknown` unless ``upload_id`` is one of ``repository``'s:
        never let one repository continue (or probe) another's upload."""
        if not self.ids.authentic(repository, upload_id):
            raise BlobUploadUnknown(detail={"upload": upload_id[:100]})

    async def _open_without_bytes(self, upload_id: str) -> bool:
        """Whether an upload with no file is open (nothing written yet) rather than
        over: finished, cancelled, or too old."""
        return self.ids.fresh(upload_id) and not await self._store.upload_ended(upload_id)

    async def _file_size(self, repository: str, upload_id: str) -> int | None:
        """The size of the upload's file, None while it has none; `BlobUploadUnknown`
        if there is no such upload."""
        self._check(repository, upload_id)
        try:
            stat = await self._driver.stat(layout.path_for(layout.UploadData(upload_id)))
        except PathNotFound:
            if await self._open_without_bytes(upload_id):
                return None
            raise BlobUploadUnknown(detail={"upload": upload_id}) from None
        return stat.size

    async def _size(self, repository: str, upload_id: str) -> int:
        """The upload's size so far; `BlobUploadUnknown` if there is no such upload."""
        return await self._file_size(repository, upload_id) or 0

    @contextlib.asynccontextmanager
    async def _session(
        self, repository: str, upload_id: str
    ) -> AsyncIterator[tuple[FileWriter, _Live]]:
        """Exclusive use of an upload: one request at a time in this process (the
        lock) and across processes (the storage driver's append lock), with a hash
        state that matches the bytes stored."""
        self._check(repository, upload_id)
        path = layout.path_for(layout.UploadData(upload_id))
        async with self._lock(upload_id):
            created = False
            try:
                try:
                    writer = await self._driver.writer(path, append=True)
                except PathNotFound:
                    if not await self._open_without_bytes(upload_id):
                        raise
                    writer = await self._driver.writer(path, append=True, create=True)
                    created = True
            except PathNotFound:
                raise BlobUploadUnknown(detail={"upload": upload_id}) from None
            except PathBusy:
                raise BlobUploadInvalid(
                    "another request is writing to this upload", detail={"upload": upload_id}
                ) from None
            try:
                if created and await self._store.upload_ended(upload_id):
                    # Made while another process ended the upload (its record commits
                    # after the file is renamed away, or deleted): not revived.
                    with contextlib.suppress(PathNotFound):
                        await self._driver.delete(path)
                    raise BlobUploadUnknown(detail={"upload": upload_id})
                yield writer, await self._live_state(upload_id, writer.size, writer.identity)
            finally:
                await writer.close()

    async def _live_state(self, upload_id: str, size: int, identity: object) -> _Live:
        live = self._live.get(upload_id)
        # Only the hash of this very file will do: another process may have
        # published the upload and a late request made a new file of the same size.
        if live is not None and live.size == size and (size == 0 or live.identity == identity):
            live.identity = identity
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
        live = _Live(size, hasher, identity)
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
        if body is not None and self._fits_inline(content_range, content_length):
            self._check(repository, upload_id)
            async with self._lock(upload_id):
                if await self._file_size(repository, upload_id) is None:
                    return await self._store_whole(
                        repository, digest, body, content_range, content_length, upload_id
                    )
        async with self._session(repository, upload_id) as (writer, live):
            if body is not None:
                expected = self._expected(live.size, content_range, content_length)
                await self._write(writer, live, body, expected)
            await self._finish(repository, upload_id, writer, live, digest)
            return live.size

    def _fits_inline(
        self, content_range: tuple[int, int] | None, content_length: int | None
    ) -> bool:
        declared = content_length
        if content_range is not None:
            declared = content_range[1] - content_range[0] + 1
        return declared is not None and 0 < declared <= self._inline_max

    async def _store_whole(
        self,
        repository: str,
        digest: Digest,
        body: AsyncIterator[bytes],
        content_range: tuple[int, int] | None,
        content_length: int | None,
        upload_id: str | None,
    ) -> int:
        """A small blob sent whole: verified in memory, then stored and linked in one
        transaction in the metadata store (which ends ``upload_id`` with it)."""
        expected = self._expected(0, content_range, content_length)
        assert expected is not None  # _fits_inline saw a length
        data = await read_limited(body, expected)
        if data is None or len(data) != expected:
            got = "more" if data is None else str(len(data))
            raise SizeInvalid(f"body has {got} bytes, {expected} were declared")
        try:
            actual = Digest.of(data, digest.algorithm)
            if actual != digest:
                raise DigestInvalid(
                    "uploaded content does not match the digest",
                    detail={"digest": str(digest), "actual": str(actual)},
                )
            if self._admit is not None:
                await self._admit(repository, str(digest), len(data))
        except RegistryError:
            if upload_id is not None:
                await self._discard(upload_id)  # refused for good, as on the file path
            raise
        await self._store.link_blob(
            repository, str(digest), len(data), content=data, ended_upload=upload_id
        )
        if upload_id is not None:
            self._live.pop(upload_id, None)
        return len(data)

    async def _finish(
        self,
        repository: str,
        upload_id: str,
        writer: FileWriter,
        live: _Live,
        digest: Digest,
        ended: bool = True,
    ) -> None:
        """Verify, make durable, publish, link, then forget the upload (``ended``:
        and record it as over, for an id a client holds)."""
        actual = await self._digest(upload_id, live, digest.algorithm)
        if actual != digest.hex:
            await self._discard(upload_id, ended=ended)
            raise DigestInvalid(
                "uploaded content does not match the digest",
                detail={"digest": str(digest), "actual": f"{digest.algorithm}:{actual}"},
            )
        if self._admit is not None:
            try:
                await self._admit(repository, str(digest), live.size)
            except RegistryError:
                await self._discard(upload_id, ended=ended)  # refused for good: nothing stays
                raise
        # Durable and in place in one step; an earlier background write-back
        # failure surfaces here. Replacing an existing copy is harmless: only
        # verified bytes ever land at a blob's path, and readers keep their file.
        await writer.commit(move_to=layout.path_for(layout.BlobData(digest)))
        self._live.pop(upload_id, None)  # its file is the blob now: nothing to delete
        await self._store.link_blob(
            repository, str(digest), live.size, ended_upload=upload_id if ended else None
        )

    async def _digest(self, upload_id: str, live: _Live, algorithm: str) -> str:
        if algorithm == "sha256":
            return str(live.hasher.copy().hexdigest())
        hasher = hashlib.new(algorithm)
        async for chunk in self._driver.reader(layout.path_for(layout.UploadData(upload_id))):
            hasher.update(chunk)
        return hasher.hexdigest()

    async def _discard(self, upload_id: str, ended: bool = True) -> None:
        self._live.pop(upload_id, None)
        if ended:  # first, so that no one continues it while its file goes
            await self._store.end_upload(upload_id)
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
        if self._fits_inline(None, content_length):
            return await self._store_whole(repository, digest, body, None, content_length, None)
        upload_id = uuid.uuid4().hex  # bound to no repository: no request can name it
        live = _Live(0, hashlib.sha256())
        writer = await self._driver.writer(layout.path_for(layout.UploadData(upload_id)))
        try:
            await self._write(writer, live, body, content_length)
            await self._finish(repository, upload_id, writer, live, digest, ended=False)
        except BaseException:
            await self._discard(upload_id, ended=False)
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
