"""Build the ASGI application: no module-level state, everything passed in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cargohold.config import Settings
from cargohold.core.registry import Registry
from cargohold.errors import RegistryError
from cargohold.http.errors import error_body, handle_registry_error, handle_unexpected
from cargohold.http.routes import routes

API_VERSION_HEADER = (b"docker-distribution-api-version", b"registry/2.0")


class ApiVersionHeader:
    """Adds ``Docker-Distribution-API-Version`` to every response (a raw ASGI wrapper:
    Starlette's BaseHTTPMiddleware would copy every body chunk through a queue)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), API_VERSION_HEADER]
            await send(message)

        await self.app(scope, receive, send_with_header)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        message = f"method {request.method} is not supported here"
    else:
        message = f"no such endpoint: {request.url.path[:200]}"
    return Response(
        error_body("UNSUPPORTED", message),
        status_code=exc.status_code,
        media_type="application/json",
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client hung up mid-body; whatever it sent was rolled back by the service.
    return Response(error_body("BLOB_UPLOAD_INVALID", "client disconnected"), status_code=400)


def create_app(settings: Settings, registry: Registry) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await registry.open()
        try:
            yield
        finally:
            await registry.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            RegistryError: handle_registry_error,
            HTTPException: _http_exception,
            ClientDisconnect: _client_gone,
            Exception: handle_unexpected,
        },
    )
    app.state.registry = registry
    app.state.base_url = settings.http.base_url.rstrip("/") if settings.http.base_url else None
    return ApiVersionHeader(app)
