"""Management API handlers: parse the body, call `core.accounts`, shape the answer."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from cargohold.core.access import ANONYMOUS, Principal
from cargohold.core.accounts import IssuedSecret, parse_scope_grants
from cargohold.core.registry import Registry
from cargohold.errors import RequestInvalid, Unauthorized
from cargohold.http.api import models as m
from cargohold.http.auth import authenticate, narrowed
from cargohold.metadata.accounts import (
    CredentialRecord,
    NamespaceRecord,
    RobotRecord,
    UserRecord,
)

B = TypeVar("B", bound=BaseModel)
MAX_BODY = 64 * 1024


def _registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


async def caller(request: Request) -> Principal:
    """The authenticated caller; the API has no anonymous operations."""
    if not request.headers.get("authorization"):
        raise Unauthorized(headers={"WWW-Authenticate": 'Basic realm="cargohold"'})
    try:
        principal, claims = await authenticate(request)
    except Unauthorized as exc:
        exc.headers["WWW-Authenticate"] = 'Basic realm="cargohold"'
        raise
    if principal is ANONYMOUS or principal.anonymous:
        raise Unauthorized(headers={"WWW-Authenticate": 'Basic realm="cargohold"'})
    return narrowed(principal, claims)


async def body(request: Request, model: type[B]) -> B:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise RequestInvalid("request body too large")
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise RequestInvalid(f"invalid request body: {problems}") from None


def reply(doc: BaseModel | list[Any] | None, status: int = 200) -> Response:
    if doc is None:
        return Response(status_code=204)
    if isinstance(doc, list):
        payload = json.dumps([d.model_dump(mode="json") for d in doc]).encode()
    else:
        payload = doc.model_dump_json().encode()
    return Response(payload, status_code=status, media_type="application/json")


def _scopes_text(cred: CredentialRecord | None) -> list[str] | None:
    if cred is None or cred.scopes is None:
        return None
    return [f"{s.repository}:{','.join(s.actions)}" for s in cred.scopes]


def _user(u: UserRecord) -> m.User:
    return m.User(name=u.name, admin=u.is_admin, created_at=u.created_at)


def _namespace(ns: NamespaceRecord) -> m.Namespace:
    return m.Namespace(
        name=ns.name,
        kind=ns.kind,
        default_visibility="private" if ns.default_private else "public",
        created_at=ns.created_at,
    )


def _token(cred: CredentialRecord, secret: str | None = None) -> m.Token:
    return m.Token(
        id=cred.id,
        name=cred.name,
        kind=cred.kind,
        scopes=_scopes_text(cred),
        created_at=cred.created_at,
        expires_at=cred.expires_at,
        revoked_at=cred.revoked_at,
        secret=secret,
    )


def _robot(robot: RobotRecord, cred: CredentialRecord | None, secret: str | None = None) -> m.Robot:
    return m.Robot(
        name=robot.name,
        namespace=robot.namespace,
        description=robot.description,
        scopes=_scopes_text(cred) or [],
        created_at=robot.created_at,
        expires_at=cred.expires_at if cred else None,
        revoked_at=cred.revoked_at if cred else None,
        secret=secret,
    )


def _days(days: int | None) -> timedelta | None:
    return None if days is None else timedelta(days=days)


# -- who am I -------------------------------------------------------------------------


async def me(request: Request) -> Response:
    who = await caller(request)
    return reply(m.Me(name=who.name, kind=who.kind, admin=who.is_admin))


# -- users ----------------------------------------------------------------------------


async def create_user(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.UserCreate)
    user = await _registry(request).accounts.create_user(
        who, req.name, req.password, admin=req.admin
    )
    return reply(_user(user), 201)


async def list_users(request: Request) -> Response:
    who = await caller(request)
    return reply([_user(u) for u in await _registry(request).accounts.users(who)])


async def get_user(request: Request) -> Response:
    who = await caller(request)
    user = await _registry(request).accounts.user(who, request.path_params["user"])
    return reply(_user(user))


async def delete_user(request: Request) -> Response:
    who = await caller(request)
    await _registry(request).accounts.delete_user(who, request.path_params["user"])
    return reply(None)


async def change_password(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.PasswordChange)
    await _registry(request).accounts.set_password(who, request.path_params["user"], req.password)
    return reply(None)


# -- organisations, members, namespaces -----------------------------------------------


async def create_org(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.OrgCreate)
    ns = await _registry(request).accounts.create_org(
        who, req.name, private=req.default_visibility == "private"
    )
    return reply(_namespace(ns), 201)


async def list_orgs(request: Request) -> Response:
    who = await caller(request)
    return reply([_namespace(ns) for ns in await _registry(request).accounts.orgs(who)])


async def delete_org(request: Request) -> Response:
    who = await caller(request)
    await _registry(request).accounts.delete_org(who, request.path_params["org"])
    return reply(None)


async def set_member(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.MemberSet)
    params = request.path_params
    await _registry(request).accounts.set_member(who, params["org"], params["user"], req.role)
    return reply(m.Member(username=params["user"], role=req.role))


async def remove_member(request: Request) -> Response:
    who = await caller(request)
    params = request.path_params
    await _registry(request).accounts.set_member(who, params["org"], params["user"], None)
    return reply(None)


async def list_members(request: Request) -> Response:
    who = await caller(request)
    members = await _registry(request).accounts.members(who, request.path_params["org"])
    return reply([m.Member(username=x.username, role=x.role) for x in members])


async def update_namespace(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.NamespaceUpdate)
    await _registry(request).accounts.set_namespace_default(
        who, request.path_params["namespace"], req.default_visibility == "private"
    )
    return reply(None)


# -- tokens and login passwords -------------------------------------------------------


async def create_token(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.TokenCreate)
    scopes = None if req.scopes is None else parse_scope_grants(req.scopes)
    issued = await _registry(request).accounts.create_token(
        who, req.name, scopes, _days(req.expires_in_days)
    )
    return reply(_token(issued.credential, issued.secret), 201)


async def list_tokens(request: Request) -> Response:
    who = await caller(request)
    owner = request.query_params.get("owner")
    return reply([_token(c) for c in await _registry(request).accounts.tokens(who, owner)])


async def revoke_token(request: Request) -> Response:
    who = await caller(request)
    await _registry(request).accounts.revoke_token(who, request.path_params["token"])
    return reply(None)


async def login_password(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.LoginPasswordRequest)
    ttl = None if req.ttl_seconds is None else timedelta(seconds=req.ttl_seconds)
    issued: IssuedSecret = await _registry(request).accounts.login_password(who, ttl)
    assert issued.credential.expires_at is not None
    return reply(
        m.LoginPassword(
            username=issued.username,
            password=issued.secret,
            expires_at=issued.credential.expires_at,
        ),
        201,
    )


# -- robots ---------------------------------------------------------------------------


async def create_robot(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.RobotCreate)
    namespace = request.path_params["namespace"]
    issued = await _registry(request).accounts.create_robot(
        who, namespace, req.name, req.scopes, _days(req.expires_in_days), req.description
    )
    robot = RobotRecord(
        issued.username,
        namespace,
        req.description,
        issued.credential.id,
        issued.credential.created_at,
    )
    return reply(_robot(robot, issued.credential, issued.secret), 201)


async def list_robots(request: Request) -> Response:
    who = await caller(request)
    found = await _registry(request).accounts.robots(who, request.path_params["namespace"])
    return reply([_robot(r, c) for r, c in found])


async def delete_robot(request: Request) -> Response:
    who = await caller(request)
    await _registry(request).accounts.delete_robot(who, request.path_params["robot"])
    return reply(None)
