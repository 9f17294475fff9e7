"""Hosted PyPI repositories: the legacy upload form and the simple index. No I/O
beyond reading a wheel the caller hands in.

Uploads arrive as the multipart POST twine and ``uv publish`` send to a
Warehouse-style ``/legacy/`` endpoint (``:action=file_upload``, ``protocol_version=1``,
the file in ``content``, core metadata as lower-case underscore fields). We check
what Warehouse checks before it stores a file (name, PEP 440 version, filename
against name and version, extension against filetype, Requires-Python, digests),
with a few deliberate differences:

- No digest is required (Warehouse wants one); we compute our own anyway.
- Local versions (``1.0+cpu``) are allowed: a private index is where they belong.
- ``pyversion`` may be left out for a wheel; it is then taken from the filename.
- ``md5_digest`` may be hex (what distutils and old twine sent) or the unpadded
  urlsafe base64 Warehouse documents; either way it is kept as hex.

The index side renders PEP 503 HTML and PEP 691 JSON at API version 1.1 (PEP 700),
with PEP 592 yanking and PEP 658 metadata under the PEP 714 names. In JSON only the
new ``core-metadata`` key is written: pip 22.3 to 23.1 crash on ``dist-info-metadata``
there, which is why PEP 714 renamed it. HTML carries both attribute names, as PEP 714
allows, so clients from before the rename still find the metadata.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import errno
import hmac
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any, BinaryIO

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from cargohold.errors import NotAcceptable, RequestInvalid

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
LEGACY_HTML = "text/html"
# PEP 691's "latest" meta version: the response names the real version instead.
_LATEST = {
    "application/vnd.pypi.simple.latest+json": SIMPLE_JSON,
    "application/vnd.pypi.simple.latest+html": SIMPLE_HTML,
}
API_VERSION = "1.1"

WHEEL = "bdist_wheel"
SDIST = "sdist"
FILETYPES = (WHEEL, SDIST)
# PEP 527 / 715: what may still be uploaded, and as which filetype.
EXTENSIONS: dict[str, str] = {".whl": WHEEL, ".tar.gz": SDIST, ".zip": SDIST}

# No real project comes near these; they keep names and filenames inside path and
# column limits (255 is also the usual filesystem limit for one path component).
MAX_NAME_LENGTH = 255
MAX_FILENAME_LENGTH = 255
MAX_SUMMARY_LENGTH = 512
# Core metadata is a few KiB, a long README inlined as the description a few hundred;
# anything past this is a zip bomb or an attack on the memory of whoever reads it.
MAX_METADATA_SIZE = 10 * 1024 * 1024

# PEP 508 names: letters and digits, with '.', '_' or '-' inside. ASCII only;
# re.IGNORECASE would let the Kelvin sign match 'k'.
_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_NORMALIZE_RE = re.compile(r"[-_.]+")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_B64_MD5_RE = re.compile(r"[A-Za-z0-9_-]{22}")
_METADATA_VERSION_RE = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_DIST_INFO_METADATA_RE = re.compile(r"[^/]+\.dist-info/METADATA")


def normalize(name: str) -> str:
    """PEP 503 normal form: the one spelling used in URLs and for comparisons."""
    return _NORMALIZE_RE.sub("-", name).lower()


def validate_project_name(name: str) -> None:
    """Refuse names outside PEP 508, which no installer could ask for."""
    if not name:
        raise RequestInvalid("the project name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise RequestInvalid(f"the project name is longer than {MAX_NAME_LENGTH} characters")
    if not _NAME_RE.fullmatch(name):
        raise RequestInvalid(
            f"{_show(name)} is not a valid project name: a name must start and end with an "
            "ASCII letter or digit and contain only ASCII letters, digits, '.', '_' and '-'"
        )


def _show(value: str, limit: int = 100) -> str:
    """A client's value quoted for a message, cut short so it cannot flood a log."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _parse_version(version: str, where: str) -> Version:
    if version != version.strip():
        raise RequestInvalid(f"{where} {_show(version)} has leading or trailing whitespace")
    try:
        return Version(version)
    except InvalidVersion:
        raise RequestInvalid(
            f"{where} {_show(version)} is not a valid PEP 440 version "
            "(see https://packaging.python.org/en/latest/specifications/version-specifiers/)"
        ) from None


@dataclass(frozen=True, slots=True)
class Upload:
    """One file upload as the client described it, checked and normalised.

    ``version`` keeps the client's spelling (it is what users see and what the
    filename carries); `canonical_version` is what identifies the release.
    Digests are lower-case hex, or None when the client sent none.
    """

    name: str
    version: str
    filename: str
    filetype: str
    pyversion: str
    metadata_version: str | None
    requires_python: str | None
    sha256: str | None
    md5: str | None
    blake2_256: str | None
    summary: str | None

    @property
    def project(self) -> str:
        """The normalised project name, the key a project is stored under."""
        return normalize(self.name)

    @property
    def canonical_version(self) -> str:
        """``1.0`` and ``1.0.0`` are one release to pip; key releases by this."""
        return canonicalize_version(self.version)


def _field(fields: Mapping[str, Sequence[str]], key: str) -> str | None:
    """The one value of a single-valued form field; empty counts as absent
    (``uv publish`` always sends ``requires_python``, empty when there is none)."""
    values = fields.get(key)
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    present = [v for v in values if v != ""]
    if not present:
        return None
    if len(set(present)) > 1:
        raise RequestInvalid(f"the form field {key!r} was sent more than once")
    return present[0]


def _required(fields: Mapping[str, Sequence[str]], key: str, what: str) -> str:
    value = _field(fields, key)
    if value is None:
        raise RequestInvalid(f"the form field {key!r} ({what}) is missing")
    return value


def _hex_digest(fields: Mapping[str, Sequence[str]], key: str, length: int) -> str | None:
    value = _field(fields, key)
    if value is None:
        return None
    if len(value) != length or not _HEX_RE.fullmatch(value):
        raise RequestInvalid(
            f"{key} {_show(value)} is not a hex-encoded digest of {length} characters"
        )
    return value.lower()


def _md5_digest(fields: Mapping[str, Sequence[str]]) -> str | None:
    """Hex as distutils sent it, or unpadded urlsafe base64 as Warehouse documents."""
    value = _field(fields, "md5_digest")
    if value is None:
        return None
    if len(value) == 32 and _HEX_RE.fullmatch(value):
        return value.lower()
    if _B64_MD5_RE.fullmatch(value):
        try:
            return base64.urlsafe_b64decode(value + "==").hex()
        except (binascii.Error, ValueError):  # pragma: no cover - the pattern rules it out
            pass
    raise RequestInvalid(
        f"md5_digest {_show(value)} is neither 32 hex characters "
        "nor 22 characters of urlsafe base64"
    )


def _check_filename(filename: str) -> str:
    """Return the filetype the extension implies, or say why the name is unusable."""
    if not filename:
        raise RequestInvalid("the uploaded file has no filename")
    if "/" in filename or "\\" in filename:
        raise RequestInvalid(
            f"cannot upload a file with '/' or '\\' in its name: {_show(filename)}"
        )
    if _CONTROL_RE.search(filename):
        raise RequestInvalid(f"the filename {_show(filename)} contains control characters")
    if len(filename) > MAX_FILENAME_LENGTH:
        raise RequestInvalid(f"the filename is longer than {MAX_FILENAME_LENGTH} characters")
    for extension, filetype in EXTENSIONS.items():
        if filename.endswith(extension):
            return filetype
    raise RequestInvalid(
        f"invalid file extension in {_show(filename)}: use .whl for wheels or "
        ".tar.gz (or .zip) for source distributions (PEP 527, PEP 625)"
    )


def _filename_identity(filename: str, filetype: str) -> tuple[str, Version, str | None]:
    """Project, version and (for wheels) the python tags the filename declares."""
    if filetype == WHEEL:
        try:
            project, version, _build, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            raise RequestInvalid(
                f"{_show(filename)} is not a valid wheel filename ({exc}); expected "
                "{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl"
            ) from None
        # Twine and uv send the python tags of the filename, dot-joined.
        pythons = sorted({tag.interpreter for tag in tags})
        return project, version, ".".join(pythons)
    try:
        project, version = parse_sdist_filename(filename)
    except InvalidSdistFilename as exc:
        raise RequestInvalid(
            f"{_show(filename)} is not a valid source distribution filename ({exc}); "
            "expected {name}-{version}.tar.gz"
        ) from None
    return project, version, None


def _requires_python(fields: Mapping[str, Sequence[str]]) -> str | None:
    value = _field(fields, "requires_python")
    if value is None or not value.strip():
        return None
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        raise RequestInvalid(
            f"Requires-Python {_show(value)} is not a valid PEP 440 specifier set "
            "(for example '>=3.9' or '>=3.9,<4')"
        ) from None
    return value


def _summary(fields: Mapping[str, Sequence[str]]) -> str | None:
    """Shown in listings only, so a stray newline or a long text is trimmed rather
    than failing an upload over it."""
    value = _field(fields, "summary")
    if value is None:
        return None
    lines = value.strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line[:MAX_SUMMARY_LENGTH] or None


def parse_upload(fields: Mapping[str, Sequence[str]], filename: str) -> Upload:
    """Check a legacy upload form (twine, uv publish) and the file's name.

    ``fields`` holds the form's text fields, each with all its values; ``filename``
    is the one the ``content`` part carries. The file itself is not read here.
    """
    action = _field(fields, ":action")
    if action is None:
        raise RequestInvalid("the form field ':action' is missing; expected 'file_upload'")
    if action != "file_upload":
        raise RequestInvalid(
            f"':action' {_show(action)} is not supported; this index only accepts "
            "'file_upload' (twine upload, uv publish)"
        )
    protocol = _field(fields, "protocol_version") or "1"
    if protocol != "1":
        raise RequestInvalid(f"unknown protocol_version {_show(protocol)}; expected '1'")

    name = _required(fields, "name", "the project name")
    validate_project_name(name)
    version = _required(fields, "version", "the release version")
    parsed_version = _parse_version(version, "version")

    filetype = _required(fields, "filetype", "'bdist_wheel' or 'sdist'")
    if filetype not in FILETYPES:
        raise RequestInvalid(
            f"filetype {_show(filetype)} is not accepted; upload wheels ('bdist_wheel') "
            "or source distributions ('sdist')"
        )
    implied = _check_filename(filename)
    if implied != filetype:
        raise RequestInvalid(
            f"the filename {_show(filename)} is not a valid name for filetype {filetype!r}"
        )
    file_project, file_version, file_pythons = _filename_identity(filename, filetype)
    if normalize(file_project) != normalize(name):
        raise RequestInvalid(
            f"the filename {_show(filename)} is for project {file_project!r}, "
            f"but the upload is for project {_show(name)}"
        )
    if file_version != parsed_version:
        raise RequestInvalid(
            f"the filename {_show(filename)} is for version {str(file_version)!r}, "
            f"but the upload is for version {_show(version)}"
        )

    pyversion = _field(fields, "pyversion")
    if filetype == SDIST:
        if pyversion not in (None, "source"):
            raise RequestInvalid(
                f"pyversion {_show(pyversion or '')} is wrong: use 'source' for an sdist"
            )
        pyversion = "source"
    elif pyversion is None:
        pyversion = file_pythons or "any"

    metadata_version = _field(fields, "metadata_version")
    if metadata_version is not None and not _METADATA_VERSION_RE.fullmatch(metadata_version):
        raise RequestInvalid(f"metadata_version {_show(metadata_version)} is not a version")

    return Upload(
        name=name,
        version=version,
        filename=filename,
        filetype=filetype,
        pyversion=pyversion,
        metadata_version=metadata_version,
        requires_python=_requires_python(fields),
        sha256=_hex_digest(fields, "sha256_digest", 64),
        md5=_md5_digest(fields),
        blake2_256=_hex_digest(fields, "blake2_256_digest", 64),
        summary=_summary(fields),
    )


def check_digests(upload: Upload, sha256_hex: str, md5_hex: str, blake2_256_hex: str) -> None:
    """Compare each digest the client declared with the one the server computed.

    Catches a file damaged or swapped in transit. A client that declared none is
    let through: the server's own sha256 is what the index publishes anyway.
    """
    pairs = (
        ("sha256_digest", upload.sha256, sha256_hex),
        ("md5_digest", upload.md5, md5_hex),
        ("blake2_256_digest", upload.blake2_256, blake2_256_hex),
    )
    for field, declared, computed in pairs:
        if declared is None:
            continue
        if not hmac.compare_digest(declared.lower(), computed.lower()):
            raise RequestInvalid(
                f"{field} does not match the uploaded file: the client declared "
                f"{declared}, the server computed {computed.lower()}; "
                "the file was changed or damaged in transit"
            )


def wheel_metadata(file: BinaryIO) -> bytes:
    """The ``*.dist-info/METADATA`` of a wheel, to serve as ``<file>.metadata`` (PEP 658).

    Every wheel has exactly one (PEP 427), so a missing or doubled one is refused,
    like an unreadable zip. Reads at most `MAX_METADATA_SIZE` bytes whatever the zip
    claims. ``file`` must be seekable; its position is left wherever reading ends.
    """
    try:
        with zipfile.ZipFile(file) as archive:
            entries = [
                i for i in archive.infolist() if _DIST_INFO_METADATA_RE.fullmatch(i.filename)
            ]
            if not entries:
                raise RequestInvalid(
                    "the wheel has no .dist-info/METADATA file; rebuild it with a current "
                    "build backend"
                )
            if len(entries) > 1:
                names = ", ".join(sorted({_show(i.filename, 60) for i in entries}))
                raise RequestInvalid(
                    f"the wheel has more than one .dist-info/METADATA file ({names})"
                )
            info = entries[0]
            if info.file_size > MAX_METADATA_SIZE:
                raise _metadata_too_large()
            with archive.open(info) as member:
                data = member.read(MAX_METADATA_SIZE + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError) as exc:
        # ValueError: an offset in a corrupt directory makes zipfile seek before the
        # start of an in-memory file.
        raise RequestInvalid(f"the wheel is not a valid zip file ({exc})") from None
    except OSError as exc:
        # The same bad offset on a file on disk is EINVAL; other errors are ours.
        if exc.errno != errno.EINVAL:
            raise
        raise RequestInvalid("the wheel is not a valid zip file (bad offset)") from None
    except (NotImplementedError, RuntimeError) as exc:
        # Unsupported compression, or an encrypted member.
        raise RequestInvalid(f"the wheel's METADATA cannot be read ({exc})") from None
    if len(data) > MAX_METADATA_SIZE:
        raise _metadata_too_large()
    return data


def _metadata_too_large() -> RequestInvalid:
    return RequestInvalid(
        f"the wheel's METADATA is larger than {MAX_METADATA_SIZE // (1024 * 1024)} MiB"
    )


def check_wheel_metadata(upload: Upload, metadata: bytes) -> None:
    """Refuse a wheel whose METADATA names another project or version.

    pip and uv resolve from the served ``.metadata`` alone (PEP 658), so it must
    describe the file it sits next to. Twine and uv send the form from the same
    METADATA, so only a hand-made upload can fail this.
    """
    try:
        text = metadata.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestInvalid("the wheel's METADATA is not UTF-8") from None
    headers = email.parser.HeaderParser().parsestr(text)
    for header in ("Name", "Version"):
        if len(headers.get_all(header) or []) != 1:
            raise RequestInvalid(f"the wheel's METADATA must have exactly one {header} field")
    name = str(headers["Name"]).strip()
    version = str(headers["Version"]).strip()
    if normalize(name) != normalize(upload.name):
        raise RequestInvalid(
            f"the wheel's METADATA is for project {_show(name)}, "
            f"but the upload is for project {_show(upload.name)}"
        )
    try:
        same_version = Version(version) == Version(upload.version)
    except InvalidVersion:
        same_version = False
    if not same_version:
        raise RequestInvalid(
            f"the wheel's METADATA is for version {_show(version)}, "
            f"but the upload is for version {_show(upload.version)}"
        )


@dataclass(frozen=True, slots=True)
class IndexFile:
    """One file as the simple index lists it.

    ``yanked``: None when not yanked, "" when yanked without a reason, else the reason.
    ``metadata_sha256``: the sha256 of ``<url>.metadata`` when we serve one (PEP 658).
    ``url`` must already be a URL (percent-encoded where needed); it is HTML-escaped
    here, not quoted.
    """

    filename: str
    url: str
    sha256: str
    size: int
    upload_time: datetime
    requires_python: str | None
    yanked: str | None
    metadata_sha256: str | None


def _parse_accept(accept: str) -> list[tuple[str, float]]:
    """Media ranges with their q-values; malformed entries are skipped, as
    RFC 9110 lets a server ignore what it cannot parse."""
    ranges: list[tuple[str, float]] = []
    for entry in accept.split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        media = media.lower()
        if media.count("/") != 1:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = -1.0
        if not 0.0 <= quality <= 1.0:
            continue
        ranges.append((_LATEST.get(media, media), quality))
    return ranges


def _quality(ranges: list[tuple[str, float]], media: str) -> tuple[float, int]:
    """q of the most specific range matching ``media``, and that specificity
    (2 exact, 1 ``type/*``, 0 ``*/*``, -1 no match)."""
    kind = media.split("/", 1)[0]
    best = (0.0, -1)
    for candidate, quality in ranges:
        if candidate == media:
            specificity = 2
        elif candidate == f"{kind}/*":
            specificity = 1
        elif candidate == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best[1] or (specificity == best[1] and quality > best[0]):
            best = (quality, specificity)
    return best


# Ties on q go to what the client named outright, most expressive first; a client
# that only sent wildcards is a browser or curl and gets the classic HTML page.
_NAMED_ORDER = (SIMPLE_JSON, SIMPLE_HTML, LEGACY_HTML)
_WILDCARD_ORDER = (LEGACY_HTML, SIMPLE_JSON, SIMPLE_HTML)


def choose_content_type(accept: str | None) -> str:
    """PEP 691 content negotiation between JSON, v1 HTML and plain ``text/html``.

    No header (or ``*/*``) gets ``text/html``, which every client understands. The
    result is the Content-Type to answer with (``latest`` is resolved to ``v1``).
    Raises `NotAcceptable` when the client accepts none of the three.
    """
    ranges = _parse_accept(accept) if accept and accept.strip() else [("*/*", 1.0)]
    best: tuple[float, int, int] | None = None
    chosen = LEGACY_HTML
    for media in _NAMED_ORDER:
        quality, specificity = _quality(ranges, media)
        if quality <= 0.0:
            continue
        named = specificity == 2
        order = _NAMED_ORDER if named else _WILDCARD_ORDER
        key = (quality, int(named), -order.index(media))
        if best is None or key > best:
            best, chosen = key, media
    if best is None:
        raise NotAcceptable(
            f"none of the media types in Accept {_show(accept or '', 200)} is available; "
            f"the simple index serves {SIMPLE_JSON}, {SIMPLE_HTML} and {LEGACY_HTML}"
        )
    return chosen


def _html_page(title: str, body: Iterable[str]) -> str:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        f"    <title>{escape(title)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>{escape(title)}</h1>",
        *(f"    {line}" for line in body),
        "  </body>",
        "</html>",
        "",
    ]
    return "\n".join(lines)


def root_html(projects: Iterable[str], link: Callable[[str], str]) -> str:
    """PEP 503 root page: one anchor per project.

    ``link`` gets the normalised name and returns the project page's URL, which
    must end in ``/`` (PEP 503).
    """
    anchors = (
        f'<a href="{escape(link(normalize(name)))}">{escape(name)}</a><br>' for name in projects
    )
    return _html_page("Simple index", anchors)


def root_json(projects: Iterable[str]) -> dict[str, Any]:
    """PEP 691 project list."""
    return {"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in projects]}


def _file_anchor(file: IndexFile) -> str:
    attributes = [f'href="{escape(file.url)}#sha256={escape(file.sha256)}"']
    if file.requires_python is not None:
        attributes.append(f'data-requires-python="{escape(file.requires_python)}"')
    if file.yanked is not None:
        # Always with a value: pip reads a bare ``data-yanked`` as absent.
        attributes.append(f'data-yanked="{escape(file.yanked)}"')
    if file.metadata_sha256 is not None:
        value = escape(f"sha256={file.metadata_sha256}")
        attributes.append(f'data-core-metadata="{value}"')
        attributes.append(f'data-dist-info-metadata="{value}"')
    return f"<a {' '.join(attributes)}>{escape(file.filename)}</a><br>"


def project_html(name: str, files: Iterable[IndexFile]) -> str:
    """PEP 503 project page with PEP 592 yanks and PEP 658/714 metadata."""
    return _html_page(f"Links for {name}", (_file_anchor(f) for f in files))


def upload_time_iso(moment: datetime) -> str:
    """PEP 700's ``yyyy-mm-ddThh:mm:ss.ffffffZ``; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _file_json(file: IndexFile) -> dict[str, Any]:
    yanked: bool | str = False
    if file.yanked is not None:
        yanked = file.yanked or True  # PEP 691: a reason must be non-empty
    core_metadata: bool | dict[str, str] = False
    if file.metadata_sha256 is not None:
        core_metadata = {"sha256": file.metadata_sha256}
    return {
        "filename": file.filename,
        "url": file.url,
        "hashes": {"sha256": file.sha256},
        "requires-python": file.requires_python,
        "yanked": yanked,
        "core-metadata": core_metadata,
        "size": file.size,
        "upload-time": upload_time_iso(file.upload_time),
    }


def project_json(name: str, files: Iterable[IndexFile], versions: Iterable[str]) -> dict[str, Any]:
    """PEP 691 project detail at API 1.1 (PEP 700: ``versions``, ``size``, ``upload-time``)."""
    return {
        "meta": {"api-version": API_VERSION},
        "name": normalize(name),
        "versions": sort_versions(versions),
        "files": [_file_json(f) for f in files],
    }


def sort_versions(versions: Iterable[str]) -> list[str]:
    """PEP 440 order, oldest first, exact duplicates dropped (PEP 700's ``versions``
    is a set). Strings that are not PEP 440 versions, which only legacy data can
    hold, come first in string order so they never pass for the newest release."""
    valid: list[tuple[Version, str]] = []
    legacy: list[str] = []
    for version in dict.fromkeys(versions):
        try:
            valid.append((Version(version), version))
        except InvalidVersion:
            legacy.append(version)
    valid.sort(key=lambda pair: pair[0])
    return sorted(legacy) + [version for _, version in valid]


__all__ = [
    "API_VERSION",
    "EXTENSIONS",
    "LEGACY_HTML",
    "MAX_METADATA_SIZE",
    "SIMPLE_HTML",
    "SIMPLE_JSON",
    "IndexFile",
    "NotAcceptable",
    "Upload",
    "check_digests",
    "check_wheel_metadata",
    "choose_content_type",
    "normalize",
    "parse_upload",
    "project_html",
    "project_json",
    "root_html",
    "root_json",
    "sort_versions",
    "upload_time_iso",
    "validate_project_name",
    "wheel_metadata",
]
