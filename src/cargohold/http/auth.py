"""Authentication and authorisation of each request, before its handler runs.

Credentials arrive as HTTP Basic (a password or one of our generated secrets) or as
a bearer token from ``/token``. A bearer token carries its grants; a Basic request
is checked against the principal's rights directly. Each route needs one action on
its repository; a caller without it gets the challenge that sends docker to the
token endpoint (anonymous) or DENIED (logged in, not allowed).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace

from starlette.requests import Request

from cargohold.auth.tokens import InvalidToken, TokenClaims
from cargohold.core.access import ANONYMOUS, Principal
from cargohold.core.registry import Registry
from cargohold.errors import Denied, InsufficientScope, Unauthorized
from cargohold.http import route_names as r
from cargohold.metadata.accounts import ScopeGrant
from cargohold.types import check_name

# The action each route needs on the repository in its path.
ACTIONS: dict[tuple[str, str], str] = {
    (r.TAGS, "GET"): "pull",
    (r.MANIFEST, "GET"): "pull",
    (r.MANIFEST, "HEAD"): "pull",
    (r.MANIFEST, "PUT"): "push",
    (r.MANIFEST, "DELETE"): "delete",
    (r.BLOB, "GET"): "pull",
    (r.BLOB, "HEAD"): "pull",
    (r.BLOB, "DELETE"): "delete",
    (r.UPLOAD_START, "POST"): "push",
    (r.UPLOAD, "GET"): "push",
    (r.UPLOAD, "PATCH"): "push",
    (r.UPLOAD, "PUT"): "push",
    (r.UPLOAD, "DELETE"): "push",
    (r.REFERRERS, "GET"): "pull",
}
# Docker asks for pull and push together before a push; so does our challenge.
_CHALLENGE_ACTIONS = {"pull": "pull", "push": "pull,push", "delete": "delete"}
_VERIFIED_CACHE = 4096


def _registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


def realm(request: Request) -> str:
    base: str | None = request.app.state.base_url
    if base is None:
        base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    return f"{base}/token"


def challenge(request: Request, scope: str | None, error: str | None = None) -> dict[str, str]:
    service = _registry(request).settings.auth.service
    value = f'Bearer realm="{realm(request)}",service="{service}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return {"WWW-Authenticate": value}


def client_address(request: Request) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthorized("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise Unauthorized("malformed Basic credentials")
    return username, password


class TokenCache:
    """Verified bearer tokens, so each is checked for its signature once per process."""

    def __init__(self) -> None:
        self._claims: OrderedDict[str, TokenClaims] = OrderedDict()

    def verify(self, registry: Registry, token: str) -> TokenClaims:
        claims = self._claims.get(token)
        if claims is None:
            claims = registry.token_signer().verify(token)
            self._claims[token] = claims
            if len(self._claims) > _VERIFIED_CACHE:
                self._claims.popitem(last=False)
        elif claims.expires_at + 5 < time.time():
            del self._claims[token]
            raise InvalidToken("token expired")
        return claims


async def authenticate(request: Request) -> tuple[Principal, TokenClaims | None]:
    """Who sent the request, and the token's claims if it came with one."""
    reg = _registry(request)
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS, None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        cache: TokenCache = request.app.state.token_cache
        try:
            claims = cache.verify(reg, value.strip())
        except InvalidToken:
            raise Unauthorized(
                "invalid or expired token", headers=challenge(request, None, "invalid_token")
            ) from None
        principal = await reg.access.session_valid(
            claims.subject, claims.session, claims.issued_at_ms
        )
        if principal is None:
            raise Unauthorized(
                "the credentials behind this token were revoked or changed",
                headers=challenge(request, None, "invalid_token"),
            )
        return principal, claims
    creds = basic_credentials(request)
    if creds is None:
        raise Unauthorized("unsupported authorization scheme", headers=challenge(request, None))
    try:
        principal = await reg.access.login(creds[0], creds[1], client_address(request))
    except Unauthorized as exc:
        exc.headers.update(challenge(request, None))
        raise
    return principal, None


def narrowed(principal: Principal, claims: TokenClaims | None) -> Principal:
    """The principal a bearer token acts as outside ``/v2/`` (the management API,
    package repositories): exactly the repository grants it carries, unless it was
    issued with ``registry:account:*``. A leaked pull token stays a pull token."""
    if claims is None or any(
        a.type == "registry" and a.name == "account" and "*" in a.actions for a in claims.access
    ):
        return principal
    grants = tuple(
        ScopeGrant(a.name, tuple(sorted(a.actions)))
        for a in claims.access
        if a.type == "repository"
    )
    return replace(principal, scopes=grants)


def _granted(claims: TokenClaims, type_: str, name: str) -> frozenset[str]:
    actions: set[str] = set()
    for a in claims.access:
        if a.type == type_ and a.name == name:
            actions.update(a.actions)
    return frozenset(actions)


async def authorize(request: Request, route: str) -> None:
    """Raise unless the caller may do what the request asks; remember who it is."""
    reg = _registry(request)
    if await reg.access.setup_mode():
        return
    principal, claims = await authenticate(request)
    request.scope["principal"] = principal
    request.scope["claims"] = claims
    if route == r.BASE:
        if principal.anonymous:
            raise Unauthorized(headers=challenge(request, None))
        return
    if route == r.CATALOG:
        if claims is not None:
            allowed = "*" in _granted(claims, "registry", "catalog")
        else:
            allowed = await reg.access.may_list_catalog(principal)
        if not allowed:
            _refuse(request, principal, "registry:catalog:*")
        return
    action = ACTIONS.get((route, request.method))
    if action is None:
        return  # the dispatcher answers unsupported methods
    name = check_name(request.path_params["name"])
    if not await may(request, name, action):
        _refuse(request, principal, f"repository:{name}:{_CHALLENGE_ACTIONS[action]}")


def _refuse(request: Request, principal: Principal, scope: str) -> None:
    """Anonymous: the challenge that sends a client to log in. Logged in: DENIED,
    with a message naming what was refused (docker shows the message, and treats
    the spec's default text as a bare code it retries on)."""
    if principal.anonymous:
        raise Unauthorized(headers=challenge(request, scope))
    what = scope.split(":", 1)[1] if scope.startswith("repository:") else scope
    message = f"requested access to the resource is denied ({what})"
    if request.scope.get("claims") is not None:
        raise InsufficientScope(message, headers=challenge(request, scope, "insufficient_scope"))
    raise Denied(message)


async def may(request: Request, name: str, action: str) -> bool:
    """Whether the authorised caller of this request may ``action`` on ``name``."""
    reg = _registry(request)
    if await reg.access.setup_mode():
        return True
    claims: TokenClaims | None = request.scope.get("claims")
    if claims is not None:
        granted = _granted(claims, "repository", name)
        return action in granted or "*" in granted
    principal: Principal = request.scope.get("principal", ANONYMOUS)
    return action in await reg.access.actions(principal, name)


async def may_mount_anywhere(request: Request) -> bool:
    """Mounting without ``from`` reveals whether a digest exists anywhere: only in
    setup mode and for administrators."""
    if await _registry(request).access.setup_mode():
        return True
    principal: Principal = request.scope.get("principal", ANONYMOUS)
    return principal.is_admin


async def visible_to(request: Request) -> Callable[[str], Awaitable[bool]] | None:
    """A filter for repository listings: what the caller may pull (None: everything)."""
    reg = _registry(request)
    if await reg.access.setup_mode():
        return None
    principal: Principal = request.scope.get("principal", ANONYMOUS)
    if principal.is_admin:
        return None

    async def visible(name: str) -> bool:
        return "pull" in await reg.access.actions(principal, name)

    return visible
