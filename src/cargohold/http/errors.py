"""The one mapping from `RegistryError` to an HTTP response.

Statuses are looked up along the exception's MRO, so a subclass inherits its
parent's status unless it is listed itself.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from cargohold import errors as e

STATUS: dict[type[e.RegistryError], int] = {
    e.RegistryError: 500,
    e.NotFound: 404,
    e.Invalid: 400,
    e.RangeInvalid: 416,
    e.ManifestTooLarge: 413,
    e.Unauthorized: 401,
    e.Denied: 403,
    e.InsufficientScope: 401,
    e.Unsupported: 405,
    e.RouteUnknown: 404,
    e.TooManyRequests: 429,
    e.Conflict: 409,
    e.Unavailable: 503,
    e.NotAcceptable: 406,
}


def status_for(exc: e.RegistryError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500  # pragma: no cover - RegistryError itself is in the table


def error_body(code: str, message: str, detail: Any = None) -> bytes:
    entry: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        entry["detail"] = detail
    return json.dumps({"errors": [entry]}, separators=(",", ":")).encode()


def error_response(exc: e.RegistryError) -> Response:
    return Response(
        error_body(exc.code, exc.text, exc.detail),
        status_code=status_for(exc),
        media_type="application/json",
        headers=exc.headers,
    )


def package_error_response(exc: e.RegistryError, format: str | None) -> Response:
    """The same error in a package client's terms: npm reads ``{"error": ...}``;
    Maven, pip and twine show the status line and a plain-text body."""
    status = status_for(exc)
    headers = dict(exc.headers)
    if format == "npm":
        body = json.dumps({"error": exc.text}).encode()
        return Response(body, status_code=status, media_type="application/json", headers=headers)
    return Response(exc.text + "\n", status_code=status, media_type="text/plain", headers=headers)
