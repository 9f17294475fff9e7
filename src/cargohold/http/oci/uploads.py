"""Blob uploads: ``/v2/<name>/blobs/uploads/[<id>]``.

POST opens an upload (or finishes one in a single request with ``?digest=``, or
mounts a blob from another repository); PATCH adds chunks; PUT closes it with the
digest; GET reports progress; DELETE cancels.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.core.uploads import UploadStatus, parse_content_range
from cargohold.errors import DigestInvalid
from cargohold.http.auth import may, may_mount_anywhere
from cargohold.http.context import body, content_length, query, registry, repository, url
from cargohold.types import Digest, check_name


def _progress(request: Request, status: UploadStatus, code: int) -> Response:
    end = max(status.size - 1, 0)
    return Response(
        status_code=code,
        headers={
            "Location": url(request, f"/v2/{status.repository}/blobs/uploads/{status.upload_id}"),
            "Range": f"0-{end}",
            "Docker-Upload-UUID": status.upload_id,
            "Content-Length": "0",
        },
    )


def _created(request: Request, name: str, digest: Digest) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": url(request, f"/v2/{name}/blobs/{digest}"),
            "Docker-Content-Digest": str(digest),
            "Content-Length": "0",
        },
    )


async def start_upload(request: Request) -> Response:
    name = repository(request)
    reg = registry(request)
    await reg.repositories.prepare_push(name)
    mount = query(request, "mount")
    if mount is not None:
        digest = Digest.parse(mount)
        source = query(request, "from")
        if source is not None:
            check_name(source)
            allowed = await may(request, source, "pull")
        else:
            allowed = await may_mount_anywhere(request)
        if allowed and await reg.blobs.mount(name, digest, source):
            return _created(request, name, digest)
        # Not mountable: the spec says to fall back to a regular upload session.
    raw_digest = query(request, "digest")
    if raw_digest is not None:
        digest = Digest.parse(raw_digest)
        await reg.uploads.monolithic(name, digest, body(request), content_length(request))
        return _created(request, name, digest)
    status = await reg.uploads.start(name)
    return _progress(request, status, 202)


async def patch_upload(request: Request) -> Response:
    name = repository(request)
    raw_range = request.headers.get("content-range")
    status = await registry(request).uploads.append(
        name,
        request.path_params["upload_id"],
        body(request),
        parse_content_range(raw_range) if raw_range else None,
        content_length(request),
    )
    return _progress(request, status, 202)


async def finish_upload(request: Request) -> Response:
    name = repository(request)
    raw_digest = query(request, "digest")
    if raw_digest is None:
        raise DigestInvalid("the digest query parameter is required to finish an upload")
    digest = Digest.parse(raw_digest)
    raw_range = request.headers.get("content-range")
    length = content_length(request)
    await registry(request).uploads.complete(
        name,
        request.path_params["upload_id"],
        digest,
        None if length == 0 else body(request),
        parse_content_range(raw_range) if raw_range else None,
        length,
    )
    return _created(request, name, digest)


async def upload_status(request: Request) -> Response:
    name = repository(request)
    status = await registry(request).uploads.status(name, request.path_params["upload_id"])
    return _progress(request, status, 204)


async def cancel_upload(request: Request) -> Response:
    name = repository(request)
    await registry(request).uploads.cancel(name, request.path_params["upload_id"])
    return Response(status_code=204)
