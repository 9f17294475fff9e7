"""npm handlers: the registry API under ``/repository/<name>/`` of an npm repository.

Paths arrive percent-decoded, so a scoped package (``/@scope%2fname``) reads as
``@scope/name``: its name is the first two segments.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cargohold.auth.secrets import parse_secret
from cargohold.core.access import Principal
from cargohold.core.streams import read_limited
from cargohold.errors import RequestInvalid, ResourceUnknown, Unauthorized, Unsupported
from cargohold.formats import npm as fmt
from cargohold.http.auth import client_address
from cargohold.http.context import registry
from cargohold.http.packages.common import absolute_base, packages, raise_unknown, render


def _json(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc).encode(), status_code=status, media_type="application/json")


def _split_package(path: str) -> tuple[str, str]:
    """(package name, what follows it) from a path."""
    parts = path.split("/")
    count = 2 if parts[0].startswith("@") else 1
    if len(parts) < count or not all(parts[:count]):
        raise_unknown(path)
    return "/".join(parts[:count]), "/".join(parts[count:])


async def _document(request: Request, limit: int) -> Any:
    data = await read_limited(request.stream(), limit)
    if data is None:
        raise RequestInvalid(f"the request is larger than the {limit}-byte limit")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nesting too deep to read
        raise RequestInvalid("the request body is not JSON") from None


async def handle(request: Request, caller: Principal, repository: str, path: str) -> Response:
    service = packages(request)
    npm = service.npm
    method = request.method
    if path.startswith("-/"):
        return await _special(request, caller, repository, path[2:])
    package, rest = _split_package(path)
    if rest == "":
        if method in ("GET", "HEAD"):
            accept = request.headers.get("accept")
            corgi = "write" not in request.query_params and fmt.wants_abbreviated(accept)
            base = absolute_base(request, repository)
            served = await npm.packument(caller, repository, package, base, corgi)
            response = render(request, repository, served)
            response.headers["Vary"] = "Accept"
            return response
        if method == "PUT":
            # Who may write is settled before a byte of the (large) body is read.
            await service.repositories.writable(caller, repository, "push")
            limit = registry(request).settings.packages.max_npm_publish_bytes
            document = await _document(request, limit)
            await npm.publish_or_update(caller, repository, package, document)
            return _json({"ok": True, "success": True}, 201)
    elif rest.startswith("-rev/") and method == "PUT":
        await service.repositories.writable(caller, repository, "push")
        limit = registry(request).settings.packages.max_npm_publish_bytes
        document = await _document(request, limit)
        await npm.update(caller, repository, package, document, rest[len("-rev/") :] or None)
        return _json({"ok": True}, 201)
    elif rest.startswith("-rev/") and method == "DELETE":
        await npm.unpublish(caller, repository, package, rest[len("-rev/") :] or None)
        return _json({"ok": True})
    elif rest.startswith("-/"):
        filename, _, tail = rest[2:].partition("/")
        if method in ("GET", "HEAD") and not tail:
            served = await npm.tarball(caller, repository, package, filename)
            return render(request, repository, served)
        if method == "DELETE" and tail.startswith("-rev/"):
            await npm.delete_tarball(caller, repository, package, filename)
            return _json({"ok": True})
    raise Unsupported(f"{method} is not supported on /{path[:200]}")


async def _special(request: Request, caller: Principal, repository: str, path: str) -> Response:
    npm = packages(request).npm
    method = request.method
    if path == "ping" and method == "GET":
        return _json({})
    if path == "whoami" and method == "GET":
        await packages(request).repositories.resolve(caller, repository, "pull")
        if caller.anonymous:
            raise Unauthorized("log in first (npm login)")
        return _json({"username": caller.name})
    if path.startswith("user/org.couchdb.user:") and method == "PUT":
        return await _login(request, repository)
    if path.startswith("user/token/") and method == "DELETE":
        return await _logout(request, caller, path[len("user/token/") :])
    if path == "v1/search" and method == "GET":
        params = request.query_params
        size = _count(params.get("size"), 20, 250)
        offset = _count(params.get("from"), 0, 100000)
        text = params.get("text", "")
        return _json(await npm.search(caller, repository, text, size, offset))
    if path.startswith("package/"):
        package, rest = _split_package(path[len("package/") :])
        if rest == "dist-tags" and method == "GET":
            return _json(await npm.dist_tags(caller, repository, package))
        if rest.startswith("dist-tags/"):
            tag = rest[len("dist-tags/") :]
            if method == "PUT":
                body = await _small_body(request)
                await npm.set_dist_tag(caller, repository, package, tag, body)
                return _json({"ok": True}, 201)
            if method == "DELETE":
                await npm.delete_dist_tag(caller, repository, package, tag)
                return _json({"ok": True})
    raise ResourceUnknown(f"/-/{path[:200]} not found")


def _count(raw: str | None, default: int, limit: int) -> int:
    if raw is None or not raw.isdigit():
        return default
    return min(int(raw), limit)


async def _login(request: Request, repository: str) -> Response:
    """npm's legacy login: the password buys a token for ``_authToken``."""
    doc = await _document(request, 64 * 1024)
    if not isinstance(doc, dict):
        raise RequestInvalid("the login body is a JSON object with name and password")
    name, password = doc.get("name"), doc.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        raise RequestInvalid("the login body needs a name and a password")
    reg = registry(request)
    who = await reg.access.login(name, password, client_address(request))
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    issued = await reg.accounts.create_token(who, f"npm login ({repository}, {stamp})", None, None)
    return _json({"ok": True, "id": f"org.couchdb.user:{name}", "token": issued.secret}, 201)


async def _logout(request: Request, caller: Principal, token: str) -> Response:
    """``npm logout``: ``DELETE /-/user/token/<token>`` with that same token as the
    credentials revokes it. npm keeps the token in its ``.npmrc`` unless this succeeds."""
    if caller.anonymous:
        raise Unauthorized("log in first (npm login)")
    parsed = parse_secret(token)
    if parsed is None or caller.session != f"cred:{parsed.id}":
        raise ResourceUnknown("only the token this request is made with can be logged out")
    await registry(request).accounts.revoke_token(caller, parsed.id)
    return _json({"ok": True})


async def _small_body(request: Request) -> bytes:
    data = await read_limited(request.stream(), 4096)
    if data is None:
        raise RequestInvalid("a dist-tag body is a JSON string holding a version")
    return data
