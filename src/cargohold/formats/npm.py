"""The npm registry format: package names, versions, publish documents, packuments. No I/O.

Hosted npm repositories speak the CouchDB-shaped API the npm CLI (v11) expects. The
rules here follow the CLI's own code rather than prose documentation:

- names: ``validate-npm-package-name`` (anything that is an error *or* a warning
  there is refused for new packages, as npm would call it invalid for new packages);
- versions: ``semver.valid`` without loose mode, minus build metadata, because
  ``libnpmpublish`` runs ``semver.clean`` (which drops ``+build``) before it sends a
  version, and ``npm-pick-manifest`` looks versions up by their cleaned string;
- tags: ``npm dist-tag add`` refuses a tag that ``semver.validRange`` accepts, and
  ``npm-package-arg`` refuses one that ``encodeURIComponent`` would change;
- publish documents: what ``libnpmpublish/lib/publish.js`` builds (one version, one
  base64 attachment named ``<name>-<version>.tgz``, sha512 ``integrity`` and sha1
  ``shasum`` in ``dist``);
- abbreviated ("corgi") documents: the install fields pacote and arborist read.

Every refusal is a `RequestInvalid` with a message meant for the person running npm
(npm prints it after ``400 Bad Request - PUT <url> -``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cargohold.errors import RequestInvalid

ABBREVIATED_TYPE = "application/vnd.npm.install-v1+json"
FULL_TYPE = "application/json"

MAX_NAME_LENGTH = 214
# semver's MAX_LENGTH and MAX_SAFE_INTEGER: longer versions or bigger numbers throw there.
MAX_VERSION_LENGTH = 256
MAX_SAFE_INTEGER = 2**53 - 1
MAX_TAG_LENGTH = 256

# Node 20's builtin module names, as validate-npm-package-name 7 lists them. A package
# named like one would be shadowed by the builtin on require().
CORE_MODULES = frozenset(
    {
        "_http_agent", "_http_client", "_http_common", "_http_incoming", "_http_outgoing",
        "_http_server", "_stream_duplex", "_stream_passthrough", "_stream_readable",
        "_stream_transform", "_stream_wrap", "_stream_writable", "_tls_common", "_tls_wrap",
        "assert", "assert/strict", "async_hooks", "buffer", "child_process", "cluster",
        "console", "constants", "crypto", "dgram", "diagnostics_channel", "dns",
        "dns/promises", "domain", "events", "fs", "fs/promises", "http", "http2", "https",
        "inspector", "inspector/promises", "module", "net", "os", "path", "path/posix",
        "path/win32", "perf_hooks", "process", "punycode", "querystring", "readline",
        "readline/promises", "repl", "stream", "stream/consumers", "stream/promises",
        "stream/web", "string_decoder", "sys", "timers", "timers/promises", "tls",
        "trace_events", "tty", "url", "util", "util/types", "v8", "vm", "wasi",
        "worker_threads", "zlib", "node:sea", "node:sqlite", "node:test",
        "node:test/reporters",
    }
)  # fmt: skip
EXCLUDED_NAMES = frozenset({"node_modules", "favicon.ico"})

# What encodeURIComponent leaves alone: a name or tag made of these needs no escaping.
_URL_SAFE = re.compile(r"[A-Za-z0-9\-_.!~*'()]+", re.ASCII)
_SCOPED = re.compile(r"@([^/]+?)/([^/]+?)", re.DOTALL)
_SPECIAL = re.compile(r"[~'!()*]")

_NUM = r"0|[1-9][0-9]*"
_PRE_ID = rf"[0-9]*[A-Za-z-][0-9A-Za-z-]*|{_NUM}"
_VERSION = re.compile(
    rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>(?:{_PRE_ID})(?:\.(?:{_PRE_ID}))*))?",
    re.ASCII,
)
# Every URL-safe string that semver.validRange or semver.valid accepts, strict or loose
# (an x-range or tilde range with no operators, spaces or "+"), plus a few strings
# they refuse (such as "1.*.3"): refusing those as tags too is the safe side.
_RANGE_LIKE = re.compile(
    r"~?[v=]*(?:[0-9]+|[xX*])(?:\.(?:[0-9]+|[xX*])(?:\.(?:[0-9]+|[xX*])"
    r"(?:-?[0-9A-Za-z.-]*)?)?)?",
    re.ASCII,
)
_SHASUM = re.compile(r"[0-9a-fA-F]{40}", re.ASCII)
_SRI = re.compile(r"(?P<algo>[a-z0-9]+)-(?P<digest>[^?\s]+)(?:\?\S*)?", re.ASCII)
_SRI_ALGORITHMS = frozenset({"sha1", "sha256", "sha384", "sha512"})

# The per-version fields of the abbreviated document: npm's registry documentation plus
# what arborist and npm-install-checks read from it (libc, acceptDependencies, funding).
INSTALL_FIELDS = (
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "_hasShrinkwrap",
    "hasInstallScript",
    "funding",
    "license",
)
INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")
# Fields npm view shows at the top of a packument, taken from the latest version.
HOISTED_FIELDS = (
    "description",
    "readme",
    "readmeFilename",
    "homepage",
    "keywords",
    "repository",
    "author",
    "bugs",
    "license",
    "contributors",
)

VersionKey = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


def _q(value: object, limit: int = 120) -> str:
    """Quote a client-supplied value for a message, cut short so errors stay readable."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > limit:
        text = text[:limit] + "..."
    return f'"{text}"'


# --- names ------------------------------------------------------------------------------


def name_problems(name: str, *, new_package: bool = True) -> list[str]:
    """Everything validate-npm-package-name says about ``name``, in its words.

    With ``new_package=False`` only its errors count (names that were legal once, such
    as ones with capitals, stay usable for packages that already exist).
    """
    errors: list[str] = []
    warnings: list[str] = []
    if not name:
        errors.append("name length must be greater than zero")
    if name.startswith("."):
        errors.append("name cannot start with a period")
    if name.startswith("-"):
        errors.append("name cannot start with a hyphen")
    if name.startswith("_"):
        errors.append("name cannot start with an underscore")
    if name.strip() != name:
        errors.append("name cannot contain leading or trailing spaces")
    if name.lower() in EXCLUDED_NAMES:
        errors.append(f"{name.lower()} is not a valid package name")
    if name.lower() in CORE_MODULES:
        warnings.append(f"{name} is a core module name")
    if len(name) > MAX_NAME_LENGTH:
        warnings.append(f"name can no longer contain more than {MAX_NAME_LENGTH} characters")
    if name.lower() != name:
        warnings.append("name can no longer contain capital letters")
    if _SPECIAL.search(name.split("/")[-1]):
        warnings.append('name can no longer contain special characters ("~\'!()*")')
    if name and not _URL_SAFE.fullmatch(name):
        scoped = _SCOPED.fullmatch(name)
        if scoped and scoped.group(2).startswith("."):
            errors.append("name cannot start with a period")
        if not (
            scoped and _URL_SAFE.fullmatch(scoped.group(1)) and _URL_SAFE.fullmatch(scoped.group(2))
        ):
            errors.append("name can only contain URL-friendly characters")
    return errors + warnings if new_package else errors


def validate_name(name: str, *, new_package: bool = True) -> None:
    """Refuse a package name npm would refuse for a new package (or, if not new, at all)."""
    problems = name_problems(name, new_package=new_package)
    if problems:
        raise RequestInvalid(f"invalid package name {_q(name)}: {'; '.join(problems)}")


def split_name(name: str) -> tuple[str | None, str]:
    """``"@scope/pkg"`` -> ``("@scope", "pkg")``; ``"pkg"`` -> ``(None, "pkg")``."""
    if not name.startswith("@"):
        return None, name
    scope, slash, bare = name.partition("/")
    if not slash or len(scope) < 2 or not bare or "/" in bare:
        raise RequestInvalid(f"invalid package name {_q(name)}: a scoped name is @scope/name")
    return scope, bare


def tarball_filename(name: str, version: str) -> str:
    """The file name the registry serves a version's tarball under (scope left out)."""
    return f"{split_name(name)[1]}-{version}.tgz"


# --- versions and tags --------------------------------------------------------------------


def valid_version(version: str) -> bool:
    """True for a strict SemVer 2.0 version without build metadata, as npm publishes them."""
    if not isinstance(version, str) or len(version) > MAX_VERSION_LENGTH:
        return False
    match = _VERSION.fullmatch(version)
    if match is None:
        return False
    return all(int(match.group(part)) <= MAX_SAFE_INTEGER for part in ("major", "minor", "patch"))


def version_key(version: str) -> VersionKey:
    """A sort key giving SemVer precedence: a release sorts after its prereleases,
    numeric prerelease identifiers numerically and before alphanumeric ones."""
    match = _VERSION.fullmatch(version) if valid_version(version) else None
    if match is None:
        raise RequestInvalid(f"{_q(version)} is not a valid semver version")
    pre = match.group("pre")
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in (pre.split(".") if pre else ())
    )
    return (
        int(match.group("major")),
        int(match.group("minor")),
        int(match.group("patch")),
        0 if pre else 1,
        identifiers,
    )


def _sort_key(version: str) -> VersionKey:
    """version_key, with anything that is not a version sorted first instead of failing."""
    if valid_version(version):
        return version_key(version)
    return (-1, -1, -1, -1, ((1, 0, version),))


def clean_version(version: str) -> str | None:
    """semver.clean: trim, drop leading "v"/"=" signs; None if what remains is invalid."""
    cleaned = version.strip().lstrip("=v")
    return cleaned if valid_version(cleaned) else None


def valid_tag(tag: str) -> bool:
    """True for a dist-tag npm can use: URL-safe and not something npm reads as a version
    or range (``npm install pkg@1.x`` would never look the tag up)."""
    return (
        isinstance(tag, str)
        and 0 < len(tag) <= MAX_TAG_LENGTH
        and _URL_SAFE.fullmatch(tag) is not None
        and not _range_like(tag)
    )


def _range_like(tag: str) -> bool:
    # semver drops the first "*" of a comparator before parsing it, so "1.2.3*" is a range.
    return any(_RANGE_LIKE.fullmatch(t) for t in (tag, tag.replace("*", "", 1)))


def _check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not tag:
        raise RequestInvalid(f"dist-tag names must be non-empty strings, got {_q(tag)}")
    if not _URL_SAFE.fullmatch(tag) or len(tag) > MAX_TAG_LENGTH:
        raise RequestInvalid(
            f"invalid dist-tag {_q(tag)}: tags may only use characters encodeURIComponent "
            f"leaves alone (letters, digits and -_.!~*'()), at most {MAX_TAG_LENGTH} of them"
        )
    if _range_like(tag):
        raise RequestInvalid(f"Tag name must not be a valid SemVer range: {tag}")
    return tag


def parse_dist_tag_value(body: bytes) -> str:
    """The version in the body of ``PUT /-/package/<name>/dist-tags/<tag>`` (a JSON string)."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RequestInvalid(
            'the dist-tag body must be a JSON string naming a version, such as "1.0.0"'
        ) from None
    if not isinstance(value, str):
        raise RequestInvalid(
            f"the dist-tag body must be a JSON string naming a version, not {_q(value)}"
        )
    cleaned = clean_version(value)
    if cleaned is None:
        raise RequestInvalid(f"{_q(value)} is not a valid semver version")
    return cleaned


# --- checksums ----------------------------------------------------------------------------


def integrity(data: bytes) -> str:
    """The sha512 Subresource Integrity string npm records in ``dist.integrity``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def shasum(data: bytes) -> str:
    """The sha1 hex digest npm records in ``dist.shasum``."""
    return hashlib.sha1(data).hexdigest()


def _verify_integrity(declared: object, data: bytes, where: str) -> str:
    """Check every known hash in an SRI string against ``data``; one must be sha512."""
    if not isinstance(declared, str) or not declared.strip():
        raise RequestInvalid(f"{where}.dist.integrity is missing; publish with npm 5 or newer")
    saw_sha512 = False
    for token in declared.split():
        match = _SRI.fullmatch(token)
        if match is None or match.group("algo") not in _SRI_ALGORITHMS:
            continue  # ssri ignores what it does not understand, and so do we
        algo = match.group("algo")
        try:
            digest = base64.b64decode(match.group("digest"), validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        actual = hashlib.new(algo, data).digest()
        if not hmac.compare_digest(digest, actual):
            raise RequestInvalid(
                f"{where}.dist.integrity {_q(token, 100)} does not match the attached tarball"
                f" (it has {algo}-{base64.b64encode(actual).decode('ascii')})"
            )
        saw_sha512 = saw_sha512 or algo == "sha512"
    if not saw_sha512:
        raise RequestInvalid(f"{where}.dist.integrity must include a sha512 hash")
    return integrity(data)


def _verify_shasum(declared: object, data: bytes, where: str) -> str:
    if not isinstance(declared, str) or not _SHASUM.fullmatch(declared):
        raise RequestInvalid(f"{where}.dist.shasum must be the tarball's sha1 as 40 hex digits")
    actual = shasum(data)
    if declared.lower() != actual:
        raise RequestInvalid(
            f"{where}.dist.shasum {declared} does not match the attached tarball (sha1 {actual})"
        )
    return actual


# --- publish ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewVersion:
    version: str
    manifest: dict[str, Any]  # the version document as sent, dist.tarball untouched
    tarball: bytes
    integrity: str  # verified sha512 SRI
    shasum: str  # verified sha1 hex


@dataclass(frozen=True, slots=True)
class Publish:
    name: str
    versions: tuple[NewVersion, ...]
    dist_tags: dict[str, str]


def is_publish(document: Mapping[str, Any]) -> bool:
    """True when a ``PUT /<name>`` body uploads tarballs (npm publish) rather than edits
    the packument (npm deprecate sends the whole document back to the same URL)."""
    attachments = document.get("_attachments")
    return isinstance(attachments, Mapping) and len(attachments) > 0


def _check_document(document: object, name: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise RequestInvalid("the request body must be a JSON object (a package document)")
    doc_name = document.get("name")
    if doc_name != name:
        raise RequestInvalid(
            f"the document's name {_q(doc_name)} does not match the package in the URL {_q(name)}"
        )
    doc_id = document.get("_id", name)
    if doc_id != name:
        raise RequestInvalid(
            f"the document's _id {_q(doc_id)} does not match the package in the URL {_q(name)}"
        )
    return document


def _versions(document: Mapping[str, Any], *, required: bool) -> dict[str, Any]:
    versions = document.get("versions")
    if versions is None and not required:
        return {}
    if not isinstance(versions, dict) or (required and not versions):
        raise RequestInvalid('"versions" must be an object with at least one version')
    return versions


def _check_version_doc(name: str, version: object, doc: object) -> dict[str, Any]:
    if not isinstance(version, str) or not valid_version(version):
        raise RequestInvalid(
            f"{_q(version)} is not a valid semver version (npm publishes versions like 1.2.3 or"
            " 1.2.3-beta.1, without build metadata)"
        )
    if not isinstance(doc, dict):
        raise RequestInvalid(f"versions[{_q(version)}] must be an object")
    if doc.get("version") != version:
        raise RequestInvalid(
            f"versions[{_q(version)}] has version {_q(doc.get('version'))}; it must match its key"
        )
    if doc.get("name") != name:
        raise RequestInvalid(
            f"versions[{_q(version)}] has name {_q(doc.get('name'))}; it must be {_q(name)}"
        )
    doc_id = doc.get("_id", f"{name}@{version}")
    if doc_id != f"{name}@{version}":
        raise RequestInvalid(
            f"versions[{_q(version)}] has _id {_q(doc_id)}; it must be {_q(f'{name}@{version}')}"
        )
    return doc


def _dist_tags(value: object, allowed: Collection[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestInvalid('"dist-tags" must be an object mapping tags to versions')
    tags: dict[str, str] = {}
    for tag, version in value.items():
        _check_tag(tag)
        if not isinstance(version, str) or version not in allowed:
            raise RequestInvalid(
                f"dist-tag {_q(tag)} points at {_q(version)}, which is not a version of this"
                " package"
            )
        tags[tag] = version
    return tags


def _decode_attachment(filename: str, attachment: object) -> bytes:
    if not isinstance(attachment, dict):
        raise RequestInvalid(f"_attachments[{_q(filename)}] must be an object")
    data = attachment.get("data")
    if not isinstance(data, str) or not data:
        raise RequestInvalid(f"_attachments[{_q(filename)}].data must be the base64 tarball")
    try:
        tarball = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RequestInvalid(f"_attachments[{_q(filename)}].data is not valid base64") from None
    length = attachment.get("length")
    if length is not None and (
        not isinstance(length, int) or isinstance(length, bool) or length != len(tarball)
    ):
        raise RequestInvalid(
            f"_attachments[{_q(filename)}].length is {_q(length)} but the data decodes to"
            f" {len(tarball)} bytes"
        )
    return tarball


def _is_provenance(filename: str, name: str, versions: Iterable[str]) -> bool:
    """npm publish --provenance adds ``<name>-<version>.sigstore`` (JSON, not base64)."""
    return any(filename == f"{name}-{version}.sigstore" for version in versions)


def parse_publish(
    document: dict[str, Any], name: str, existing_versions: Collection[str] = ()
) -> Publish:
    """Validate the body of ``PUT /<name>`` from ``npm publish`` and pull out its tarballs.

    Versions in the document that carry no attachment are accepted only if they are
    in ``existing_versions`` (some clients send old versions along) and are ignored.
    A version that already exists *with* an attachment is returned like any other:
    refusing to publish over it is the caller's call (npm expects 403 or 409 there).
    Provenance bundles (``.sigstore`` attachments) are not kept.
    """
    validate_name(name, new_package=not existing_versions)
    document = _check_document(document, name)
    versions = {
        version: _check_version_doc(name, version, doc)
        for version, doc in _versions(document, required=True).items()
    }
    attachments = document.get("_attachments")
    if not isinstance(attachments, dict) or not attachments:
        raise RequestInvalid('"_attachments" must hold the tarball of the version being published')
    for filename in attachments:
        if _is_provenance(filename, name, versions):
            continue
        if not any(
            filename in (f"{name}-{version}.tgz", tarball_filename(name, version))
            for version in versions
        ):
            raise RequestInvalid(
                f"attachment {_q(filename)} does not belong to any version in the document;"
                f" expected {_q(f'{name}-<version>.tgz')}"
            )

    published: list[NewVersion] = []
    for version, doc in versions.items():
        candidates = [
            f
            for f in dict.fromkeys((f"{name}-{version}.tgz", tarball_filename(name, version)))
            if f in attachments
        ]
        if not candidates:
            if version in existing_versions:
                continue
            raise RequestInvalid(
                f"version {version} has no tarball: expected attachment"
                f" {_q(f'{name}-{version}.tgz')}"
            )
        if len(candidates) > 1:
            raise RequestInvalid(f"version {version} has more than one tarball attachment")
        where = f"versions[{_q(version)}]"
        tarball = _decode_attachment(candidates[0], attachments[candidates[0]])
        dist = doc.get("dist")
        if not isinstance(dist, dict):
            raise RequestInvalid(f"{where}.dist must be an object with integrity and shasum")
        published.append(
            NewVersion(
                version=version,
                manifest=doc,
                tarball=tarball,
                integrity=_verify_integrity(dist.get("integrity"), tarball, where),
                shasum=_verify_shasum(dist.get("shasum"), tarball, where),
            )
        )
    if not published:
        raise RequestInvalid("the document publishes no new version")
    allowed = {v.version for v in published} | set(existing_versions)
    return Publish(
        name=name,
        versions=tuple(published),
        dist_tags=_dist_tags(document.get("dist-tags"), allowed),
    )


# --- updates (deprecate, unpublish one version) -------------------------------------------


@dataclass(frozen=True, slots=True)
class Update:
    deprecations: dict[str, str]  # version -> message; "" clears
    removed_versions: tuple[str, ...]
    dist_tags: dict[str, str] | None


def _deprecation(version: str, value: object) -> str:
    if value is None or value is False:
        return ""
    if not isinstance(value, str):
        raise RequestInvalid(f"versions[{_q(version)}].deprecated must be a string message")
    return value


def parse_update(
    document: dict[str, Any],
    name: str,
    stored_versions: Collection[str],
    stored_deprecations: Mapping[str, str] | None = None,
) -> Update:
    """Read what changed in a packument sent back by ``npm deprecate`` (``PUT /<name>``) or
    ``npm unpublish <name>@<version>`` (``PUT /<name>/-rev/<rev>``).

    Only deprecation messages, removed versions and dist-tags are taken; edits to any
    other field are ignored, since the stored manifests stay authoritative. With
    ``stored_deprecations`` (version -> current message), only changed messages are
    returned; without it, every version that sends a ``deprecated`` field is.
    """
    document = _check_document(document, name)
    if is_publish(document):
        raise RequestInvalid(
            "tarballs cannot be uploaded when updating a package; use npm publish for new versions"
        )
    versions = _versions(document, required=False)
    stored = set(stored_versions)
    new = sorted((v for v in versions if v not in stored), key=_sort_key)
    if new:
        raise RequestInvalid(f"version {new[0]} is not published; use npm publish to add versions")
    deprecations: dict[str, str] = {}
    for version in sorted(versions, key=_sort_key):
        doc = versions[version]
        if not isinstance(doc, dict):
            raise RequestInvalid(f"versions[{_q(version)}] must be an object")
        if "deprecated" not in doc:
            continue
        message = _deprecation(version, doc["deprecated"])
        if stored_deprecations is not None and stored_deprecations.get(version, "") == message:
            continue
        deprecations[version] = message
    # A document without "versions" changes none (it is not "remove them all"), and
    # removing every version is an unpublish of the package, which npm sends as a
    # DELETE: refuse it here rather than empty the package by accident.
    removed: tuple[str, ...] = ()
    if "versions" in document:
        removed = tuple(sorted((v for v in stored if v not in versions), key=_sort_key))
        if removed and len(removed) == len(stored):
            raise RequestInvalid(
                "an update cannot remove every version; unpublish the package instead"
            )
    tags = document.get("dist-tags")
    return Update(
        deprecations=deprecations,
        removed_versions=removed,
        dist_tags=None if tags is None else _dist_tags(tags, set(versions)),
    )


# --- documents served ---------------------------------------------------------------------


def latest_version(versions: Collection[str], dist_tags: Mapping[str, str]) -> str | None:
    """The ``latest`` tag if it names a version, else the highest version."""
    latest = dist_tags.get("latest")
    if latest in versions:
        return latest
    return max(versions, key=_sort_key, default=None)


def _person(value: object) -> dict[str, str] | None:
    """A maintainer as npm shows one: ``{"name", "email"}``."""
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        person = {"name": value["name"]}
        if isinstance(value.get("email"), str):
            person["email"] = value["email"]
        return person
    if isinstance(value, str) and value.strip():
        match = re.fullmatch(r"\s*([^<(]*?)\s*(?:<([^>]*)>)?\s*(?:\([^)]*\))?\s*", value)
        if match and match.group(1):
            person = {"name": match.group(1)}
            if match.group(2):
                person["email"] = match.group(2)
            return person
    return None


def _maintainers(
    latest: Mapping[str, Any] | None, docs: Iterable[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """The latest version's ``maintainers``, else everyone recorded as ``_npmUser``."""
    declared = latest.get("maintainers") if latest else None
    sources: Iterable[object] = (
        declared if isinstance(declared, list) else (doc.get("_npmUser") for doc in docs)
    )
    people: dict[str, dict[str, str]] = {}
    for source in sources:
        person = _person(source)
        if person is not None:
            people.setdefault(person["name"], person)
    return list(people.values())


def packument(
    name: str,
    versions: Mapping[str, Mapping[str, Any]],
    dist_tags: Mapping[str, str],
    times: Mapping[str, str],
    tarball_url: Callable[[str], str],
    modified: str,
    rev: str,
) -> dict[str, Any]:
    """The full package document (``GET /<name>`` with ``Accept: application/json``).

    Each version's ``dist.tarball`` points at this registry, whatever the publisher sent;
    ``readme`` is kept only at the top level, from the latest version, as npmjs does.
    ``times`` maps versions (and optionally ``created``) to ISO-8601 timestamps.
    """
    ordered = sorted(versions, key=_sort_key)
    docs: dict[str, dict[str, Any]] = {}
    for version in ordered:
        doc = {k: v for k, v in versions[version].items() if k != "readme"}
        doc["name"] = name
        doc["version"] = version
        doc.setdefault("_id", f"{name}@{version}")
        dist = versions[version].get("dist")
        doc["dist"] = {
            **(dist if isinstance(dist, Mapping) else {}),
            "tarball": tarball_url(version),
        }
        docs[version] = doc

    version_times = {v: times[v] for v in ordered if v in times}
    created = times.get("created") or min(version_times.values(), default=modified)
    latest = latest_version(ordered, dist_tags)
    latest_doc = versions[latest] if latest is not None else None

    result: dict[str, Any] = {
        "_id": name,
        "_rev": rev,
        "name": name,
        "dist-tags": dict(dist_tags),
        "versions": docs,
        "time": {"created": created, "modified": modified, **version_times},
        "maintainers": _maintainers(latest_doc, (versions[v] for v in ordered)),
    }
    if latest_doc is not None:
        for field in HOISTED_FIELDS:
            if latest_doc.get(field) is not None:
                result[field] = latest_doc[field]
    return result


def _has_install_script(doc: Mapping[str, Any]) -> bool:
    scripts = doc.get("scripts")
    return isinstance(scripts, Mapping) and any(scripts.get(s) for s in INSTALL_SCRIPTS)


def abbreviated_version(doc: Mapping[str, Any]) -> dict[str, Any]:
    """One version of the corgi document: only what installing it needs."""
    result = {field: doc[field] for field in INSTALL_FIELDS if field in doc}
    if "hasInstallScript" not in result and _has_install_script(doc):
        result["hasInstallScript"] = True
    return result


def abbreviated(full: Mapping[str, Any]) -> dict[str, Any]:
    """The corgi document (``Accept: application/vnd.npm.install-v1+json``) from a full one."""
    time = full.get("time")
    modified = time.get("modified") if isinstance(time, Mapping) else full.get("modified")
    result: dict[str, Any] = {"name": full["name"]}
    if modified is not None:
        result["modified"] = modified
    result["dist-tags"] = dict(full.get("dist-tags") or {})
    result["versions"] = {
        version: abbreviated_version(doc) for version, doc in (full.get("versions") or {}).items()
    }
    return result


def wants_abbreviated(accept: str | None) -> bool:
    """True if the Accept header names the corgi type at least as highly as JSON.

    Only an explicit ``application/vnd.npm.install-v1+json`` counts: ``*/*`` alone
    (what ``npm deprecate`` and ``npm unpublish`` send) gets the full document.
    """
    if not accept:
        return False
    exact: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        media = media.lower()
        exact[media] = max(quality, exact.get(media, quality))
    corgi = exact.get(ABBREVIATED_TYPE, 0.0)
    json_q = exact.get(FULL_TYPE, exact.get("application/*", exact.get("*/*", 0.0)))
    return corgi > 0 and corgi >= json_q


# --- search -------------------------------------------------------------------------------


def _link(value: object) -> str | None:
    """A browsable URL from a package.json homepage/bugs/repository value."""
    url = value.get("url") if isinstance(value, Mapping) else value
    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    if url.startswith("git+"):
        url = url[4:]
    scp = re.fullmatch(r"git@([^:/]+):(.+)", url)
    if scp:
        url = f"https://{scp.group(1)}/{scp.group(2)}"
    elif url.startswith(("git://", "ssh://git@")):
        url = "https://" + url.split("://", 1)[1].removeprefix("git@")
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", url, re.ASCII):
        url = f"https://github.com/{url}"  # npm's "user/repo" shorthand means GitHub
    return url.removesuffix(".git") if url.startswith("https://") else url


def _keywords(value: object) -> list[str]:
    if isinstance(value, str):
        return [k for k in re.split(r"[,\s]+", value) if k]
    if isinstance(value, list):
        return [k for k in value if isinstance(k, str)]
    return []


def search_result(
    name: str, latest: Mapping[str, Any], date: str, *, score: float = 1.0
) -> dict[str, Any]:
    """One entry of ``GET /-/v1/search``'s ``objects``.

    ``package.maintainers`` is always a list: npm search reads ``maintainers.map`` on
    every result and fails on a result without one.
    """
    description = latest.get("description")
    package: dict[str, Any] = {
        "name": name,
        "version": latest.get("version"),
        "description": description if isinstance(description, str) else "",
        "keywords": _keywords(latest.get("keywords")),
        "date": date,
        "links": {
            key: link
            for key, link in (
                ("homepage", _link(latest.get("homepage"))),
                ("repository", _link(latest.get("repository"))),
                ("bugs", _link(latest.get("bugs"))),
            )
            if link
        },
    }
    publisher = _person(latest.get("_npmUser"))
    if publisher is not None:
        package["publisher"] = {"username": publisher["name"], "email": publisher.get("email", "")}
    package["maintainers"] = [
        {"username": p["name"], "email": p.get("email", "")} for p in _maintainers(latest, [latest])
    ]
    return {
        "package": package,
        "score": {
            "final": score,
            "detail": {"quality": score, "popularity": score, "maintenance": score},
        },
        "searchScore": score,
    }
