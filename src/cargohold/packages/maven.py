"""Hosted Maven repositories (maven2 layout), as Nexus serves them.

Files are PUT at their layout path and stored once as blobs. The server keeps
the checksums (``.md5 .sha1 .sha256 .sha512``) of every file it holds, computed
while the file arrived; uploaded checksum files are compared with them and
never stored. ``maven-metadata.xml`` is generated from what the repository holds
(versions at the artifact level, timestamped builds at the snapshot level), so
it is right even for clients that never upload it (Jenkins' uploader); an
uploaded one is checked for consistency and kept so its checksum uploads can be
verified. The one thing taken from it is a plugin group's ``<plugins>`` list
(prefix to artifactId), which no stored file records.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from cargohold.core.access import Principal
from cargohold.core.streams import read_limited
from cargohold.errors import Denied, RequestInvalid, ResourceUnknown
from cargohold.formats import maven as fmt
from cargohold.metadata.packages import AssetRecord, PackageRepositoryRecord
from cargohold.packages.base import FormatService
from cargohold.packages.files import Staged, hashes_of
from cargohold.packages.served import Served

_CHECKSUM_LIMIT = 1024
_METADATA_LIMIT = 1024 * 1024
_TYPES = {
    "pom": "application/xml",
    "xml": "application/xml",
    "jar": "application/java-archive",
    "war": "application/java-archive",
    "ear": "application/java-archive",
    "aar": "application/java-archive",
    "asc": "text/plain",
    "module": "application/json",
    "json": "application/json",
    "zip": "application/zip",
    "gz": "application/gzip",
    "tgz": "application/gzip",
}


def _content_type(filename: str) -> str:
    """A known type for what Maven stores; anything else is served as bytes, so an
    uploaded page or image is never shown as one."""
    return _TYPES.get(filename.rsplit(".", 1)[-1], "application/octet-stream")


def _checksum_text(body: bytes) -> str:
    """The hex digest in an uploaded checksum file (``HEX`` or ``HEX  filename``)."""
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise RequestInvalid("a checksum file holds a hexadecimal digest") from None
    return text.split()[0].lower() if text else ""


class MavenRepository(FormatService):
    # -- reads ------------------------------------------------------------------------

    async def get(self, principal: Principal, name: str, path: str) -> Served:
        repo = await self.repositories.resolve(principal, name, "pull")
        if path == "" or path.endswith("/"):
            return await self._listing(repo, path.strip("/"))
        parsed = self._parse_or_none(path)
        if parsed is None:
            if await self.store.list_assets(repo.name, prefix=path.strip("/") + "/", limit=1):
                return Served(redirect=path.strip("/") + "/", status=301)
            raise ResourceUnknown(f"{path[:200]} not found in {repo.name}")
        if parsed.kind == "checksum":
            assert parsed.checksum is not None and parsed.target is not None
            hashes, modified = await self._hashes_of(repo, fmt.parse_path(parsed.target))
            text = hashes[parsed.checksum].encode()
            return Served.document(text, "text/plain", modified)
        if parsed.kind == "metadata":
            data, modified = await self._metadata(repo, parsed)
            return Served.document(data, "application/xml", modified)
        asset = await self.store.get_asset(repo.name, parsed.path)
        if asset is None:
            if await self.store.list_assets(repo.name, prefix=parsed.path + "/", limit=1):
                return Served(redirect=parsed.path + "/", status=301)
            raise ResourceUnknown(f"{parsed.path} not found in {repo.name}")
        return Served(
            content_type=asset.content_type,
            digest=asset.digest,
            size=asset.size,
            modified=asset.created_at,
            etag=asset.attributes.get("hashes", {}).get("sha1"),
        )

    def _parse_or_none(self, path: str) -> fmt.MavenPath | None:
        try:
            return fmt.parse_path(path)
        except RequestInvalid:
            return None

    async def _hashes_of(
        self, repo: PackageRepositoryRecord, target: fmt.MavenPath
    ) -> tuple[dict[str, str], datetime | None]:
        if target.kind == "metadata":
            data, modified = await self._metadata(repo, target)
            return hashes_of(data), modified
        asset = await self.store.get_asset(repo.name, target.path)
        if asset is None or "hashes" not in asset.attributes:
            raise ResourceUnknown(f"{target.path} not found in {repo.name}")
        return dict(asset.attributes["hashes"]), asset.created_at

    async def _metadata(
        self, repo: PackageRepositoryRecord, parsed: fmt.MavenPath
    ) -> tuple[bytes, datetime]:
        """The repository's maven-metadata.xml for an artifact or a snapshot version."""
        group, artifact = parsed.group_id, parsed.artifact_id
        if group is None or artifact is None:
            raise ResourceUnknown(f"{parsed.path} not found in {repo.name}")
        assets = [
            a
            for a in await self.store.list_assets(
                repo.name, package=f"{group}:{artifact}", version=parsed.version
            )
            if a.attributes.get("kind") == "artifact"
        ]
        plugins: list[fmt.MavenPlugin] = []
        if parsed.version is None:
            # Plugin prefixes exist only in what clients upload (group-level metadata).
            uploaded = await self.store.get_asset(repo.name, parsed.path)
            plugins = _plugins_of(uploaded) if uploaded is not None else []
            if plugins and not assets:
                assert uploaded is not None
                return fmt.group_metadata(plugins), uploaded.created_at
        if not assets:
            raise ResourceUnknown(f"{parsed.path} not found in {repo.name}")
        updated = max(a.created_at for a in assets)
        if parsed.version is None:
            versions = sorted({a.version for a in assets if a.version}, key=fmt.version_key)
            return fmt.artifact_metadata(group, artifact, versions, updated, plugins), updated
        builds = []
        for asset in assets:
            file = fmt.parse_path(asset.path)
            if file.timestamp is not None and file.build_number is not None:
                builds.append(
                    fmt.SnapshotFile(
                        timestamp=file.timestamp,
                        build_number=file.build_number,
                        classifier=file.classifier,
                        extension=file.extension or "jar",
                        updated=asset.created_at,
                    )
                )
        return fmt.snapshot_metadata(group, artifact, parsed.version, builds, updated), updated

    async def _listing(self, repo: PackageRepositoryRecord, directory: str) -> Served:
        prefix = directory + "/" if directory else ""
        assets = await self.store.list_assets(repo.name, prefix=prefix or None)
        if directory and not assets:
            raise ResourceUnknown(f"{directory}/ not found in {repo.name}")
        entries: dict[str, fmt.ListingEntry] = {}
        for asset in assets:
            rest = asset.path[len(prefix) :]
            head, slash, _ = rest.partition("/")
            if slash:
                entries.setdefault(head, fmt.ListingEntry(head, True, None, None))
                continue
            artifact = asset.attributes.get("kind") == "artifact"
            size = asset.size if artifact else None  # metadata is generated on GET
            entries[head] = fmt.ListingEntry(head, False, size, asset.created_at)
            if artifact:
                for algorithm in fmt.CHECKSUM_ALGORITHMS:
                    extra = f"{head}.{algorithm}"
                    length = len(asset.attributes.get("hashes", {}).get(algorithm, ""))
                    entries[extra] = fmt.ListingEntry(extra, False, length, asset.created_at)
        html = fmt.listing_html(repo.name, directory, sorted(entries.values(), key=_entry_key))
        return Served.document(html.encode(), "text/html; charset=utf-8")

    # -- writes -----------------------------------------------------------------------

    async def put(
        self,
        principal: Principal,
        name: str,
        path: str,
        body: AsyncIterator[bytes],
        declared: int | None = None,
    ) -> None:
        """Store a file; ``declared`` is the size the client announced, if any."""
        repo = await self.repositories.writable(principal, name, "push")
        parsed = fmt.parse_path(path)
        if parsed.kind == "checksum":
            await self._put_checksum(repo, parsed, body)
        elif parsed.kind == "metadata":
            await self._put_metadata(repo, parsed, body)
        else:
            await self._put_artifact(repo, parsed, body, declared)

    async def _put_checksum(
        self, repo: PackageRepositoryRecord, parsed: fmt.MavenPath, body: AsyncIterator[bytes]
    ) -> None:
        data = await _read_small(body, _CHECKSUM_LIMIT, "a checksum file")
        assert parsed.target is not None and parsed.checksum is not None
        target = fmt.parse_path(parsed.target)
        if target.kind == "metadata":
            uploaded = await self.store.get_asset(repo.name, target.path)
            known = [uploaded.attributes["hashes"]] if uploaded else []
            with contextlib.suppress(ResourceUnknown):
                known.append((await self._hashes_of(repo, target))[0])
        else:
            asset = await self.store.get_asset(repo.name, target.path)
            known = [asset.attributes.get("hashes", {})] if asset else []
        if not known:
            raise RequestInvalid(f"upload {target.path} before its checksum")
        declared = _checksum_text(data)
        if not any(declared == hashes.get(parsed.checksum) for hashes in known):
            raise RequestInvalid(
                f"{parsed.checksum} checksum mismatch for {target.path}: uploaded "
                f"{declared[:128]!r}, content has {known[0].get(parsed.checksum)}"
            )

    async def _put_metadata(
        self, repo: PackageRepositoryRecord, parsed: fmt.MavenPath, body: AsyncIterator[bytes]
    ) -> None:
        data = await _read_small(body, _METADATA_LIMIT, "maven-metadata.xml")
        doc = fmt.parse_metadata(data)
        for field, expected in (
            ("groupId", (doc.group_id, parsed.group_id)),
            ("artifactId", (doc.artifact_id, parsed.artifact_id)),
        ):
            if expected[0] is not None and expected[0] != expected[1]:
                raise RequestInvalid(
                    f"maven-metadata.xml has {field} {expected[0]!r}, its path says {expected[1]!r}"
                )
        if parsed.version is not None and doc.version not in (None, parsed.version):
            raise RequestInvalid(
                f"maven-metadata.xml has version {doc.version!r}, its path says {parsed.version!r}"
            )
        attributes: dict[str, Any] = {"kind": "metadata"}
        if doc.plugins and parsed.version is None:
            fmt.group_metadata(doc.plugins)  # refuses names no Maven coordinate has
            attributes["plugins"] = [
                {"prefix": p.prefix, "artifactId": p.artifact_id, "name": p.name}
                for p in doc.plugins
            ]
        # Only its digests are kept (to verify its checksum uploads): what GET serves
        # is generated, so the bytes would be dead weight outside any quota.
        attributes["hashes"] = hashes_of(data)
        await self.store.put_asset(
            AssetRecord(
                repository=repo.name,
                path=parsed.path,
                package=f"{parsed.group_id}:{parsed.artifact_id}",
                version=parsed.version,
                digest="none:metadata",
                size=0,
                content_type="application/xml",
                created_at=datetime.now(UTC),
                attributes=attributes,
            ),
            overwrite=True,
        )

    async def _put_artifact(
        self,
        repo: PackageRepositoryRecord,
        parsed: fmt.MavenPath,
        body: AsyncIterator[bytes],
        declared: int | None,
    ) -> None:
        assert parsed.version is not None
        if repo.version_policy == "release" and parsed.snapshot:
            raise RequestInvalid(
                f"repository {repo.name} holds releases: it does not take SNAPSHOT versions"
            )
        if repo.version_policy == "snapshot" and not parsed.snapshot:
            raise RequestInvalid(
                f"repository {repo.name} holds snapshots: it only takes SNAPSHOT versions"
            )
        existing = await self.store.get_asset(repo.name, parsed.path)
        deny = repo.write_policy == "deny"

        async def check(staged: Staged) -> None:
            if deny and existing is not None and existing.digest != staged.file.digest:
                raise Denied(f"repository {repo.name} does not allow updating {parsed.path}")
            await self.admit(repo, staged.file.size, existing)

        stored = await self.files.receive(body, self.max_file_bytes, check, declared)
        asset = AssetRecord(
            repository=repo.name,
            path=parsed.path,
            package=f"{parsed.group_id}:{parsed.artifact_id}",
            version=parsed.version,
            digest=stored.digest,
            size=stored.size,
            content_type=_content_type(parsed.filename),
            created_at=datetime.now(UTC),
            attributes={"kind": "artifact", "hashes": stored.hashes},
        )
        if existing is not None and existing.digest == stored.digest:
            return  # the same bytes again: nothing changes
        if not await self.store.put_asset(asset, overwrite=not deny):
            # Another upload of this path won the race: the same bytes are a success.
            winner = await self.store.get_asset(repo.name, parsed.path)
            if winner is None or winner.digest != stored.digest:
                raise Denied(f"repository {repo.name} does not allow updating {parsed.path}")

    async def delete(self, principal: Principal, name: str, path: str) -> None:
        repo = await self.repositories.writable(principal, name, "delete")
        clean = path.strip("/")
        paths = [clean] if clean else []
        paths += [a.path for a in await self.store.list_assets(repo.name, prefix=clean + "/")]
        if not await self.store.delete_assets(repo.name, paths):
            raise ResourceUnknown(f"{clean} not found in {repo.name}")


def _plugins_of(asset: AssetRecord) -> list[fmt.MavenPlugin]:
    """The plugin prefixes an uploaded group-level maven-metadata.xml declared."""
    return [
        fmt.MavenPlugin(prefix=p["prefix"], artifact_id=p["artifactId"], name=p.get("name"))
        for p in asset.attributes.get("plugins", [])
    ]


def _entry_key(entry: fmt.ListingEntry) -> tuple[bool, str]:
    return (not entry.is_dir, entry.name)


async def _read_small(body: AsyncIterator[bytes], limit: int, what: str) -> bytes:
    data = await read_limited(body, limit)
    if data is None:
        raise RequestInvalid(f"{what} is larger than {limit} bytes")
    return data
