"""Hosted PyPI repositories: the legacy upload API and the simple index.

Files live at ``packages/<project>/<version>/<filename>`` in the repository and
are listed by ``simple/<project>/`` (PEP 503 HTML or PEP 691 JSON). A wheel's
METADATA is stored beside it and served as ``<file>.metadata`` (PEP 658/714), so
pip and uv resolve without downloading wheels. The digests a client declares are
checked against what arrived before the file becomes visible.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from packaging.utils import canonicalize_version

from cargohold.core.access import Principal
from cargohold.errors import Conflict, RequestInvalid, ResourceUnknown
from cargohold.formats import pypi as fmt
from cargohold.metadata.packages import AssetRecord, PackageRepositoryRecord
from cargohold.packages.base import FormatService
from cargohold.packages.files import Staged
from cargohold.packages.served import Served

_TYPES = {".whl": "application/zip", ".zip": "application/zip", ".gz": "application/gzip"}


def file_path(project: str, filename: str) -> str:
    """Where a file lives: one path per file name in a project, so the database's
    key makes a name hold one content, however its version is spelt."""
    return f"packages/{project}/{filename}"


class PypiRepository(FormatService):
    # -- upload -----------------------------------------------------------------------

    async def upload(
        self,
        principal: Principal,
        name: str,
        fields: Mapping[str, Sequence[str]],
        filename: str,
        content: AsyncIterator[bytes],
    ) -> None:
        repo = await self.repositories.writable(principal, name, "push")
        upload = fmt.parse_upload(fields, filename)
        path = file_path(upload.project, upload.filename)
        existing = await self.store.get_asset(repo.name, path)
        overwrite = repo.write_policy == "allow"
        metadata: dict[str, Any] = {}

        async def check(staged: Staged) -> None:
            hashes = staged.file.hashes
            fmt.check_digests(upload, hashes["sha256"], hashes["md5"], hashes["blake2_256"])
            if existing is not None and not overwrite and existing.digest != staged.file.digest:
                # As PyPI: the same file again is fine, different bytes are not.
                raise Conflict(f"File already exists: {upload.filename}")
            if upload.filetype == fmt.WHEEL:
                data = await self._wheel_metadata(staged)
                fmt.check_wheel_metadata(upload, data)
                stored = await self.files.put_bytes(data)
                metadata.update(digest=stored.digest, sha256=stored.hashes["sha256"])
            await self.admit(repo, staged.file.size, existing)

        stored = await self.files.receive(content, self.max_file_bytes, check)
        if existing is not None and existing.digest == stored.digest:
            return
        suffix = "." + upload.filename.rsplit(".", 1)[-1]
        asset = AssetRecord(
            repository=repo.name,
            path=path,
            package=upload.project,
            version=upload.version,
            digest=stored.digest,
            size=stored.size,
            content_type=_TYPES.get(suffix, "application/octet-stream"),
            created_at=datetime.now(UTC),
            extra_digest=metadata.get("digest"),
            attributes={
                "kind": "file",
                "name": upload.name,
                "filetype": upload.filetype,
                "requires_python": upload.requires_python,
                "summary": upload.summary,
                "hashes": {k: stored.hashes[k] for k in ("sha256", "md5", "blake2_256")},
                "metadata_digest": metadata.get("digest"),
                "metadata_sha256": metadata.get("sha256"),
                "yanked": None,
            },
        )
        if not await self.store.put_asset(asset, overwrite=overwrite):
            # Another upload of this filename got in first (two CI jobs publishing
            # one sdist): the same bytes are the success a later re-upload would be.
            winner = await self.store.get_asset(repo.name, path)
            if winner is None or winner.digest != stored.digest:
                raise Conflict(f"File already exists: {upload.filename}")

    async def _wheel_metadata(self, staged: Staged) -> bytes:
        local = self.files.staged_local_path(staged)
        if local is not None:
            with open(local, "rb") as file:
                return fmt.wheel_metadata(file)
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            async for chunk in self.files.read_staged(staged):
                spool.write(chunk)
            spool.seek(0)
            return fmt.wheel_metadata(spool)  # type: ignore[arg-type]

    # -- the simple index -------------------------------------------------------------

    async def root(self, principal: Principal, name: str, accept: str | None) -> Served:
        repo = await self.repositories.resolve(principal, name, "pull")
        content_type = fmt.choose_content_type(accept)
        projects = await self.store.list_packages(repo.name)
        if content_type == fmt.SIMPLE_JSON:
            return _json(fmt.root_json(projects))
        html = fmt.root_html(projects, lambda project: f"{quote(project)}/")
        return Served.document(html.encode(), f"{content_type}; charset=utf-8")

    async def project(
        self, principal: Principal, name: str, project: str, accept: str | None
    ) -> Served:
        repo = await self.repositories.resolve(principal, name, "pull")
        normal = fmt.normalize(project)
        if normal != project:
            return Served(redirect=f"simple/{quote(normal)}/", status=301)
        content_type = fmt.choose_content_type(accept)
        assets = await self._files(repo, normal)
        if not assets:
            raise ResourceUnknown(f"no project named {project[:100]!r} in {repo.name}")
        files = [_index_file(a) for a in assets]
        if content_type == fmt.SIMPLE_JSON:
            versions = {a.version for a in assets if a.version}
            return _json(fmt.project_json(normal, files, versions))
        html = fmt.project_html(normal, files)
        return Served.document(html.encode(), f"{content_type}; charset=utf-8")

    async def _files(self, repo: PackageRepositoryRecord, project: str) -> list[AssetRecord]:
        assets = await self.store.list_assets(repo.name, package=project)
        return [a for a in assets if a.attributes.get("kind") == "file"]

    async def file(self, principal: Principal, name: str, path: str) -> Served:
        repo = await self.repositories.resolve(principal, name, "pull")
        if path.endswith(".metadata"):
            asset = await self.store.get_asset(repo.name, path[: -len(".metadata")])
            digest = asset.attributes.get("metadata_digest") if asset else None
            if asset is None or digest is None:
                raise ResourceUnknown(f"{path[:200]} not found in {repo.name}")
            data = await self.files.read(digest)
            return Served.document(data, "application/octet-stream", asset.created_at)
        asset = await self.store.get_asset(repo.name, path)
        if asset is None or asset.attributes.get("kind") != "file":
            raise ResourceUnknown(f"{path[:200]} not found in {repo.name}")
        return Served(
            content_type=asset.content_type,
            digest=asset.digest,
            size=asset.size,
            modified=asset.created_at,
            etag=asset.attributes["hashes"]["sha256"],
        )

    # -- management -------------------------------------------------------------------

    async def yank(
        self, principal: Principal, name: str, project: str, version: str, reason: str | None
    ) -> int:
        """Yank (PEP 592) every file of a release, or unyank with ``reason`` None.
        Returns how many files changed."""
        repo = await self.repositories.writable(principal, name, "delete")
        if repo.format != "pypi":
            raise RequestInvalid(f"{repo.name} is not a PyPI repository")
        normal = fmt.normalize(project)
        changed = 0
        for asset in await self._files(repo, normal):
            if not _same_version(asset.version, version):
                continue
            attributes = dict(asset.attributes, yanked=reason)
            if await self.store.set_asset_attributes(repo.name, asset.path, attributes):
                changed += 1
        if not changed:
            raise ResourceUnknown(f"no release {project} {version} in {repo.name}")
        return changed

    async def delete(self, principal: Principal, name: str, path: str) -> None:
        repo = await self.repositories.writable(principal, name, "delete")
        clean = path.strip("/")
        paths = [a.path for a in await self.store.list_assets(repo.name, prefix=clean + "/")]
        if not await self.store.delete_assets(repo.name, [clean, *paths]):
            raise ResourceUnknown(f"{clean[:200]} not found in {repo.name}")


def _same_version(stored: str | None, asked: str) -> bool:
    return stored is not None and canonicalize_version(stored) == canonicalize_version(asked)


def _index_file(asset: AssetRecord) -> fmt.IndexFile:
    attrs = asset.attributes
    return fmt.IndexFile(
        filename=asset.path.rsplit("/", 1)[-1],
        url="../../" + quote(asset.path),
        sha256=attrs["hashes"]["sha256"],
        size=asset.size,
        upload_time=asset.created_at,
        requires_python=attrs.get("requires_python"),
        yanked=attrs.get("yanked"),
        metadata_sha256=attrs.get("metadata_sha256"),
    )


def _json(doc: dict[str, Any]) -> Served:
    return Served.document(json.dumps(doc).encode(), fmt.SIMPLE_JSON)
