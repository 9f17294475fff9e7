"""Hosted Maven repositories: the Maven 2 layout, version order and metadata. No I/O.

What `mvn deploy`, `mvn deploy:deploy-file` and Jenkins' nexusArtifactUploader send
is a PUT per file under ``/repository/NAME/``::

    com/example/lib/1.0/lib-1.0.jar                        an artifact
    com/example/lib/1.0/lib-1.0.jar.sha1                   its checksum
    com/example/lib/maven-metadata.xml                     the artifact's versions
    com/example/lib/1.0-SNAPSHOT/lib-1.0-20261127.120000-1.jar
    com/example/lib/1.0-SNAPSHOT/maven-metadata.xml        the snapshot's builds

`parse_path` turns such a path into coordinates, so the rest of the registry never
splits a path again. `version_key` orders versions as Maven's ``ComparableVersion``
(maven-artifact 3.9) does, which decides ``latest`` and ``release`` in the metadata
`artifact_metadata` and `snapshot_metadata` write. `parse_metadata` reads what a
client uploads, refusing anything a hostile XML document could use (DOCTYPE,
entities). Every error is a `RequestInvalid` whose message a Maven user can act on.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias
from urllib.parse import quote
from xml.parsers import expat

from cargohold.errors import RequestInvalid

CHECKSUM_ALGORITHMS: tuple[str, ...] = ("md5", "sha1", "sha256", "sha512")
METADATA_FILE = "maven-metadata.xml"
SNAPSHOT = "SNAPSHOT"
MAX_PATH = 1024
MAX_METADATA = 1 << 20
# Deeper than any real maven-metadata.xml (four levels) by a wide margin.
MAX_METADATA_DEPTH = 32

# What Maven allows in coordinates (maven-model's ID_REGEX is [A-Za-z0-9_\-.]+),
# plus ~ and +, which some version schemes use. Kept ASCII so that a path is
# the same in every storage backend and needs no escaping in XML or HTML.
_NAME = re.compile(r"[A-Za-z0-9._~+-]+")
_BAD_CHAR = re.compile(r"[^A-Za-z0-9._~+-]")
# A unique snapshot's "timestamp-buildNumber", as maven-resolver writes it.
_TIMESTAMPED = re.compile(r"([0-9]{8}\.[0-9]{6})-([1-9][0-9]{0,8})")
_TIMESTAMP = re.compile(r"[0-9]{8}\.[0-9]{6}")
_DIGITS = re.compile(r"[0-9]+")

Kind: TypeAlias = Literal["artifact", "metadata", "checksum"]


@dataclass(frozen=True, slots=True)
class MavenPath:
    """A file in the Maven 2 layout.

    A checksum carries the coordinates of the file it covers (``target``), so its
    ``classifier`` and ``extension`` are that file's: ``lib-1.0.jar.sha1`` has
    extension ``jar`` and checksum ``sha1``.
    """

    path: str
    kind: Kind
    group_id: str | None
    artifact_id: str | None
    version: str | None
    filename: str
    checksum: str | None = None
    target: str | None = None
    snapshot: bool = False
    timestamp: str | None = None
    build_number: int | None = None
    classifier: str | None = None
    extension: str | None = None


def _fail(path: str, message: str) -> RequestInvalid:
    shown = path if len(path) <= 120 else path[:117] + "..."
    return RequestInvalid(f"Maven path {shown!r}: {message}")


def is_snapshot(version: str) -> bool:
    """Whether ``version`` is a SNAPSHOT: the test maven-resolver applies to a base
    version (case-sensitive, as ``1.0-snapshot`` is a release to it)."""
    return version == SNAPSHOT or version.endswith("-" + SNAPSHOT)


def _clean_path(path: str) -> str:
    """The path without its outer slashes, every segment checked, so that no path
    can reach outside the repository or mean different files in different stores."""
    if not path:
        raise _fail(path, "the path is empty")
    if len(path) > MAX_PATH:
        raise _fail(
            path, f"the path is {len(path)} characters long; at most {MAX_PATH} are allowed"
        )
    if "\\" in path:
        raise _fail(path, "backslashes are not allowed; separate directories with '/'")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        raise _fail(path, "control characters are not allowed")
    clean = path.removeprefix("/").removesuffix("/")
    if not clean:
        raise _fail(path, "the path names the repository root, not a file")
    for segment in clean.split("/"):
        if not segment:
            raise _fail(path, "empty path segments ('//') are not allowed")
        if segment in (".", ".."):
            raise _fail(path, f"{segment!r} segments are not allowed")
        if segment.startswith("."):
            raise _fail(path, f"segment {segment!r} starts with '.'; no Maven coordinate does")
        bad = _BAD_CHAR.search(segment)
        if bad:
            raise _fail(
                path,
                f"segment {segment!r} contains {bad.group()!r}; Maven paths may use only "
                "ASCII letters, digits and . _ ~ + -",
            )
    return clean


def parse_path(path: str) -> MavenPath:
    """Classify a decoded request path below ``/repository/NAME/``."""
    clean = _clean_path(path)
    segments = clean.split("/")
    filename = segments[-1]
    for algorithm in CHECKSUM_ALGORITHMS:
        suffix = "." + algorithm
        if filename.endswith(suffix):
            covered = filename.removesuffix(suffix)
            if _checksum_algorithm(covered) is not None:
                raise _fail(path, f"{filename!r} is a checksum of a checksum")
            target = _parse_file(path, clean.removesuffix(suffix), segments[:-1], covered)
            return replace(
                target,
                path=clean,
                kind="checksum",
                filename=filename,
                checksum=algorithm,
                target=target.path,
            )
    return _parse_file(path, clean, segments[:-1], filename)


def _checksum_algorithm(filename: str) -> str | None:
    for algorithm in CHECKSUM_ALGORITHMS:
        if filename.endswith("." + algorithm):
            return algorithm
    return None


def _parse_file(original: str, path: str, dirs: list[str], filename: str) -> MavenPath:
    if filename == METADATA_FILE:
        return _parse_metadata_path(original, path, dirs)
    if len(dirs) < 3:
        raise _fail(
            original,
            "an artifact lives at groupId/artifactId/version/file, for example "
            "com/example/lib/1.0/lib-1.0.jar",
        )
    group_id, artifact_id, version = _group(original, dirs[:-2]), dirs[-2], dirs[-1]
    snapshot = is_snapshot(version)
    prefix = f"{artifact_id}-{version}"
    rest: str | None = None
    timestamp: str | None = None
    build_number: int | None = None
    if filename.startswith(prefix):
        rest = filename[len(prefix) :]
    if snapshot and not (rest and rest[0] in "-."):
        base = f"{artifact_id}-{version.removesuffix(SNAPSHOT)}"
        found = _TIMESTAMPED.match(filename, len(base)) if filename.startswith(base) else None
        if found:
            timestamp, build_number = found.group(1), int(found.group(2))
            rest = filename[found.end() :]
    if not rest or rest[0] not in "-.":
        expected = prefix
        if snapshot:
            expected += f" or {artifact_id}-{version.removesuffix(SNAPSHOT)}<timestamp>-<build>"
        raise _fail(
            original,
            f"file name {filename!r} must start with {expected} (artifactId-version) "
            "followed by '-classifier' or '.extension'",
        )
    if not snapshot and _TIMESTAMPED.match(rest, 1):
        raise _fail(
            original,
            f"{filename!r} looks like a timestamped SNAPSHOT file, but version {version!r} "
            "is not a SNAPSHOT",
        )
    classifier: str | None = None
    if rest[0] == "-":
        classifier, dot, extension = rest[1:].partition(".")
        if not classifier or not dot:
            raise _fail(
                original, f"file name {filename!r} needs a classifier and an extension after '-'"
            )
    else:
        extension = rest[1:]
    parts = extension.split(".")
    if "" in parts:
        raise _fail(original, f"file name {filename!r} has an empty extension")
    if parts[0].isdigit():
        raise _fail(
            original,
            f"file name {filename!r} does not match version {version!r}: expected "
            f"{prefix}.<extension> or {prefix}-<classifier>.<extension>",
        )
    return MavenPath(
        path=path,
        kind="artifact",
        group_id=group_id,
        artifact_id=artifact_id,
        version=version,
        filename=filename,
        snapshot=snapshot,
        timestamp=timestamp,
        build_number=build_number,
        classifier=classifier,
        extension=extension,
    )


def _group(original: str, parts: list[str]) -> str:
    """The groupId of its directories. A dot inside one would make ``com.example/lib``
    and ``com/example/lib`` the same artifact, so it is refused."""
    for part in parts:
        if "." in part:
            raise _fail(
                original,
                f"a groupId's parts are directories: {part!r} has a dot "
                f"(com.example is com/example)",
            )
    return ".".join(parts)


def _parse_metadata_path(original: str, path: str, dirs: list[str]) -> MavenPath:
    # Metadata sits beside an artifact's versions, in a SNAPSHOT version directory, or
    # in a plugin group (which reads as an artifact named after the last group part).
    if len(dirs) < 2:
        raise _fail(
            original,
            f"{METADATA_FILE} belongs in groupId/artifactId/ or groupId/artifactId/version/, "
            f"for example com/example/lib/{METADATA_FILE}",
        )
    if len(dirs) >= 3 and is_snapshot(dirs[-1]):
        return MavenPath(
            path=path,
            kind="metadata",
            group_id=_group(original, dirs[:-2]),
            artifact_id=dirs[-2],
            version=dirs[-1],
            filename=METADATA_FILE,
            snapshot=True,
        )
    return MavenPath(
        path=path,
        kind="metadata",
        group_id=_group(original, dirs[:-1]),
        artifact_id=dirs[-1],
        version=None,
        filename=METADATA_FILE,
    )


# --- Version order -----------------------------------------------------------------
#
# maven-artifact's ComparableVersion parses a version into a tree of items (numbers,
# qualifiers, "combinations" such as rc1, and sub-lists started by '-' or by a
# digit/letter change) and compares trees, padding the shorter list with "nothing".
# Sorting wants a key, so each item becomes a tuple whose first element is a rank:
# when both sides have an item, ranks follow Maven's type order (qualifier < list <
# number), and the end of a list, `_END`, sits between the items Maven finds smaller
# than nothing (alpha..snapshot, lists starting with them) and those it finds larger
# (sp, unknown qualifiers, numbers). Trailing items equal to nothing (0, "", ga,
# final, release) are dropped, as Maven's padding would ignore them.

VersionKey: TypeAlias = tuple["int | str | VersionKey", ...]

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE = _QUALIFIERS.index("")
_RELEASE_ALIASES = frozenset({"ga", "final", "release"})
_SHORT_QUALIFIERS = {"a": "alpha", "b": "beta", "m": "milestone"}
_PRE, _LIST_BELOW, _NOTHING, _POST, _LIST_ABOVE, _NUMBER = range(6)
_END: VersionKey = (_NOTHING,)
_NULL_LIST = 9


@dataclass(frozen=True, slots=True)
class _Number:
    """Digits without leading zeros, kept as text: Python refuses to convert very
    long digit strings to int, and (length, digits) orders them just as well."""

    digits: str

    @classmethod
    def parse(cls, text: str) -> _Number:
        return cls(text.lstrip("0") or "0")

    def key(self) -> tuple[int, str]:
        return len(self.digits), self.digits


@dataclass(frozen=True, slots=True)
class _Word:
    """A qualifier, with the number that follows it for a combination (``rc1``)."""

    text: str
    number: _Number | None = None


_ZERO = _Number("0")
_Item: TypeAlias = "_Number | _Word | list[_Item]"


def _word(text: str, followed_by_digit: bool) -> _Word:
    if followed_by_digit and text in _SHORT_QUALIFIERS:
        text = _SHORT_QUALIFIERS[text]
    return _Word("rc" if text == "cr" else text)


def _make_item(combination: bool, digits: bool, text: str) -> _Item:
    if combination:
        text = text.replace("-", "")
        split = next((i for i, char in enumerate(text) if char.isascii() and char.isdigit()), 0)
        if not split:
            return _word(text, False)
        return _Word(_word(text[:split], True).text, _Number.parse(text[split:]))
    if digits:
        return _Number.parse(text)
    return _word(text, False)


def _is_null(item: _Item) -> bool:
    if isinstance(item, _Number):
        return item == _ZERO
    if isinstance(item, _Word):
        return item.number is None and item.text == ""
    return not item


def _normalize(items: list[_Item]) -> None:
    """Maven's ListItem.normalize: drop zeros that end a list or precede a qualifier."""
    for item in items:
        if isinstance(item, list):
            _normalize(item)
    for i in range(len(items) - 1, -1, -1):
        if not _is_null(items[i]):
            continue
        following = items[i + 1] if i + 1 < len(items) else None
        if (
            following is None
            or (isinstance(following, _Word) and following.number is None)
            or (isinstance(following, list) and following and isinstance(following[0], _Word))
        ):
            del items[i]


def _parse_version(version: str) -> list[_Item]:
    """ComparableVersion.parseVersion, item for item."""
    text = version.lower()
    root: list[_Item] = []
    current = root
    digits = combination = False
    start = 0

    def open_list() -> None:
        nonlocal current
        sub: list[_Item] = []
        current.append(sub)
        current = sub

    for i, char in enumerate(text):
        is_digit = char.isascii() and char.isdigit()
        if char == ".":
            current.append(_ZERO if i == start else _make_item(combination, digits, text[start:i]))
            combination = False
            start = i + 1
        elif char == "-":
            if i == start:
                current.append(_ZERO)
            else:
                # "rc-1" is read as "rc1".
                nxt = text[i + 1 : i + 2]
                if not digits and nxt.isascii() and nxt.isdigit():
                    combination = True
                    continue
                current.append(_make_item(combination, digits, text[start:i]))
            start = i + 1
            if current:
                open_list()
            combination = False
        elif is_digit:
            if not digits and i > start:
                combination = True
                if current:
                    open_list()
            digits = True
        else:
            if digits and i > start:
                current.append(_make_item(combination, True, text[start:i]))
                start = i
                open_list()
                combination = False
            digits = False
    if len(text) > start:
        # "1.0.0.rc1" reads as "1.0.0-rc1".
        if not digits and current:
            open_list()
        current.append(_make_item(combination, digits, text[start:]))
    _normalize(root)
    return root


def _qualifier(text: str) -> tuple[int, str]:
    if text in _RELEASE_ALIASES:
        return _RELEASE, ""
    if text in _QUALIFIERS:
        return _QUALIFIERS.index(text), ""
    return len(_QUALIFIERS), text


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _item_key(item: _Item) -> tuple[VersionKey, int, bool]:
    """The item's key, how it compares with nothing (-1, 0, 1), and whether it may be
    dropped from the end of its list."""
    if isinstance(item, _Number):
        zero = item == _ZERO
        return (_NUMBER, *item.key()), int(not zero), zero
    if isinstance(item, _Word):
        index, name = _qualifier(item.text)
        against_nothing = _sign(index - _RELEASE)
        rank = (_PRE, _NOTHING, _POST)[against_nothing + 1]
        number = item.number.key() if item.number is not None else (0, "")
        key: VersionKey = (rank, index, name, int(item.number is not None), *number)
        return key, against_nothing, against_nothing == 0 and item.number is None
    elements, against_nothing = _list_key(item)
    if len(elements) == 1:
        return _END, 0, True
    if against_nothing < 0:
        return (_LIST_BELOW, elements), -1, False
    if against_nothing > 0:
        return (_LIST_ABOVE, elements), 1, False
    return (_NOTHING, _NULL_LIST, "", 0, 0, "", elements), 0, False


def _list_key(items: list[_Item]) -> tuple[VersionKey, int]:
    keys: list[VersionKey] = []
    droppable: list[bool] = []
    against_nothing = 0
    for item in items:
        key, sign, drop = _item_key(item)
        keys.append(key)
        droppable.append(drop)
        against_nothing = against_nothing or sign
    while droppable and droppable[-1]:
        keys.pop()
        droppable.pop()
    return (*keys, _END), against_nothing


def version_key(version: str) -> VersionKey:
    """A sort key that orders versions as Maven does, so that ``latest`` and
    ``release`` match what Maven itself would pick.

    ``1.0-alpha < 1.0-beta < 1.0-rc < 1.0-SNAPSHOT < 1.0 < 1.0-sp < 1.0.1`` and
    ``1.9 < 1.10``; ``1``, ``1.0`` and ``1.0.0`` have the same key. Where
    ComparableVersion is not transitive (a bare qualifier between dots, such as
    ``1.sp.1``, against a ``-`` list) the order is consistent but may differ.
    """
    return _list_key(_parse_version(version))[0]


# --- Writing maven-metadata.xml -------------------------------------------------------


def _timestamp(moment: datetime) -> str:
    """Maven's ``lastUpdated``/``updated`` form, always in UTC (naive means UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y%m%d%H%M%S")


def _check_name(what: str, value: str, dotted: bool = False) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value.startswith("."):
        raise RequestInvalid(
            f"{what} {value!r} is not valid; use ASCII letters, digits and . _ ~ + -"
        )
    if dotted and ("" in value.split(".")):
        raise RequestInvalid(f"{what} {value!r} has an empty part between dots")


def _xml(lines: list[str], depth: int, name: str, value: str | int) -> None:
    lines.append(f"{'  ' * depth}<{name}>{html.escape(str(value), quote=False)}</{name}>")


def _document(lines: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + "\n".join(lines) + "\n").encode()


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Distinct versions in Maven order; equal-ranking spellings keep a fixed order."""
    return sorted(set(versions), key=lambda version: (version_key(version), version))


def artifact_metadata(
    group_id: str,
    artifact_id: str,
    versions: Iterable[str],
    last_updated: datetime,
    plugins: Iterable[MavenPlugin] = (),
) -> bytes:
    """The artifact-level maven-metadata.xml clients read to resolve ``LATEST``,
    ``RELEASE`` and version ranges; written by us so that it always matches the
    versions actually stored, whatever each client uploaded. ``plugins`` are the
    prefixes of a plugin group whose directory is also an artifact's."""
    _check_name("groupId", group_id, dotted=True)
    _check_name("artifactId", artifact_id)
    ordered = sort_versions(versions)
    for version in ordered:
        _check_name("version", version)
    releases = [version for version in ordered if not is_snapshot(version)]
    lines = ["<metadata>"]
    _xml(lines, 1, "groupId", group_id)
    _xml(lines, 1, "artifactId", artifact_id)
    lines.append("  <versioning>")
    if ordered:
        _xml(lines, 2, "latest", ordered[-1])
    if releases:
        _xml(lines, 2, "release", releases[-1])
    if ordered:
        lines.append("    <versions>")
        for version in ordered:
            _xml(lines, 3, "version", version)
        lines.append("    </versions>")
    else:
        lines.append("    <versions/>")
    _xml(lines, 2, "lastUpdated", _timestamp(last_updated))
    lines.append("  </versioning>")
    _plugins(lines, plugins)
    lines.append("</metadata>")
    return _document(lines)


def group_metadata(plugins: Iterable[MavenPlugin]) -> bytes:
    """The group-level maven-metadata.xml through which ``mvn PREFIX:goal`` finds a
    plugin's artifactId in the ``pluginGroups`` (Maven 3.9's deploy uploads it with
    every plugin). Entries keep their order; a repeated prefix keeps its first."""
    lines = ["<metadata>"]
    _plugins(lines, plugins)
    lines.append("</metadata>")
    return _document(lines)


def _plugins(lines: list[str], plugins: Iterable[MavenPlugin]) -> None:
    unique: dict[str, MavenPlugin] = {}
    for plugin in plugins:
        _check_name("plugin prefix", plugin.prefix)
        _check_name("plugin artifactId", plugin.artifact_id)
        unique.setdefault(plugin.prefix, plugin)
    if not unique:
        return
    lines.append("  <plugins>")
    for plugin in unique.values():
        lines.append("    <plugin>")
        if plugin.name is not None:
            _xml(lines, 3, "name", plugin.name)
        _xml(lines, 3, "prefix", plugin.prefix)
        _xml(lines, 3, "artifactId", plugin.artifact_id)
        lines.append("    </plugin>")
    lines.append("  </plugins>")


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    """One stored file of a unique (timestamped) snapshot build."""

    timestamp: str
    build_number: int
    classifier: str | None
    extension: str
    updated: datetime


def snapshot_metadata(
    group_id: str,
    artifact_id: str,
    version: str,
    files: Iterable[SnapshotFile],
    last_updated: datetime,
) -> bytes:
    """The SNAPSHOT-version maven-metadata.xml that maps ``1.0-SNAPSHOT`` to the
    newest timestamped file of each classifier and extension, as
    maven-deploy-plugin 3 writes it; clients resolve snapshots through it."""
    _check_name("groupId", group_id, dotted=True)
    _check_name("artifactId", artifact_id)
    _check_name("version", version)
    if not is_snapshot(version):
        raise RequestInvalid(f"version {version!r} is not a SNAPSHOT version")
    newest: dict[tuple[str | None, str], SnapshotFile] = {}
    for file in files:
        if not _TIMESTAMP.fullmatch(file.timestamp):
            raise RequestInvalid(
                f"snapshot timestamp {file.timestamp!r} is not in the form yyyyMMdd.HHmmss"
            )
        if not isinstance(file.build_number, int) or file.build_number < 1:
            raise RequestInvalid(
                f"snapshot build number {file.build_number!r} must be a positive integer"
            )
        if file.classifier is not None:
            _check_name("classifier", file.classifier)
        _check_name("extension", file.extension, dotted=True)
        slot = (file.classifier, file.extension)
        held = newest.get(slot)
        if held is None or _build_order(file) > _build_order(held):
            newest[slot] = file
    base = version.removesuffix(SNAPSHOT)
    lines = ['<metadata modelVersion="1.1.0">']
    _xml(lines, 1, "groupId", group_id)
    _xml(lines, 1, "artifactId", artifact_id)
    _xml(lines, 1, "version", version)
    lines.append("  <versioning>")
    if newest:
        latest = max(newest.values(), key=_build_order)
        lines.append("    <snapshot>")
        _xml(lines, 3, "timestamp", latest.timestamp)
        _xml(lines, 3, "buildNumber", latest.build_number)
        lines.append("    </snapshot>")
    _xml(lines, 2, "lastUpdated", _timestamp(last_updated))
    if newest:
        lines.append("    <snapshotVersions>")
        for (classifier, extension), file in sorted(newest.items(), key=_slot_order):
            lines.append("      <snapshotVersion>")
            if classifier is not None:
                _xml(lines, 4, "classifier", classifier)
            _xml(lines, 4, "extension", extension)
            _xml(lines, 4, "value", f"{base}{file.timestamp}-{file.build_number}")
            _xml(lines, 4, "updated", _timestamp(file.updated))
            lines.append("      </snapshotVersion>")
        lines.append("    </snapshotVersions>")
    lines.append("  </versioning>")
    lines.append("</metadata>")
    return _document(lines)


def _build_order(file: SnapshotFile) -> tuple[int, str, str]:
    return file.build_number, file.timestamp, _timestamp(file.updated)


def _slot_order(item: tuple[tuple[str | None, str], SnapshotFile]) -> tuple[bool, str, str]:
    (classifier, extension), _ = item
    return classifier is not None, classifier or "", extension


# --- Reading maven-metadata.xml -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MavenPlugin:
    """A plugin prefix entry of group-level metadata (``mvn PREFIX:goal``)."""

    prefix: str
    artifact_id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SnapshotVersion:
    """A ``<snapshotVersion>``: which timestamped file a client fetches for one
    classifier and extension of a SNAPSHOT."""

    classifier: str | None
    extension: str
    value: str
    updated: str | None


@dataclass(frozen=True, slots=True)
class MavenMetadata:
    """The parts of an uploaded maven-metadata.xml that can be checked against the
    repository; absent elements are None or empty."""

    group_id: str | None
    artifact_id: str | None
    version: str | None
    versions: tuple[str, ...]
    latest: str | None
    release: str | None
    snapshot_timestamp: str | None
    snapshot_build_number: int | None
    plugins: tuple[MavenPlugin, ...] = ()
    last_updated: str | None = None
    snapshot_versions: tuple[SnapshotVersion, ...] = ()


@dataclass(slots=True)
class _Element:
    name: str
    children: list[_Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def child(self, name: str) -> _Element | None:
        return next((child for child in self.children if child.name == name), None)

    def all(self, name: str) -> list[_Element]:
        return [child for child in self.children if child.name == name]

    def value(self, name: str) -> str | None:
        child = self.child(name)
        text = "".join(child.text).strip() if child is not None else ""
        return text or None


def _refuse_declarations(*_: Any) -> None:
    raise RequestInvalid("maven-metadata.xml must not contain a DOCTYPE or entity declarations")


def _refuse_external(*_: Any) -> int:
    raise RequestInvalid("maven-metadata.xml must not refer to external entities")


def _read_xml(data: bytes) -> _Element:
    """A tree of the document's elements, built with expat directly so that DTDs
    and entities, the means of billion-laughs and XXE attacks, are refused rather
    than expanded."""
    if len(data) > MAX_METADATA:
        raise RequestInvalid(
            f"maven-metadata.xml is {len(data)} bytes; at most {MAX_METADATA} are accepted"
        )
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Element] = []
    roots: list[_Element] = []

    def start(name: str, _attributes: Any) -> None:
        element = _Element(name.rpartition(" ")[2])
        (stack[-1].children if stack else roots).append(element)
        if len(stack) >= MAX_METADATA_DEPTH:
            raise RequestInvalid(
                f"maven-metadata.xml nests elements more than {MAX_METADATA_DEPTH} deep"
            )
        stack.append(element)

    def end(_name: str) -> None:
        stack.pop()

    def characters(text: str) -> None:
        if stack:
            stack[-1].text.append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.StartDoctypeDeclHandler = _refuse_declarations
    parser.EntityDeclHandler = _refuse_declarations
    parser.UnparsedEntityDeclHandler = _refuse_declarations
    parser.ExternalEntityRefHandler = _refuse_external
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise RequestInvalid(f"maven-metadata.xml is not well-formed XML: {exc}") from None
    return roots[0]


def parse_metadata(data: bytes) -> MavenMetadata:
    """Read an uploaded maven-metadata.xml: what a client believes the versions are."""
    root = _read_xml(data)
    if root.name != "metadata":
        raise RequestInvalid(
            f"maven-metadata.xml must have a <metadata> root element, not <{root.name}>"
        )
    versioning = root.child("versioning") or _Element("versioning")
    versions = versioning.child("versions") or _Element("versions")
    snapshot = versioning.child("snapshot") or _Element("snapshot")
    build_text = snapshot.value("buildNumber")
    build_number: int | None = None
    if build_text is not None:
        if not _DIGITS.fullmatch(build_text) or len(build_text) > 9:
            raise RequestInvalid(
                f"maven-metadata.xml: buildNumber {build_text[:40]!r} is not a whole number"
            )
        build_number = int(build_text)
    snapshot_versions = versioning.child("snapshotVersions") or _Element("snapshotVersions")
    plugins = root.child("plugins") or _Element("plugins")
    return MavenMetadata(
        group_id=root.value("groupId"),
        artifact_id=root.value("artifactId"),
        version=root.value("version"),
        versions=tuple(
            text for node in versions.all("version") if (text := _text(node)) is not None
        ),
        latest=versioning.value("latest"),
        release=versioning.value("release"),
        snapshot_timestamp=snapshot.value("timestamp"),
        snapshot_build_number=build_number,
        plugins=tuple(_plugin(node) for node in plugins.all("plugin")),
        last_updated=versioning.value("lastUpdated"),
        snapshot_versions=tuple(
            _snapshot_version(node) for node in snapshot_versions.all("snapshotVersion")
        ),
    )


def _text(element: _Element) -> str | None:
    return "".join(element.text).strip() or None


def _plugin(node: _Element) -> MavenPlugin:
    prefix, artifact_id = node.value("prefix"), node.value("artifactId")
    if prefix is None or artifact_id is None:
        raise RequestInvalid(
            "maven-metadata.xml: each <plugin> needs a <prefix> and an <artifactId>"
        )
    return MavenPlugin(prefix=prefix, artifact_id=artifact_id, name=node.value("name"))


def _snapshot_version(node: _Element) -> SnapshotVersion:
    extension, value = node.value("extension"), node.value("value")
    if extension is None or value is None:
        raise RequestInvalid(
            "maven-metadata.xml: each <snapshotVersion> needs an <extension> and a <value>"
        )
    return SnapshotVersion(
        classifier=node.value("classifier"),
        extension=extension,
        value=value,
        updated=node.value("updated"),
    )


# --- Browsing -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingEntry:
    """One row of a browse page; ``size`` is shown for files only."""

    name: str
    is_dir: bool
    size: int | None
    modified: datetime | None


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _java_date(moment: datetime) -> str:
    """Nexus prints Java's ``Date.toString()``; spelled out here so that the
    process locale cannot change the day and month names."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return (
        f"{_DAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment.day:02d} "
        f"{moment:%H:%M:%S} UTC {moment.year}"
    )


def listing_html(repository: str, path: str, entries: Iterable[ListingEntry]) -> str:
    """The directory page Nexus serves for ``/repository/NAME/path/``, which people
    and some scripts browse; links are relative, so it works behind any prefix."""
    clean = path.strip("/")
    title = html.escape(f"Index of /{clean}")
    rows: list[str] = []
    if clean:
        rows.append(_row('<a href="../">Parent Directory</a>', "", ""))
    for entry in sorted(entries, key=lambda entry: (not entry.is_dir, entry.name)):
        if entry.name in ("", ".", "..") or "/" in entry.name:
            raise RequestInvalid(f"cannot list an entry named {entry.name!r}")
        slash = "/" if entry.is_dir else ""
        href = html.escape(quote(entry.name, safe="") + slash)
        link = f'<a href="{href}">{html.escape(entry.name)}{slash}</a>'
        modified = _java_date(entry.modified) if entry.modified is not None else ""
        size = str(entry.size) if entry.size is not None and not entry.is_dir else ""
        rows.append(_row(link, modified, size))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '  <meta charset="utf-8">',
            f"  <title>{title}</title>",
            "</head>",
            "<body>",
            f"<h1>{title}</h1>",
            f"<p>Repository {html.escape(repository)}</p>",
            '<table cellspacing="10">',
            '  <tr><th align="left">Name</th><th>Last Modified</th><th>Size</th></tr>',
            *rows,
            "</table>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _row(name: str, modified: str, size: str) -> str:
    return f"  <tr><td>{name}</td><td>{modified}</td><td>{size}</td></tr>"
