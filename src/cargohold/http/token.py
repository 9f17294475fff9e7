"""The Docker token endpoint: ``GET /token`` and the OAuth2 ``POST /token``.

A client authenticates (Basic, a refresh token, or nobody) and asks for scopes; it
gets a signed token for the intersection of what it asked and what it may do. A
partial or empty grant is not an error (distribution's token spec).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from cargohold.auth.scopes import Access, merge, parse_scope
from cargohold.core.access import ALL_ACTIONS, ANONYMOUS, Principal
from cargohold.core.registry import Registry
from cargohold.errors import Invalid, RequestInvalid, Unauthorized
from cargohold.http.auth import basic_credentials, client_address
from cargohold.types import check_name

_MAX_SCOPES = 50
_MAX_FORM = 16 * 1024
_BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="cargohold"'}


def _registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


def _json(doc: dict[str, object]) -> Response:
    return Response(
        json.dumps(doc).encode(),
        media_type="application/json",
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _check_service(reg: Registry, service: str | None) -> None:
    if service and service != reg.settings.auth.service:
        raise RequestInvalid(
            f"unknown service {service[:100]!r}; this is {reg.settings.auth.service!r}"
        )


async def _grant(reg: Registry, principal: Principal, wanted: list[Access]) -> list[Access]:
    granted: list[Access] = []
    for item in merge(wanted[:_MAX_SCOPES]):
        asked = ALL_ACTIONS if "*" in item.actions else item.actions & ALL_ACTIONS
        if item.type == "repository":
            try:
                check_name(item.name)
            except Invalid:
                continue
            actions = asked & await reg.access.actions(principal, item.name)
        elif item.type == "registry" and item.name == "catalog" and "*" in item.actions:
            actions = (
                frozenset({"*"}) if await reg.access.may_list_catalog(principal) else frozenset()
            )
        elif item.type == "registry" and item.name == "account" and "*" in item.actions:
            # The management API as the principal itself (its own scopes still apply).
            actions = frozenset() if principal.anonymous else frozenset({"*"})
        else:
            continue
        if actions:
            granted.append(Access(item.type, item.name, frozenset(actions)))
    return granted


async def _issue(
    reg: Registry, principal: Principal, wanted: list[Access], offline: bool
) -> tuple[dict[str, object], list[Access]]:
    granted = await _grant(reg, principal, wanted)
    ttl = reg.settings.auth.token_ttl_seconds
    token, issued = reg.token_signer().issue(principal.name, granted, ttl, principal.session)
    doc: dict[str, object] = {
        "token": token,
        "access_token": token,
        "expires_in": ttl,
        "issued_at": datetime.fromtimestamp(issued, UTC).isoformat().replace("+00:00", "Z"),
    }
    if offline and not principal.anonymous:
        doc["refresh_token"] = await reg.access.issue_refresh(principal)
    return doc, granted


async def get_token(request: Request) -> Response:
    reg = _registry(request)
    _check_service(reg, request.query_params.get("service"))
    creds = basic_credentials(request)
    principal = ANONYMOUS
    if creds is not None:
        try:
            principal = await reg.access.login(creds[0], creds[1], client_address(request))
        except Unauthorized as exc:
            exc.headers.update(_BASIC_CHALLENGE)
            raise
    elif not await reg.access.may_list_catalog(ANONYMOUS):
        raise Unauthorized(
            "this registry does not allow anonymous access", headers=_BASIC_CHALLENGE
        )
    wanted = [a for s in request.query_params.getlist("scope") for a in parse_scope(s)]
    offline = request.query_params.get("offline_token", "").lower() == "true"
    doc, _ = await _issue(reg, principal, wanted, offline)
    return _json(doc)


async def _form(request: Request) -> dict[str, str]:
    """A small url-encoded form (the first value of each field)."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_FORM:
            raise RequestInvalid("form too large")
    fields: dict[str, str] = {}
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, max_num_fields=30)
    except (UnicodeDecodeError, ValueError):
        raise RequestInvalid("malformed form") from None
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


async def post_token(request: Request) -> Response:
    reg = _registry(request)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise RequestInvalid("POST /token takes an application/x-www-form-urlencoded form")
    fields = await _form(request)
    _check_service(reg, fields.get("service"))
    grant_type = fields.get("grant_type")
    address = client_address(request)
    if grant_type == "password":
        principal = await reg.access.login(
            fields.get("username", ""), fields.get("password", ""), address
        )
    elif grant_type == "refresh_token":
        principal = await reg.access.refresh(fields.get("refresh_token", ""), address)
    else:
        raise RequestInvalid("grant_type must be password or refresh_token")
    offline = fields.get("access_type") == "offline"
    doc, granted = await _issue(reg, principal, parse_scope(fields.get("scope", "")), offline)
    if grant_type == "refresh_token" and not offline:
        doc["refresh_token"] = fields["refresh_token"]  # the spec: the same one back
    doc["scope"] = " ".join(a.scope() for a in granted)
    del doc["token"]
    return _json(doc)
