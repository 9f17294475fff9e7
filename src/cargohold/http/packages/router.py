"""Dispatch ``/repository/<name>/<path>`` to the handlers of the repository's format.

Errors are answered in the format's own terms (`http.errors.package_error_response`)
rather than the OCI envelope.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response

from cargohold.errors import RegistryError, Unauthorized
from cargohold.http.errors import package_error_response
from cargohold.http.packages import maven, npm, pypi
from cargohold.http.packages.common import BASIC_CHALLENGE, base_path, packages, principal
from cargohold.packages.repositories import check_repository_name

PREFIX = "/repository/"


async def dispatch(request: Request) -> Response:
    format: str | None = None
    try:
        name, slash, rest = request.scope["path"][len(PREFIX) :].partition("/")
        check_repository_name(name)
        if not slash and request.method in ("GET", "HEAD"):
            return RedirectResponse(base_path(request, name), 301)
        # Uploads to the bare repository URL are served, not redirected: twine and
        # uv refuse redirects, and a 301 turns a POST into a GET.
        caller = await principal(request)
        service = packages(request)
        # Nothing about a repository the caller may not read shows, not even its
        # format (each answers errors its own way). npm's login is the exception:
        # it is how a caller gets credentials in the first place.
        repo = None
        if rest.startswith("-/user/"):
            repo = await service.repositories.store.get_package_repository(name)
        if repo is None or repo.format != "npm":
            repo = await service.repositories.resolve(caller, name, "pull")
        format = repo.format
        if repo.format == "maven":
            return await maven.handle(request, caller, name, rest)
        if repo.format == "npm":
            return await npm.handle(request, caller, name, rest)
        if repo.format == "pypi":
            return await pypi.handle(request, caller, name, rest)
        raise RegistryError(f"format {repo.format} is not served yet")
    except ClientDisconnect:
        raise
    except RegistryError as exc:
        if isinstance(exc, Unauthorized):
            exc.headers.update(BASIC_CHALLENGE)
        return package_error_response(exc, format)
