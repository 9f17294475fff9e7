"""Content discovery: tags list, catalog and referrers."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from cargohold.core.listings import page_size
from cargohold.formats.manifests import OCI_INDEX
from cargohold.http.auth import visible_to
from cargohold.http.context import query, registry, repository, url
from cargohold.types import Digest, check_name, check_tag


def _json(doc: object, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(doc, separators=(",", ":")).encode(),
        media_type="application/json",
        headers=headers,
    )


def _next_link(request: Request, path: str, n: int | None, last: str) -> dict[str, str]:
    params = {"last": last} if n is None else {"n": str(n), "last": last}
    return {"Link": f'<{url(request, path)}?{urlencode(params)}>; rel="next"'}


async def list_tags(request: Request) -> Response:
    name = repository(request)
    n = page_size(query(request, "n"), None)
    last = query(request, "last")
    if last is not None:
        check_tag(last)
    page = await registry(request).listings.tags(name, n, last)
    headers = {}
    if page.more and page.items:
        headers = _next_link(request, f"/v2/{name}/tags/list", n, page.items[-1])
    return _json({"name": name, "tags": page.items}, headers)


async def catalog(request: Request) -> Response:
    n = page_size(query(request, "n"), None)
    last = query(request, "last")
    if last is not None:
        check_name(last)
    page = await registry(request).listings.catalog(n, last, await visible_to(request))
    headers = {}
    if page.more and page.items:
        headers = _next_link(request, "/v2/_catalog", n, page.items[-1])
    return _json({"repositories": page.items}, headers)


async def referrers(request: Request) -> Response:
    name = repository(request)
    subject = Digest.parse(request.path_params["digest"])
    artifact_type = query(request, "artifactType") or None
    content = await registry(request).listings.referrers(name, subject, artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return Response(content, media_type=OCI_INDEX, headers=headers)
