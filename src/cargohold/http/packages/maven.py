"""Maven handlers: any path under ``/repository/<name>/`` of a Maven repository."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.core.access import Principal
from cargohold.errors import Unsupported
from cargohold.http.context import content_length
from cargohold.http.packages.common import packages, render


async def handle(request: Request, caller: Principal, repository: str, path: str) -> Response:
    maven = packages(request).maven
    method = request.method
    if method in ("GET", "HEAD"):
        return render(request, repository, await maven.get(caller, repository, path))
    if method == "PUT":
        await maven.put(caller, repository, path, request.stream(), content_length(request))
        return Response(status_code=201, headers={"Content-Length": "0"})
    if method == "DELETE":
        await maven.delete(caller, repository, path)
        return Response(status_code=204)
    raise Unsupported(
        f"{method} is not supported here", headers={"Allow": "GET, HEAD, PUT, DELETE"}
    )
