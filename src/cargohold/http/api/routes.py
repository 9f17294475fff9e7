"""The management API's route table and its OpenAPI document, from one list."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from cargohold import __version__
from cargohold.errors import RouteUnknown, Unsupported
from cargohold.http.api import governance as g
from cargohold.http.api import handlers as h
from cargohold.http.api import models as m
from cargohold.http.api import packages as pk

PREFIX = "/api/v1"
_SEGMENT = r"[^/]+"
_REPO = r".+"


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # OpenAPI template: /users/{user}
    handler: Callable[[Request], Awaitable[Response]]
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    many: bool = False
    status: int = 200

    @property
    def pattern(self) -> re.Pattern[str]:
        def group(match: re.Match[str]) -> str:
            name = match.group(1)
            return f"(?P<{name}>{_REPO if name == 'name' else _SEGMENT})"

        return re.compile("^" + re.sub(r"\{(\w+)\}", group, self.path) + "$")


R = ApiRoute
API: list[ApiRoute] = [
    R("GET", "/me", h.me, "Who the credentials belong to", response=m.Me),
    R(
        "POST",
        "/users",
        h.create_user,
        "Create a user (administrators)",
        m.UserCreate,
        m.User,
        status=201,
    ),
    R("GET", "/users", h.list_users, "List users (administrators)", response=m.User, many=True),
    R("GET", "/users/{user}", h.get_user, "Show a user", response=m.User),
    R("DELETE", "/users/{user}", h.delete_user, "Delete a user (administrators)", status=204),
    R(
        "PUT",
        "/users/{user}/password",
        h.change_password,
        "Change a password",
        m.PasswordChange,
        status=204,
    ),
    R(
        "POST",
        "/orgs",
        h.create_org,
        "Create an organisation you own",
        m.OrgCreate,
        m.Namespace,
        status=201,
    ),
    R("GET", "/orgs", h.list_orgs, "Organisations you belong to", response=m.Namespace, many=True),
    R("DELETE", "/orgs/{org}", h.delete_org, "Delete an organisation (owners)", status=204),
    R("GET", "/orgs/{org}/members", h.list_members, "List members", response=m.Member, many=True),
    R(
        "PUT",
        "/orgs/{org}/members/{user}",
        h.set_member,
        "Add a member or change its role",
        m.MemberSet,
        m.Member,
    ),
    R("DELETE", "/orgs/{org}/members/{user}", h.remove_member, "Remove a member", status=204),
    R(
        "PATCH",
        "/namespaces/{namespace}",
        h.update_namespace,
        "Set the default visibility of new repositories",
        m.NamespaceUpdate,
        status=204,
    ),
    R(
        "POST",
        "/namespaces/{namespace}/robots",
        h.create_robot,
        "Create a robot account; its secret is shown once",
        m.RobotCreate,
        m.Robot,
        status=201,
    ),
    R(
        "GET",
        "/namespaces/{namespace}/robots",
        h.list_robots,
        "List robot accounts",
        response=m.Robot,
        many=True,
    ),
    R(
        "DELETE",
        "/robots/{robot}",
        h.delete_robot,
        "Delete a robot and revoke its secret",
        status=204,
    ),
    R(
        "POST",
        "/tokens",
        h.create_token,
        "Create a personal access token; shown once",
        m.TokenCreate,
        m.Token,
        status=201,
    ),
    R(
        "GET",
        "/tokens",
        h.list_tokens,
        "List your tokens and login passwords",
        response=m.Token,
        many=True,
    ),
    R("DELETE", "/tokens/{token}", h.revoke_token, "Revoke a token or login password", status=204),
    R(
        "POST",
        "/login-password",
        h.login_password,
        "A docker login password valid for 12 hours",
        m.LoginPasswordRequest,
        m.LoginPassword,
        status=201,
    ),
    R(
        "POST",
        "/repositories",
        g.create_repository,
        "Create a repository (required when create-on-push is off)",
        m.RepositoryCreate,
        m.Repository,
        status=201,
    ),
    R(
        "GET",
        "/repositories",
        g.list_repositories,
        "Repositories you may pull",
        response=m.Repository,
        many=True,
    ),
    R(
        "PUT",
        "/repositories/{name}/visibility",
        g.set_repository_visibility,
        "Make a repository public or private",
        m.RepositoryVisibility,
        m.RepositoryVisibilityState,
    ),
    R(
        "PUT",
        "/repositories/{name}/tag-mutability",
        g.set_tag_mutability,
        "Set tag mutability (ECR's four modes, up to 5 exclusion filters)",
        m.TagMutabilityUpdate,
        m.Repository,
    ),
    R(
        "PUT",
        "/repositories/{name}/lifecycle-policy",
        g.put_lifecycle_policy,
        "Set an ECR lifecycle policy (the body is the policy JSON)",
        response=m.LifecyclePolicyDoc,
    ),
    R(
        "GET",
        "/repositories/{name}/lifecycle-policy",
        g.get_lifecycle_policy,
        "The lifecycle policy as stored",
        response=m.LifecyclePolicyDoc,
    ),
    R(
        "DELETE",
        "/repositories/{name}/lifecycle-policy",
        g.delete_lifecycle_policy,
        "Remove the lifecycle policy",
        status=204,
    ),
    R(
        "POST",
        "/repositories/{name}/lifecycle-policy/preview",
        g.preview_lifecycle_policy,
        "What the stored policy (or the policy in the body) would expire now",
        response=m.LifecyclePreview,
    ),
    R(
        "POST",
        "/repositories/{name}/lifecycle-policy/run",
        g.run_lifecycle_policy,
        "Run the policy now; expired images go to the recycle bin",
        response=m.LifecycleRunDoc,
    ),
    R(
        "GET",
        "/repositories/{name}/lifecycle-runs",
        g.list_lifecycle_runs,
        "Recorded lifecycle runs, newest first",
        response=m.LifecycleRunDoc,
        many=True,
    ),
    R(
        "GET",
        "/namespaces/{namespace}/usage",
        g.get_namespace_usage,
        "Bytes a namespace stores, and its quota",
        response=m.NamespaceUsage,
    ),
    R(
        "PUT",
        "/namespaces/{namespace}/quota",
        g.set_namespace_quota,
        "Set or clear a namespace's storage quota (administrators)",
        m.QuotaSet,
        m.NamespaceUsage,
    ),
    R("POST", "/gc", g.run_gc, "Collect garbage now (administrators)", m.GcRequest, m.GcReportDoc),
    R(
        "GET",
        "/trash",
        g.list_trash,
        "The recycle bin (?repository=NAME)",
        response=m.TrashEntry,
        many=True,
    ),
    R(
        "POST",
        "/trash/{entry}/restore",
        g.restore_trash,
        "Restore a deleted manifest or tag",
        response=m.Restored,
    ),
    R(
        "GET",
        "/repositories/{name}",
        g.get_repository,
        "Describe a repository",
        response=m.Repository,
    ),
    R(
        "DELETE",
        "/repositories/{name}",
        g.delete_repository,
        "Delete a repository (?force=true when it holds images)",
        status=204,
    ),
    R(
        "PUT",
        "/namespaces/{namespace}/template",
        g.set_namespace_template,
        "Settings for repositories created in a namespace",
        m.NamespaceTemplate,
        m.NamespaceTemplate,
    ),
    R(
        "POST",
        "/package-repositories",
        pk.create_package_repository,
        "Create a hosted Maven, npm or PyPI repository (served under /repository/NAME/)",
        m.PackageRepositoryCreate,
        m.PackageRepository,
        status=201,
    ),
    R(
        "GET",
        "/package-repositories",
        pk.list_package_repositories,
        "Package repositories you may read",
        response=m.PackageRepository,
        many=True,
    ),
    R(
        "GET",
        "/package-repositories/{repo}",
        pk.get_package_repository,
        "Show a package repository",
        response=m.PackageRepository,
    ),
    R(
        "PATCH",
        "/package-repositories/{repo}",
        pk.update_package_repository,
        "Change a package repository's visibility or write policy",
        m.PackageRepositoryUpdate,
        m.PackageRepository,
    ),
    R(
        "DELETE",
        "/package-repositories/{repo}",
        pk.delete_package_repository,
        "Delete a package repository and everything in it",
        status=204,
    ),
    R(
        "POST",
        "/package-repositories/{repo}/pypi/{project}/{version}/yank",
        pk.yank_release,
        "Yank a PyPI release (PEP 592): installers skip it unless pinned",
        m.Yank,
        m.YankResult,
    ),
    R(
        "DELETE",
        "/package-repositories/{repo}/pypi/{project}/{version}/yank",
        pk.unyank_release,
        "Take back a yank",
        response=m.YankResult,
    ),
    R(
        "PUT",
        "/package-repositories/{repo}/cleanup-policy",
        pk.put_cleanup_policy,
        "Set a package repository's cleanup policy",
        m.CleanupPolicy,
        m.CleanupPolicy,
    ),
    R(
        "GET",
        "/package-repositories/{repo}/cleanup-policy",
        pk.get_cleanup_policy,
        "Show a package repository's cleanup policy",
        response=m.CleanupPolicy,
    ),
    R(
        "DELETE",
        "/package-repositories/{repo}/cleanup-policy",
        pk.delete_cleanup_policy,
        "Remove a package repository's cleanup policy",
        status=204,
    ),
    R(
        "POST",
        "/package-repositories/{repo}/cleanup-policy/preview",
        pk.preview_cleanup,
        "What the cleanup policy would remove now",
        response=m.CleanupReport,
    ),
    R(
        "POST",
        "/package-repositories/{repo}/cleanup-policy/run",
        pk.run_cleanup,
        "Run the cleanup policy now (it also runs with each scheduled lifecycle round)",
        response=m.CleanupReport,
    ),
]
_COMPILED = [(route, route.pattern) for route in API]


async def dispatch(request: Request) -> Response:
    path = request.url.path[len(PREFIX) :]
    if path == "/openapi.json":
        return Response(json.dumps(openapi()).encode(), media_type="application/json")
    methods = []
    for route, pattern in _COMPILED:
        found = pattern.match(path)
        if found is None:
            continue
        if route.method == request.method:
            request.scope["path_params"] = found.groupdict()
            return await route.handler(request)
        methods.append(route.method)
    if methods:
        raise Unsupported(
            f"method {request.method} is not supported here; use {', '.join(methods)}",
            headers={"Allow": ", ".join(methods)},
        )
    raise RouteUnknown(f"no such endpoint: {request.url.path[:200]}")


def openapi() -> dict[str, object]:
    paths: dict[str, dict[str, object]] = {}
    schemas: dict[str, object] = {}
    error = {"$ref": "#/components/schemas/Errors"}

    def ref(model: type[BaseModel]) -> dict[str, object]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    for route in API:
        op: dict[str, object] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in re.findall(r"\{(\w+)\}", route.path)
            ],
            "responses": {
                "401": {
                    "description": "not authenticated",
                    "content": {"application/json": {"schema": error}},
                },
                "403": {
                    "description": "not allowed",
                    "content": {"application/json": {"schema": error}},
                },
            },
        }
        if route.request is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(route.request)}},
            }
        ok: dict[str, object] = {"description": "success"}
        if route.response is not None:
            schema: dict[str, object] = ref(route.response)
            if route.many:
                schema = {"type": "array", "items": schema}
            ok["content"] = {"application/json": {"schema": schema}}
        op["responses"][str(route.status)] = ok  # type: ignore[index]
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = op
    schemas["Errors"] = {
        "type": "object",
        "properties": {
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["code", "message"],
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Cargohold management API", "version": __version__},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"basic": []}, {"bearer": []}],
        "paths": paths,
    }
