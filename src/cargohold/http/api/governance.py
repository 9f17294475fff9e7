"""Management API handlers for governance: repositories, lifecycle policies, the
recycle bin, garbage collection and quotas. Shaped like `handlers.py`: parse, call
a core service, answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargohold.core.access import Principal
from cargohold.core.repositories import RepositoryInfo
from cargohold.errors import Denied, RequestInvalid
from cargohold.http.api import models as m
from cargohold.http.api.handlers import MAX_BODY, _registry, body, caller, reply
from cargohold.metadata.governance import LifecycleRun, TrashRecord

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
