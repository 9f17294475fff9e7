"""PyPI handlers: the upload API (``POST /repository/<name>/``, as twine and
``uv publish`` send it), the simple index and the files."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from cargohold.core.access import Principal
from cargohold.errors import RequestInvalid, SizeInvalid, Unsupported
from cargohold.http.packages.common import packages, raise_unknown, render
from cargohold.packages.served import Served

_FORM_LIMITS = {"max_files": 1, "max_fields": 100, "max_part_size": 1024 * 1024}


async def handle(request: Request, caller: Principal, repository: str, path: str) -> Response:
    pypi = packages(request).pypi
    method = request.method
    if method == "POST" and path in ("", "legacy/", "legacy"):
        await _upload(request, caller, repository)
        return Response(status_code=200)
    if method in ("GET", "HEAD"):
        accept = request.headers.get("accept")
        if path in ("simple", "simple/"):
            if path == "simple":
                return render(request, repository, _redirect("simple/"))
            return _vary(render(request, repository, await pypi.root(caller, repository, accept)))
        if path.startswith("simple/"):
            project, slash, rest = path[len("simple/") :].partition("/")
            if rest:
                raise_unknown(path)
            if not slash:
                return render(request, repository, _redirect(f"simple/{project}/"))
            served = await pypi.project(caller, repository, project, accept)
            return _vary(render(request, repository, served))
        if path.startswith("packages/"):
            return render(request, repository, await pypi.file(caller, repository, path))
        raise_unknown(path)
    if method == "DELETE" and path.startswith("packages/"):
        await pypi.delete(caller, repository, path)
        return Response(status_code=204)
    raise Unsupported(f"{method} is not supported on /{path[:200]}")


def _vary(response: Response) -> Response:
    response.headers["Vary"] = "Accept"  # the page's form follows the Accept header
    return response


def _redirect(to: str) -> Served:
    return Served(redirect=to, status=301)


async def _upload(request: Request, caller: Principal, repository: str) -> None:
    service = packages(request)
    limit = service.pypi.max_file_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit + 1024 * 1024:
        raise SizeInvalid(f"the upload is larger than the {limit}-byte limit")
    # Authorise before reading the body: a refused upload costs no disk.
    await service.repositories.resolve(caller, repository, "push")
    try:
        form = await request.form(**_FORM_LIMITS)
    except Exception as exc:  # python-multipart's errors, Starlette's limits
        raise RequestInvalid(f"the upload is not a valid multipart form ({exc})") from None
    try:
        upload = form.get("content")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise RequestInvalid("the upload has no file in its 'content' field")
        fields: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(key, []).append(value)
        await service.pypi.upload(caller, repository, fields, upload.filename, _chunks(upload))
    finally:
        await form.close()


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1024 * 1024):
        yield chunk
