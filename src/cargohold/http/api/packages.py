"""Management API handlers for hosted package repositories (Maven, npm, PyPI)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from cargohold.errors import ResourceUnknown
from cargohold.formats.cleanup import Removal
from cargohold.http.api import models as m
from cargohold.http.api.handlers import body, caller, reply
from cargohold.http.packages.common import absolute_base, packages
from cargohold.metadata.packages import PackageRepositoryRecord


def _doc(request: Request, repo: PackageRepositoryRecord) -> m.PackageRepository:
    return m.PackageRepository(
        name=repo.name,
        format=repo.format,
        namespace=repo.namespace,
        visibility="private" if repo.private else "public",
        write_policy=repo.write_policy,
        version_policy=repo.version_policy,
        url=absolute_base(request, repo.name),
        created_at=repo.created_at,
    )


async def create_package_repository(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.PackageRepositoryCreate)
    repo = await packages(request).repositories.create(
        who,
        req.name,
        req.format,
        namespace=req.namespace,
        private=None if req.visibility is None else req.visibility == "private",
        write_policy=req.write_policy,
        version_policy=req.version_policy,
    )
    return reply(_doc(request, repo), 201)


async def list_package_repositories(request: Request) -> Response:
    who = await caller(request)
    repos = await packages(request).repositories.list(who)
    return reply([_doc(request, r) for r in repos])


async def get_package_repository(request: Request) -> Response:
    who = await caller(request)
    repo = await packages(request).repositories.get(who, request.path_params["repo"])
    return reply(_doc(request, repo))


async def update_package_repository(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.PackageRepositoryUpdate)
    repo = await packages(request).repositories.update(
        who,
        request.path_params["repo"],
        private=None if req.visibility is None else req.visibility == "private",
        write_policy=req.write_policy,
    )
    return reply(_doc(request, repo))


async def delete_package_repository(request: Request) -> Response:
    who = await caller(request)
    await packages(request).repositories.delete(who, request.path_params["repo"])
    return reply(None)


async def yank_release(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.Yank)
    p = request.path_params
    pypi = packages(request).pypi
    count = await pypi.yank(who, p["repo"], p["project"], p["version"], req.reason)
    return reply(m.YankResult(files=count))


async def unyank_release(request: Request) -> Response:
    who = await caller(request)
    p = request.path_params
    count = await packages(request).pypi.yank(who, p["repo"], p["project"], p["version"], None)
    return reply(m.YankResult(files=count))


async def put_cleanup_policy(request: Request) -> Response:
    who = await caller(request)
    req = await body(request, m.CleanupPolicy)
    text = json.dumps(req.model_dump(exclude_none=True))
    stored = await packages(request).cleanup.set_policy(who, request.path_params["repo"], text)
    return reply(m.CleanupPolicy.model_validate_json(stored or "{}"))


async def get_cleanup_policy(request: Request) -> Response:
    who = await caller(request)
    text = await packages(request).cleanup.get_policy(who, request.path_params["repo"])
    if text is None:
        raise ResourceUnknown(f"repository {request.path_params['repo']} has no cleanup policy")
    return reply(m.CleanupPolicy.model_validate_json(text))


async def delete_cleanup_policy(request: Request) -> Response:
    who = await caller(request)
    await packages(request).cleanup.set_policy(who, request.path_params["repo"], None)
    return reply(None)


def _report(repository: str, removals: list[Removal]) -> m.CleanupReport:
    return m.CleanupReport(
        repository=repository,
        removals=[
            m.CleanupRemoval(
                package=r.package,
                version=r.version,
                paths=list(r.paths),
                bytes=r.bytes,
                reason=r.reason,
            )
            for r in removals
        ],
        files=sum(len(r.paths) for r in removals),
        bytes=sum(r.bytes for r in removals),
    )


async def preview_cleanup(request: Request) -> Response:
    who = await caller(request)
    name = request.path_params["repo"]
    return reply(_report(name, await packages(request).cleanup.preview(who, name)))


async def run_cleanup(request: Request) -> Response:
    who = await caller(request)
    name = request.path_params["repo"]
    return reply(_report(name, await packages(request).cleanup.run(who, name)))
