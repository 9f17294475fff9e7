"""Per-request helpers: the registry services, the repository name, URLs we hand out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request

from cargohold.core.registry import Registry
from cargohold.errors import SizeInvalid
from cargohold.types import check_name, is_count


def registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


def repository(request: Request) -> str:
    """The repository name from the path, validated against the OCI grammar."""
    return check_name(request.path_params["name"])


def url(request: Request, path: str) -> str:
    """A URL for ``path``: relative unless a public base URL is configured."""
    base: str | None = request.app.state.base_url
    return f"{base}{path}" if base else path


def content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not is_count(raw.strip()):
        raise SizeInvalid(f"invalid Content-Length {raw[:50]!r}")
    return int(raw)


def body(request: Request) -> AsyncIterator[bytes]:
    return request.stream()


def query(request: Request, key: str) -> str | None:
    """The first value of a query parameter, as Go's ``URL.Query().Get`` does."""
    values = request.query_params.getlist(key)
    return values[0] if values else None
