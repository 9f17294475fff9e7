"""PyPI handlers: the upload API (``POST /repository/<name>/``, as twine and
``uv publish`` send it), the simple index and the files."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response

from cargohold.core.access import Principal
from cargohold.errors import Denied, RequestInvalid, SizeInvalid, Unsupported
from cargohold.http.packages.common import packages, raise_unknown, render
from cargohold.packages.served import Served

# Twine and uv send each core-metadata line as a form field of its own: every
# Requires-Dist, Provides-Extra, Classifier and Project-URL. Real wheels carry
# well over a thousand (types-boto3 has 400+ extras), so the count is generous;
# memory is bounded by the fields' total size instead (the file spools to disk).
_MAX_FIELDS = 10_000
_MAX_FIELD_BYTES = 1024 * 1024  # one field: the description is the whole README
_MAX_FORM_FIELD_BYTES = 32 * 1024 * 1024  # all fields together


class _UploadFormParser(MultiPartParser):
    """Starlette's multipart parser, one file, with caps on all fields' bytes and on
    the file's: a body without Content-Length is refused as soon as it is too big,
    not after it has been spooled to disk whole."""

    def __init__(
        self, headers: Headers, stream: AsyncGenerator[bytes, None], file_limit: int
    ) -> None:
        super().__init__(
            headers,
            stream,
            max_files=1,
            max_fields=_MAX_FIELDS,
            max_part_size=_MAX_FIELD_BYTES,
        )
        self._field_bytes = 0
        self._file_bytes = 0
        self._file_limit = file_limit

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is None:
            self._field_bytes += end - start
            if self._field_bytes > _MAX_FORM_FIELD_BYTES:
                raise MultiPartException(
                    f"the form's fields are larger than {_MAX_FORM_FIELD_BYTES} bytes together"
                )
        else:
            self._file_bytes += end - start
            if self._file_bytes > self._file_limit:
                raise SizeInvalid(f"the file is larger than the {self._file_limit}-byte limit")
        super().on_part_data(data, start, end)


async def _read_form(request: Request, file_limit: int) -> FormData:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise RequestInvalid(
            "the upload is not a multipart form: send multipart/form-data, as twine and uv do"
        )
    try:
        return await _UploadFormParser(request.headers, request.stream(), file_limit).parse()
    except MultiPartException as exc:
        raise RequestInvalid(f"the upload is not a valid multipart form ({exc.message})") from None


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
    repo = await service.repositories.resolve(caller, repository, "push")
    if repo.write_policy == "readonly":
        raise Denied(f"repository {repo.name} is read-only")
    form = await _read_form(request, limit)
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
