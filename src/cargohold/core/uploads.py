"""Blob uploads: monolithic, chunked and streamed, resumable across restarts.

An upload is two files in storage: the bytes received so far
(``layout.UploadData``) and which repository it belongs to
(``layout.UploadInfo``). The running hash lives in memory; after a restart, or on
another replica, it is rebuilt by reading the bytes back, so an interrupted
upload can always be resumed. Nothing becomes a blob until its digest is
verified, fsync'd and renamed into the blob tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from cargohold.core.streams import pump
from cargohold.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    RangeInvalid,
    SizeInvalid,
)
from cargohold.metadata.store import MetadataStore
from cargohold.storage import layout
from cargohold.storage.driver import PathNotFound, StorageDriver
from cargohold.types import Digest


@dataclass(frozen=True, slots=True)
class UploadStatus:
    upload_id: str
    repository: str
    size: int


@dataclass(slots=True)
class _Live:
    """In-memory state of an upload this process is serving."""

    size: int
    hasher: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Uploads:
    def __init__(self, driver: StorageDriver, store: MetadataStore, chunk_bytes: int) -> None:
        self._driver = driver
        self._store = store
        self._chunk_bytes = chunk_bytes
        self._live: dict[str, _Live] = {}

    async def start(self, repository: str) -> UploadStatus:
        """Open a new, empty upload for ``repository``."""
        upload_id = str(uuid.uuid4())
        info = {"repository": repository, "started_at": time.time()}
        # Scratch state: after a power loss the client simply starts a new upload,
        # so this need not cost an fsync on every push.
        await self._driver.put_content(
            layout.path_for(layout.UploadInfo(upload_id)), json.dumps(info).encode(), durable=False
        )
        writer = await self._driver.writer(layout.path_for(layout.UploadData(upload_id)))
        await writer.close()
        self._live[upload_id] = _Live(0, hashlib.sha256())
        return UploadStatus(upload_id, repository, 0)

    async def _check(self, repository: str, upload_id: str) -> int:
        """Raise `BlobUploadUnknown` unless the upload exists for ``repository``; its size."""
        if not layout.valid_upload_id(upload_id):
            raise BlobUploadUnknown(detail={"upload": upload_id[:100]})
        try:
            info = json.loads(
                await self._driver.get_content(layout.path_for(layout.UploadInfo(upload_id)))
            )
            stat = await self._driver.stat(layout.path_for(layout.UploadData(upload_id)))
        except (PathNotFound, ValueError):
            raise BlobUploadUnknown(detail={"upload": upload_id}) from None
        if info.get("repository") != repository:
            # Never let one repository continue (or probe) another's upload.
            raise BlobUploadUnknown(detail={"upload": upload_id})
        return stat.size

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
        self._live[upload_id] = live
        return live

    async def status(self, repository: str, upload_id: str) -> UploadStatus:
        """How many bytes the upload has acknowledged.

        A chunk still arriving in this process is waited for, so the answer never
        counts bytes that may yet be rolled back.
        """
        size = await self._check(repository, upload_id)
        live = self._live.get(upload_id)
        if live is not None:
            async with live.lock:
                size = await self._check(repository, upload_id)
        return UploadStatus(upload_id, repository, size)

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
        size = await self._check(repository, upload_id)
        live = await self._live_state(upload_id, size)
        async with live.lock:
            start = live.size
            expected = content_length
            if content_range is not None:
                first, last = content_range
                if first != start or last < first:
                    raise RangeInvalid(
                        f"chunk must start at byte {start}", detail={"range": f"0-{start - 1}"}
                    )
                expected = last - first + 1
                if content_length is not None and content_length != expected:
                    raise SizeInvalid("Content-Length does not match Content-Range")
            await self._write(upload_id, live, body, expected)
            return UploadStatus(upload_id, repository, live.size)

    async def _write(
        self, upload_id: str, live: _Live, body: AsyncIterator[bytes], expected: int | None
    ) -> None:
        start = live.size
        backup = live.hasher.copy()
        writer = await self._driver.writer(
            layout.path_for(layout.UploadData(upload_id)), append=True
        )
        try:
            written = await pump(body, writer, live.hasher, self._chunk_bytes, limit=expected)
            if expected is not None and written != expected:
                raise SizeInvalid(f"body has {written} bytes, {expected} were declared")
        except BaseException:
            await writer.truncate(start)
            live.hasher = backup
            raise
        finally:
            await writer.close()
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
        `DigestInvalid` raised; nothing is published.
        """
        size = await self._check(repository, upload_id)
        live = await self._live_state(upload_id, size)
        async with live.lock:
            if body is not None:
                if content_range is not None and content_range[0] != live.size:
                    raise RangeInvalid(f"chunk must start at byte {live.size}")
                expected = content_length
                if content_range is not None:
                    expected = content_range[1] - content_range[0] + 1
                await self._write(upload_id, live, body, expected)
            return await self._finish(repository, upload_id, live, digest)

    async def _finish(self, repository: str, upload_id: str, live: _Live, digest: Digest) -> int:
        """Verify, publish and link; the upload is gone afterwards either way."""
        try:
            actual = await self._digest(upload_id, live, digest.algorithm)
            if actual != digest.hex:
                raise DigestInvalid(
                    "uploaded content does not match the digest",
                    detail={"digest": str(digest), "actual": f"{digest.algorithm}:{actual}"},
                )
            await self._publish(upload_id, digest)
            await self._store.link_blob(repository, str(digest), live.size)
        finally:
            await self._discard(upload_id)
        return live.size

    async def _digest(self, upload_id: str, live: _Live, algorithm: str) -> str:
        if algorithm == "sha256":
            return str(live.hasher.copy().hexdigest())
        hasher = hashlib.new(algorithm)
        async for chunk in self._driver.reader(layout.path_for(layout.UploadData(upload_id))):
            hasher.update(chunk)
        return hasher.hexdigest()

    async def _publish(self, upload_id: str, digest: Digest) -> None:
        source = layout.path_for(layout.UploadData(upload_id))
        dest = layout.path_for(layout.BlobData(digest))
        try:
            await self._driver.stat(dest)
        except PathNotFound:
            await self._driver.move(source, dest)

    async def _discard(self, upload_id: str) -> None:
        self._live.pop(upload_id, None)
        for spec in (layout.UploadData(upload_id), layout.UploadInfo(upload_id)):
            with contextlib.suppress(PathNotFound):
                await self._driver.delete(layout.path_for(spec))

    async def cancel(self, repository: str, upload_id: str) -> None:
        await self._check(repository, upload_id)
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
        makes uploads resumable.
        """
        upload_id = str(uuid.uuid4())
        live = _Live(0, hashlib.sha256())
        try:
            await self._write(upload_id, live, body, content_length)
        except BaseException:
            await self._discard(upload_id)
            raise
        return await self._finish(repository, upload_id, live, digest)


def parse_content_range(value: str) -> tuple[int, int]:
    """``"0-1023"`` (or ``"bytes 0-1023"``/``"bytes=0-1023"``) to ``(0, 1023)``."""
    text = value.strip()
    for prefix in ("bytes=", "bytes "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.split("/", 1)[0]
    first, sep, last = text.partition("-")
    if not sep or not first.isdigit() or not last.isdigit():
        raise BlobUploadInvalid(f"malformed Content-Range {value[:100]!r}")
    return int(first), int(last)
