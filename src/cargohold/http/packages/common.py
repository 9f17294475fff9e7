"""What every package format's handlers share: who is calling, and responses."""

from __future__ import annotations

import os
from email.utils import format_datetime
from typing import NoReturn

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from cargohold.core.access import ANONYMOUS, Principal
from cargohold.errors import ResourceUnknown, Unauthorized
from cargohold.http.auth import authenticate, basic_credentials, client_address, narrowed
from cargohold.http.context import registry
from cargohold.packages.served import Served
from cargohold.packages.service import Packages

BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="cargohold"'}


class PackageFileResponse(FileResponse):
    chunk_size = 1024 * 1024


def raise_unknown(path: str) -> NoReturn:
    raise ResourceUnknown(f"/{path[:200]} not found")


def packages(request: Request) -> Packages:
    found: Packages = request.app.state.packages
    return found


async def principal(request: Request) -> Principal:
    """The caller: HTTP Basic (password or generated secret), a bare generated
    secret as ``Bearer`` (npm's ``_authToken``), or a bearer token from /token."""
    reg = registry(request)
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS
    scheme, _, value = header.partition(" ")
    try:
        if scheme.lower() == "bearer" and value.strip().startswith("ch"):
            return await reg.access.login_secret(value.strip(), client_address(request))
        if scheme.lower() == "bearer":
            return narrowed(*await authenticate(request))
        creds = basic_credentials(request)
        if creds is None:
            raise Unauthorized("unsupported authorization scheme")
        return await reg.access.login(creds[0], creds[1], client_address(request))
    except Unauthorized as exc:
        exc.headers = dict(BASIC_CHALLENGE)
        raise


def base_path(request: Request, repository: str) -> str:
    """The repository's root URL path, with the public base URL if one is set."""
    base: str | None = request.app.state.base_url
    root = f"{request.scope.get('root_path', '')}/repository/{repository}/"
    return f"{base}{root}" if base else root


def absolute_base(request: Request, repository: str) -> str:
    """An absolute root URL for documents clients resolve elsewhere (npm tarballs)."""
    base: str | None = request.app.state.base_url
    if base is None:
        host = request.headers.get("host", request.url.netloc)
        base = f"{request.url.scheme}://{host}"
    return f"{base}/repository/{repository}/"


# Package files are whatever users uploaded: never let a browser run them on the
# registry's origin (an .html or .svg "artifact" with a script in it).
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}


def render(request: Request, repository: str, served: Served) -> Response:
    if served.redirect is not None:
        return RedirectResponse(base_path(request, repository) + served.redirect, served.status)
    headers: dict[str, str] = dict(SAFE_HEADERS)
    if served.modified is not None:
        headers["Last-Modified"] = format_datetime(served.modified, usegmt=True)
    if served.etag:
        headers["ETag"] = f'"{served.etag}"'
        wanted = request.headers.get("if-none-match")
        if wanted is not None and f'"{served.etag}"' in [t.strip() for t in wanted.split(",")]:
            return Response(status_code=304, headers=headers)
    if served.data is not None:
        return Response(
            b"" if request.method == "HEAD" else served.data,
            status_code=served.status,
            media_type=served.content_type,
            headers={**headers, "Content-Length": str(len(served.data))},
        )
    assert served.digest is not None
    files = packages(request).files
    local = files.local_path(served.digest)
    stat = None
    if local is not None:
        try:
            stat = os.stat(local)
        except FileNotFoundError:
            raise ResourceUnknown("the file's content is missing from storage") from None
    if request.method == "HEAD":
        headers["Content-Length"] = str(served.size)
        return Response(status_code=200, headers=headers, media_type=served.content_type)
    if local is not None:
        return PackageFileResponse(
            local, stat_result=stat, headers=headers, media_type=served.content_type
        )
    headers["Content-Length"] = str(served.size)
    return StreamingResponse(
        files.reader(served.digest), headers=headers, media_type=served.content_type
    )
