"""Manifests: ``/v2/<name>/manifests/<reference>`` by tag or digest."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.errors import ManifestUnknown
from cargohold.formats.manifests import MANIFEST_TYPES, SCHEMA1_TYPES
from cargohold.http.context import body, registry, repository, url
from cargohold.types import Reference

_NEGOTIATED = MANIFEST_TYPES | SCHEMA1_TYPES


def _check_accept(header: str | None, media_type: str) -> None:
    """Refuse only when the client lists manifest types and ours is not among them.

    Like distribution: a client that says nothing, or accepts anything, gets the
    manifest as stored; one that names only other manifest types gets 404 rather
    than content it cannot parse.
    """
    if not header:
        return
    accepted = {part.split(";", 1)[0].strip().lower() for part in header.split(",")}
    listed = accepted & _NEGOTIATED
    if not listed or media_type in accepted or "*/*" in accepted:
        return
    raise ManifestUnknown(
        f"manifest is {media_type}, which the Accept header does not allow",
        detail={"mediaType": media_type},
    )


async def get_manifest(request: Request) -> Response:
    name = repository(request)
    reference = Reference.parse(request.path_params["reference"])
    reg = registry(request)
    record = await reg.manifests.resolve(name, reference)
    # Go clients send one Accept line per type; repeated lines form one list.
    _check_accept(", ".join(request.headers.getlist("accept")), record.media_type)
    headers = {
        "Docker-Content-Digest": record.digest,
        "ETag": f'"{record.digest}"',
        "Content-Length": str(record.size),
    }
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers, media_type=record.media_type)
    content = await reg.manifests.content(record)
    reg.pulls.record(name, record.digest, reference.tag)
    return Response(content, headers=headers, media_type=record.media_type)


async def put_manifest(request: Request) -> Response:
    name = repository(request)
    reference = Reference.parse(request.path_params["reference"])
    reg = registry(request)
    await reg.repositories.prepare_push(name)
    pushed = await reg.manifests.put(
        name, reference, body(request), request.headers.get("content-type", "")
    )
    headers = {
        "Location": url(request, f"/v2/{name}/manifests/{pushed.digest}"),
        "Docker-Content-Digest": str(pushed.digest),
        "Content-Length": "0",
    }
    if pushed.subject:
        headers["OCI-Subject"] = pushed.subject
    response = Response(status_code=201, headers=headers)
    for (
        warning
    ) in pushed.warnings:  # RFC 9111's Warning (skopeo 1.9 does not show it; curl -v and logs do)
        response.headers.append("Warning", f'299 - "{warning}"')
    return response


async def delete_manifest(request: Request) -> Response:
    name = repository(request)
    reference = Reference.parse(request.path_params["reference"])
    principal = request.scope.get("principal")
    await registry(request).manifests.delete(name, reference, principal.name if principal else "")
    return Response(status_code=202, headers={"Content-Length": "0"})
