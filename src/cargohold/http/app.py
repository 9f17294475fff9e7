"""The ASGI application: a small dispatcher in the manner of distribution's.

Per request: match the route, pick the handler for the method, call it, and turn
any `RegistryError` into the OCI envelope (through `http.errors`, the only place
that knows statuses). Starlette supplies the request and response objects; its
router and middleware stack are not used, because on a registry's hot paths
(manifest GET/HEAD, blob HEAD) they cost as much as the work itself.
"""

from __future__ import annotations

import contextlib
import logging
from types import SimpleNamespace
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from cargohold.config import Settings
from cargohold.core.registry import Registry
from cargohold.errors import RegistryError, RouteUnknown, Unsupported
from cargohold.http.api.routes import PREFIX as API_PREFIX
from cargohold.http.api.routes import dispatch as api_dispatch
from cargohold.http.auth import TokenCache, authorize
from cargohold.http.errors import error_body, error_response
from cargohold.http.packages.router import PREFIX as PACKAGES_PREFIX
from cargohold.http.packages.router import dispatch as packages_dispatch
from cargohold.http.route_names import TOKEN
from cargohold.http.routes import ROUTES, match
from cargohold.packages.service import Packages

log = logging.getLogger(__name__)

API_VERSION_HEADER = (b"docker-distribution-api-version", b"registry/2.0")


class RegistryApp:
    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.registry = registry
        # Handlers reach shared objects through ``request.app.state``, as in Starlette.
        self.state = SimpleNamespace(
            registry=registry,
            base_url=settings.http.base_url.rstrip("/") if settings.http.base_url else None,
            token_cache=TokenCache(),
            packages=Packages.build(registry),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        response: Response
        try:
            response = await self._dispatch(scope, receive)
        except RegistryError as exc:
            response = error_response(exc)
        except ClientDisconnect:
            # The client hung up mid-body; the service already rolled back its bytes.
            return
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"][:200])
            response = Response(
                error_body("UNKNOWN", "internal server error"),
                status_code=500,
                media_type="application/json",
            )
        response.raw_headers.append(API_VERSION_HEADER)
        with contextlib.suppress(ClientDisconnect):  # gone while the body was sent
            await response(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive) -> Response:
        if scope["path"].startswith(API_PREFIX + "/"):
            return await api_dispatch(Request(scope, receive))
        if scope["path"].startswith(PACKAGES_PREFIX):
            return await packages_dispatch(Request(scope, receive))
        found = match(scope["path"])
        if found is None:
            raise RouteUnknown(f"no such endpoint: {scope['path'][:200]}")
        handlers = ROUTES[found.route]
        method = scope["method"]
        handler = handlers.get(method)
        if handler is None and method == "HEAD" and "GET" in handlers:
            handler = handlers["GET"]
        if handler is None:
            raise Unsupported(
                f"method {method} is not supported on {found.route}",
                headers={"Allow": ", ".join(sorted(handlers))},
            )
        scope["path_params"] = found.params
        request = Request(scope, receive)
        if found.route != TOKEN:
            await authorize(request, found.route)
        return await handler(request)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: Any = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.registry.open()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.registry.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: Settings, registry: Registry) -> RegistryApp:
    return RegistryApp(settings, registry)
