"""Blob reads and deletes: ``/v2/<name>/blobs/<digest>``."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from cargohold.errors import BlobUnknown, RangeInvalid
from cargohold.http.context import registry, repository
from cargohold.storage.driver import PathNotFound
from cargohold.types import Digest

# Blobs up to this size are handed to the server to send (ASGI pathsend); larger
# ones are streamed from the storage driver in its 1 MiB reads. Measured here
# (benchmarks/run.py, blob-pull: 8 x 256 MiB from the page cache), granian 2.8's
# pathsend, which reads 128 KiB per blocking-pool hop, ran at 0.67x the reference
# registry and streaming at 1.3-1.4x, with less server CPU. Memory stays bounded:
# the 1 GiB push-and-pull test peaks around 133 MiB for both processes.
SEND_FILE_MAX = 1024 * 1024


class BlobFileResponse(FileResponse):
    # Starlette reads 64 KiB per worker-thread hop; large reads cut the hops 16-fold
    # when the server cannot send the file itself (no pathsend extension).
    chunk_size = 1024 * 1024


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
        yield first
        async for chunk in chunks:
            yield chunk

    return rest()


_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")


def _range_or_none(request: Request, size: int) -> None:
    """Check a ``Range`` header before the file response sees it.

    A single satisfiable range goes through; one that starts past the end gets the
    OCI 416 error with ``Content-Range: bytes */size``; anything else (several
    ranges, bad syntax) is dropped and the whole blob served, as RFC 9110 allows.
    """
    header = request.headers.get("range")
    if header is None:
        return
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
    ranged = "range" in request.headers
    if location.local_path is not None and (ranged or location.size <= SEND_FILE_MAX):
        _range_or_none(request, location.size)
        try:
            stat = os.stat(location.local_path)
        except FileNotFoundError:  # removed since locate(): gone, not half-sent
            raise BlobUnknown(detail={"digest": str(digest)}) from None
        return BlobFileResponse(
            location.local_path,
            stat_result=stat,
            headers=headers,
            media_type="application/octet-stream",
        )
    headers["Content-Length"] = str(location.size)
    return StreamingResponse(
        await _opened(reg.blobs.read(location), digest),
        headers=headers,
        media_type="application/octet-stream",
    )


async def delete_blob(request: Request) -> Response:
    name = repository(request)
    digest = Digest.parse(request.path_params["digest"])
    await registry(request).blobs.delete(name, digest)
    return Response(status_code=202, headers={"Content-Length": "0"})
