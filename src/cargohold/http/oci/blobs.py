"""Blob reads and deletes: ``/v2/<name>/blobs/<digest>``."""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from cargohold.errors import RangeInvalid
from cargohold.http.context import registry, repository
from cargohold.types import Digest


class BlobFileResponse(FileResponse):
    # Starlette reads 64 KiB per worker-thread hop; large reads cut the hops 16-fold
    # when the server cannot send the file itself (no pathsend extension).
    chunk_size = 1024 * 1024


def _check_range(header: str | None, size: int) -> None:
    """Turn an unsatisfiable single range into the OCI error before serving."""
    if not header or not header.startswith("bytes=") or "," in header:
        return
    start, _, end = header[6:].strip().partition("-")
    if start.isdigit() and int(start) >= size:
        raise RangeInvalid(f"range starts beyond the blob's {size} bytes")
    if not start and end.isdigit() and int(end) == 0:
        raise RangeInvalid("empty suffix range")


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
    if location.local_path is not None:
        _check_range(request.headers.get("range"), location.size)
        try:
            stat = os.stat(location.local_path)
        except FileNotFoundError:
            stat = None
        if stat is not None:
            return BlobFileResponse(
                location.local_path,
                stat_result=stat,
                headers=headers,
                media_type="application/octet-stream",
            )
    headers["Content-Length"] = str(location.size)
    return StreamingResponse(
        reg.blobs.read(location), headers=headers, media_type="application/octet-stream"
    )


async def delete_blob(request: Request) -> Response:
    name = repository(request)
    digest = Digest.parse(request.path_params["digest"])
    await registry(request).blobs.delete(name, digest)
    return Response(status_code=202, headers={"Content-Length": "0"})
