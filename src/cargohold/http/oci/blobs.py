"""Blob reads and deletes: ``/v2/<name>/blobs/<digest>``."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from cargohold.errors import BlobUnknown, RangeInvalid
from cargohold.http.context import registry, repository
from cargohold.storage.driver import PathNotFound
from cargohold.types import Digest

# Blobs up to this size are handed to the server to send (ASGI pathsend); larger
# ones are streamed from the storage driver in its 1 MiB reads. Measured here
# (benchmarks/run.py, blob-pull: 8 x 256 MiB from the page cache), granian 2.8's
# pathsend, which reads 128 KiB per blocking-pool hop, ran at 0.67x the reference
# registry and streaming at 1.3-1.4x, with less server CPU.
SEND_FILE_MAX = 1024 * 1024
# But granian buffers a few chunks of a streamed body per connection, 5-7 MiB for a
# client that stops reading, against well under 1 MiB for pathsend. So only this
# many pulls per process stream at a time; the rest are sent as files, and a crowd
# of slow clients cannot take the worker's memory.
MAX_STREAMED_PULLS = 4


class _StreamSlots:
    """How many pulls this process is streaming. The event loop is one thread, so a
    plain counter is enough."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def take(self) -> bool:
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def give_back(self) -> None:
        self.taken -= 1


STREAM_SLOTS = _StreamSlots(MAX_STREAMED_PULLS)


class BlobFileResponse(FileResponse):
    # Starlette reads 64 KiB per worker-thread hop; large reads cut the hops 16-fold
    # when the server cannot send the file itself (no pathsend extension).
    chunk_size = 1024 * 1024


class BlobStreamResponse(StreamingResponse):
    """A streamed blob that closes its source, and gives back its slot if it holds
    one, however the response ends. Starlette abandons the body iterator when the
    client goes away; left to the cycle collector, its open file would outlive the
    request."""

    def __init__(
        self, chunks: AsyncIterator[bytes], slot: _StreamSlots | None, **kwargs: Any
    ) -> None:
        super().__init__(chunks, **kwargs)
        self._chunks = chunks
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                await self._chunks.aclose()  # type: ignore[attr-defined]
            finally:
                if self._slot is not None:
                    self._slot.give_back()


async def _opened(chunks: AsyncIterator[bytes], digest: Digest) -> AsyncIterator[bytes]:
    """``chunks`` with its first one already read, so a blob removed since it was
    located is a clean 404 rather than a response cut off after its headers."""
    try:
        first = await anext(chunks)
    except PathNotFound:
        raise BlobUnknown(detail={"digest": str(digest)}) from None
    except StopAsyncIteration:
        first = b""

    async def rest() -> AsyncIterator[bytes]:
        try:
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    return rest()


_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")


def _range_or_none(request: Request, size: int) -> re.Match[str] | None:
    """Check a ``Range`` header before the file response sees it; the range, if it
    is to be honoured.

    A single satisfiable range goes through; one that starts past the end gets the
    OCI 416 error with ``Content-Range: bytes */size``; anything else (several
    ranges, bad syntax) is dropped and the whole blob served, as RFC 9110 allows.
    """
    header = request.headers.get("range")
    if header is None:
        return None
    found = _RANGE.match(header.strip())
    valid = False
    if found:
        first, last = found.groups()
        if first and (not last or int(last) >= int(first)):
            if int(first) >= size:
                raise RangeInvalid(
                    f"range starts beyond the blob's {size} bytes",
                    headers={"Content-Range": f"bytes */{size}"},
                )
            valid = True
        elif not first and last and int(last) > 0:
            valid = True
    if not valid:
        request.scope["headers"] = [
            (k, v) for k, v in request.scope["headers"] if k.lower() != b"range"
        ]
        return None
    return found


async def get_blob(request: Request) -> Response:
    name = repository(request)
    digest = Digest.parse(request.path_params["digest"])
    reg = registry(request)
    location = await reg.blobs.locate(name, digest)
    headers = {
        "Docker-Content-Digest": str(digest),
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
        "Accept-Ranges": "bytes",
    }
    if request.method == "HEAD":
        headers["Content-Length"] = str(location.size)
        return Response(status_code=200, headers=headers, media_type="application/octet-stream")
    if location.content is not None:
        return _bytes_response(request, location.content, digest, headers)
    slot = None
    if location.local_path is not None:
        if "range" in request.headers or location.size <= SEND_FILE_MAX or not STREAM_SLOTS.take():
            return _file_response(request, location.local_path, location.size, digest, headers)
        slot = STREAM_SLOTS
    try:
        chunks = await _opened(reg.blobs.read(location), digest)
    except BaseException:
        if slot is not None:
            slot.give_back()
        raise
    headers["Content-Length"] = str(location.size)
    return BlobStreamResponse(chunks, slot, headers=headers, media_type="application/octet-stream")


def _file_response(
    request: Request, path: str, size: int, digest: Digest, headers: dict[str, str]
) -> Response:
    """Small blobs and ranges: Starlette's file response (pathsend for whole files)."""
    _range_or_none(request, size)
    try:
        stat = os.stat(path)
    except FileNotFoundError:  # removed since locate(): gone, not half-sent
        raise BlobUnknown(detail={"digest": str(digest)}) from None
    return BlobFileResponse(
        path, stat_result=stat, headers=headers, media_type="application/octet-stream"
    )


def _bytes_response(
    request: Request, data: bytes, digest: Digest, headers: dict[str, str]
) -> Response:
    """A small blob kept in the metadata store, whole or one range of it (the same
    rules as `_range_or_none`)."""
    size = len(data)
    found = _range_or_none(request, size)
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != headers["ETag"]:
        found = None  # the client's copy is another: it gets the whole blob (RFC 9110)
    if found is None:
        return Response(data, headers=headers, media_type="application/octet-stream")
    first, last = found.groups()
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:  # the last N bytes
        start, end = max(size - int(last), 0), size - 1
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(
        data[start : end + 1],
        status_code=206,
        headers=headers,
        media_type="application/octet-stream",
    )


async def delete_blob(request: Request) -> Response:
    name = repository(request)
    digest = Digest.parse(request.path_params["digest"])
    await registry(request).blobs.delete(name, digest)
    return Response(status_code=202, headers={"Content-Length": "0"})
