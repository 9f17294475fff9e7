"""Management API handlers: parse the body, call `core.accounts`, shape the answer."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from cargohold.core.access import ANONYMOUS, Principal
from cargohold.core.accounts import IssuedSecret, parse_scope_grants
from cargohold.core.registry import Registry
from cargohold.core.repositories import RepositoryInfo
from cargohold.errors import Denied, RequestInvalid, Unauthorized
from cargohold.http.api import models as m
from cargohold.http.auth import authenticate
from cargohold.metadata.accounts import (
    CredentialRecord,
    NamespaceRecord,
    RobotRecord,
    ScopeGrant,
    UserRecord,
)
from cargohold.metadata.governance import LifecycleRun, TrashRecord

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
    if claims is not None and not any(
        a.type == "registry" and a.name == "account" and "*" in a.actions for a in claims.access
    ):
        # A bearer token asked for repository access only: it acts with exactly the
        # grants it carries, so a leaked pull token cannot manage the account.
        grants = tuple(
            ScopeGrant(a.name, tuple(sorted(a.actions)))
            for a in claims.access
            if a.type == "repository"
        )
        principal = replace(principal, scopes=grants)
    return principal


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


# -- repositories ---------------------------------------------------------------------


def _repository(info: RepositoryInfo) -> m.Repository:
    st, rec = info.settings, info.record
    return m.Repository(
        name=st.name,
        visibility="private" if st.private else "public",
        tag_mutability=st.tag_mutability,
        mutability_filters=list(st.mutability_filters),
        latest_tag=st.latest_tag,
        created_at=rec.created_at if rec else None,
        manifest_count=rec.manifest_count if rec else 0,
        tag_count=rec.tag_count if rec else 0,
        last_pushed_at=rec.last_pushed_at if rec else None,
    )


async def create_repository(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.RepositoryCreate)
    info = await _registry(request).repositories.create(
        who,
        req.name,
        private=None if req.visibility is None else req.visibility == "private",
        tag_mutability=req.tag_mutability,
        mutability_filters=tuple(req.mutability_filters),
    )
    return reply(_repository(info), 201)


async def list_repositories(request: Request) -> Response:
    who = await caller(request)
    return reply([_repository(i) for i in await _registry(request).repositories.list(who)])


async def get_repository(request: Request) -> Response:
    who = await caller(request)
    info = await _registry(request).repositories.describe(who, request.path_params["name"])
    return reply(_repository(info))


async def delete_repository(request: Request) -> Response:
    who = await caller(request)
    force = request.query_params.get("force", "").lower() in ("1", "true", "yes")
    await _registry(request).repositories.delete(who, request.path_params["name"], force=force)
    return reply(None)


async def set_repository_visibility(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.RepositoryVisibility)
    name = request.path_params["name"]
    await _registry(request).accounts.set_visibility(who, name, req.visibility == "private")
    return reply(m.RepositoryVisibilityState(name=name, visibility=req.visibility))


async def set_tag_mutability(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.TagMutabilityUpdate)
    name = request.path_params["name"]
    reg = _registry(request)
    await reg.repositories.set_tag_mutability(
        who, name, req.tag_mutability, tuple(req.mutability_filters)
    )
    return reply(_repository(await reg.repositories.describe(who, name)))


async def set_namespace_template(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.NamespaceTemplate)
    template = await _registry(request).repositories.set_template(
        who, request.path_params["namespace"], req.model_dump(exclude_none=True)
    )
    return reply(m.NamespaceTemplate.model_validate(template))


# -- lifecycle policies -----------------------------------------------------------------


async def _text(request: Request) -> str:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise RequestInvalid("request body too large")
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise RequestInvalid("the policy must be UTF-8 JSON") from None


async def put_lifecycle_policy(request: Request) -> Response:
    who = await caller(request)
    name = request.path_params["name"]
    text = await _registry(request).policies.put(who, name, await _text(request))
    return reply(m.LifecyclePolicyDoc(repository=name, lifecyclePolicyText=text))


async def get_lifecycle_policy(request: Request) -> Response:
    who = await caller(request)
    name = request.path_params["name"]
    text = await _registry(request).policies.get(who, name)
    return reply(m.LifecyclePolicyDoc(repository=name, lifecyclePolicyText=text))


async def delete_lifecycle_policy(request: Request) -> Response:
    who = await caller(request)
    await _registry(request).policies.delete(who, request.path_params["name"])
    return reply(None)


async def preview_lifecycle_policy(request: Request) -> Response:
    who = await caller(request)
    name = request.path_params["name"]
    text = (await _text(request)).strip() or None
    preview = await _registry(request).policies.preview(who, name, text)
    results = [
        m.PreviewResult(
            imageDigest=e.digest,
            imageTags=list(e.tags),
            imagePushedAt=e.pushed_at,
            action=m.PreviewAction(),
            appliedRulePriority=e.rule_priority,
        )
        for e in preview.expiries
    ]
    return reply(
        m.LifecyclePreview(
            repository=name,
            results=results,
            summary=m.PreviewSummary(expiringImageTotalCount=len(results)),
        )
    )


def _run_doc(run: LifecycleRun) -> m.LifecycleRunDoc:
    return m.LifecycleRunDoc(
        id=run.id,
        repository=run.repository,
        trigger=run.trigger,
        started_at=run.started_at,
        finished_at=run.finished_at,
        expired=[dict(e) for e in run.expired],
        bytes=run.bytes,
    )


async def run_lifecycle_policy(request: Request) -> Response:
    who = await caller(request)
    run = await _registry(request).policies.run(who, request.path_params["name"])
    return reply(_run_doc(run))


async def list_lifecycle_runs(request: Request) -> Response:
    who = await caller(request)
    runs = await _registry(request).policies.runs(who, request.path_params["name"])
    return reply([_run_doc(r) for r in runs])


# -- the recycle bin --------------------------------------------------------------------


def _trash_entry(e: TrashRecord) -> m.TrashEntry:
    return m.TrashEntry(
        id=e.id,
        repository=e.repository,
        kind=e.kind,
        digest=e.digest,
        tags=list(e.tags),
        deleted_at=e.deleted_at,
        deleted_by=e.deleted_by,
        reason=e.reason,
    )


async def list_trash(request: Request) -> Response:
    who = await caller(request)
    repository = request.query_params.get("repository") or None
    entries = await _registry(request).trash.entries(who, repository)
    return reply([_trash_entry(e) for e in entries])


async def restore_trash(request: Request) -> Response:
    who = await caller(request)
    raw = request.path_params["entry"]
    if not raw.isdigit() or len(raw) > 12:
        raise RequestInvalid(f"no recycle bin entry {raw[:20]!r}")
    entry, tags = await _registry(request).trash.restore(who, int(raw))
    return reply(m.Restored(entry=_trash_entry(entry), restored_tags=tags))


# -- garbage collection -----------------------------------------------------------------


async def run_gc(request: Request) -> Response:
    who = await caller(request)
    if not who.is_admin or who.scopes is not None:
        raise Denied("only an administrator may collect garbage")
    req = await body(request, m.GcRequest)
    report = await _registry(request).gc.run(dry_run=req.dry_run)
    return reply(m.GcReportDoc(**{k: v for k, v in vars(report).items() if k != "deleted"}))


# -- quotas -----------------------------------------------------------------------------


async def _usage(request: Request, who: Principal, namespace: str) -> Response:
    usage, quota = await _registry(request).repositories.usage(who, namespace)
    return reply(m.NamespaceUsage(namespace=namespace, usage_bytes=usage, quota_bytes=quota))


async def get_namespace_usage(request: Request) -> Response:
    who = await caller(request)
    return await _usage(request, who, request.path_params["namespace"])


async def set_namespace_quota(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.QuotaSet)
    namespace = request.path_params["namespace"]
    await _registry(request).repositories.set_quota(who, namespace, req.quota_bytes)
    return await _usage(request, who, namespace)
