"""Hosted npm repositories: the registry API npm speaks, for hosted packages.

Each published version is a tarball stored once as a blob, at
``<name>/-/<bare>-<version>.tgz`` in the repository, with its version document
(package.json as published), integrity and deprecation kept as the asset's
attributes; dist-tags have their own table. The packument is built from those
on every read, so it is always what the repository holds.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from cargohold.core.access import Principal
from cargohold.errors import Conflict, Denied, RequestInvalid, ResourceUnknown, SizeInvalid
from cargohold.formats import npm as fmt
from cargohold.metadata.packages import AssetRecord, PackageRepositoryRecord
from cargohold.packages.base import FormatService
from cargohold.packages.served import Served


def tarball_path(name: str, version: str) -> str:
    return f"{name}/-/{fmt.tarball_filename(name, version)}"


def _iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _rev(tarballs: list[AssetRecord], tags: dict[str, str]) -> str:
    """The packument's ``_rev``: changes whenever a version, a deprecation or a tag
    does, so an edit sent back with an old one can be refused."""
    state = [
        sorted(
            (a.version or "", _iso(a.created_at), a.attributes.get("deprecated") or "")
            for a in tarballs
        ),
        sorted(tags.items()),
    ]
    digest = hashlib.sha256(json.dumps(state).encode()).hexdigest()[:32]
    return f"{len(tarballs)}-{digest}"


# A version document is package.json as published (readme included); bounded so a
# publish cannot park megabytes in the database, outside any quota.
MAX_VERSION_DOCUMENT_BYTES = 1024 * 1024


class NpmRepository(FormatService):
    async def _tarballs(self, repo: str, package: str) -> list[AssetRecord]:
        assets = await self.store.list_assets(repo, package=package)
        return [a for a in assets if a.attributes.get("kind") == "tarball"]

    # -- reads ------------------------------------------------------------------------

    async def packument(
        self,
        principal: Principal,
        name: str,
        package: str,
        tarball_base: str,
        abbreviated: bool,
    ) -> Served:
        repo = await self.repositories.resolve(principal, name, "pull")
        doc = await self._document(repo, package, tarball_base)
        if abbreviated:
            body = fmt.abbreviated(doc)
            return Served.document(json.dumps(body).encode(), fmt.ABBREVIATED_TYPE)
        return Served.document(json.dumps(doc).encode(), "application/json")

    async def _document(
        self, repo: PackageRepositoryRecord, package: str, tarball_base: str
    ) -> dict[str, Any]:
        tarballs = await self._tarballs(repo.name, package)
        if not tarballs:
            raise ResourceUnknown(f"package {package[:214]!r} not found in {repo.name}")
        versions: dict[str, dict[str, Any]] = {}
        times: dict[str, str] = {}
        for asset in tarballs:
            assert asset.version is not None
            manifest = dict(asset.attributes["manifest"])
            dist = dict(manifest.get("dist") or {})
            dist.update(integrity=asset.attributes["integrity"], shasum=asset.attributes["shasum"])
            manifest["dist"] = dist
            if asset.attributes.get("deprecated"):
                manifest["deprecated"] = asset.attributes["deprecated"]
            else:
                manifest.pop("deprecated", None)
            versions[asset.version] = manifest
            times[asset.version] = _iso(asset.created_at)
        tags = await self.store.package_tags(repo.name, package)
        times["created"] = _iso(min(a.created_at for a in tarballs))
        times["modified"] = _iso(max(a.created_at for a in tarballs))
        rev = _rev(tarballs, tags)

        def url(version: str) -> str:
            return tarball_base + tarball_path(package, version)

        return fmt.packument(package, versions, tags, times, url, times["modified"], rev)

    async def tarball(self, principal: Principal, name: str, package: str, filename: str) -> Served:
        repo = await self.repositories.resolve(principal, name, "pull")
        asset = await self.store.get_asset(repo.name, f"{package}/-/{filename}")
        if asset is None or asset.attributes.get("kind") != "tarball":
            raise ResourceUnknown(f"{package}/-/{filename[:200]} not found in {repo.name}")
        return Served(
            content_type="application/octet-stream",
            digest=asset.digest,
            size=asset.size,
            modified=asset.created_at,
            etag=asset.attributes["shasum"],
        )

    async def dist_tags(self, principal: Principal, name: str, package: str) -> dict[str, str]:
        repo = await self.repositories.resolve(principal, name, "pull")
        if not await self._tarballs(repo.name, package):
            raise ResourceUnknown(f"package {package[:214]!r} not found in {repo.name}")
        return await self.store.package_tags(repo.name, package)

    async def search(
        self, principal: Principal, name: str, text: str, size: int, offset: int
    ) -> dict[str, Any]:
        repo = await self.repositories.resolve(principal, name, "pull")
        words = [w.lower() for w in text.split() if w]
        objects: list[dict[str, Any]] = []
        by_package: dict[str, list[AssetRecord]] = {}
        for asset in await self.store.list_assets(repo.name):  # one query, not one a package
            if asset.attributes.get("kind") == "tarball":
                by_package.setdefault(asset.package, []).append(asset)
        for package, tarballs in sorted(by_package.items()):
            tags = await self.store.package_tags(repo.name, package)
            latest = next(
                (a for a in tarballs if a.version == tags.get("latest")),
                max(tarballs, key=lambda a: fmt.version_key(a.version or "0.0.0")),
            )
            manifest = latest.attributes["manifest"]
            haystack = " ".join(
                [
                    package,
                    str(manifest.get("description") or ""),
                    *map(str, manifest.get("keywords") or []),
                ]
            ).lower()
            if all(word in haystack for word in words):
                objects.append(fmt.search_result(package, manifest, _iso(latest.created_at)))
        page = objects[offset : offset + size]
        return {"objects": page, "total": len(objects), "time": _iso(datetime.now(UTC))}

    # -- writes -----------------------------------------------------------------------

    async def publish_or_update(
        self, principal: Principal, name: str, package: str, document: Any
    ) -> None:
        """``PUT /<package>``: a publish when it carries tarballs, else an edit of the
        packument (deprecations, removed versions, dist-tags)."""
        if isinstance(document, dict) and fmt.is_publish(document):
            await self._publish(principal, name, package, document)
        else:
            await self.update(principal, name, package, document)

    async def _publish(
        self, principal: Principal, name: str, package: str, document: dict[str, Any]
    ) -> None:
        repo = await self.repositories.writable(principal, name, "push")
        existing = {a.version: a for a in await self._tarballs(repo.name, package)}
        publish = fmt.parse_publish(document, package, [v for v in existing if v])
        burned = await self._unpublished(repo, package) if repo.write_policy != "allow" else set()
        for new in publish.versions:
            if new.version in burned:
                raise Denied(
                    f"{package}@{new.version} was unpublished; npm versions cannot be reused"
                )
            if new.version in existing and repo.write_policy != "allow":
                raise Denied(
                    f"You cannot publish over the previously published versions: {new.version}"
                )
        for new in publish.versions:
            if len(new.tarball) > self.max_file_bytes:
                raise SizeInvalid(
                    f"the tarball is larger than the {self.max_file_bytes}-byte limit"
                )
            await self.admit(repo, len(new.tarball), existing.get(new.version))
            stored = await self.files.put_bytes(new.tarball)
            manifest = dict(new.manifest)
            manifest.pop("deprecated", None)
            if len(json.dumps(manifest)) > MAX_VERSION_DOCUMENT_BYTES:
                raise RequestInvalid(
                    f"the version document of {package}@{new.version} is larger than "
                    f"{MAX_VERSION_DOCUMENT_BYTES} bytes (a very long readme?)"
                )
            # Who published is what the server saw, not what the document claims; and
            # signatures are the registry's to make, not the publisher's to bring.
            manifest["_npmUser"] = {"name": principal.name or "anonymous"}
            if isinstance(manifest.get("dist"), dict):
                manifest["dist"] = {
                    k: v
                    for k, v in manifest["dist"].items()
                    if k not in ("signatures", "attestations", "npm-signature")
                }
            asset = AssetRecord(
                repository=repo.name,
                path=tarball_path(package, new.version),
                package=package,
                version=new.version,
                digest=stored.digest,
                size=stored.size,
                content_type="application/octet-stream",
                created_at=datetime.now(UTC),
                attributes={
                    "kind": "tarball",
                    "manifest": manifest,
                    "integrity": new.integrity,
                    "shasum": new.shasum,
                    "deprecated": None,
                },
            )
            if not await self.store.put_asset(asset, overwrite=repo.write_policy == "allow"):
                winner = await self.store.get_asset(repo.name, asset.path)
                same = winner is not None and winner.attributes.get("kind") == "tarball"
                if not same or winner is None or winner.digest != stored.digest:
                    raise Denied(
                        f"You cannot publish over the previously published versions: {new.version}"
                    )
        tags = dict(publish.dist_tags or {})
        if "latest" not in tags and "latest" not in await self.store.package_tags(
            repo.name, package
        ):
            # A package always has a latest tag, as on npmjs: the first publish gets it
            # even when sent with `--tag beta`. Without it `npm view NAME` shows nothing
            # and `npm install NAME` has no default version to pick.
            tags["latest"] = publish.versions[-1].version
        for tag, version in tags.items():
            await self.store.set_package_tag(repo.name, package, tag, version)

    async def update(
        self,
        principal: Principal,
        name: str,
        package: str,
        document: Any,
        rev: str | None = None,
    ) -> None:
        """An edit of the packument (``PUT /<package>[/-rev/<rev>]``). The ``_rev`` it
        was read at (from the URL, else the document) must still be current: npm
        sends back the whole document, so a stale one would undo what was published
        or tagged since."""
        repo = await self.repositories.writable(principal, name, "push")
        listed = await self._tarballs(repo.name, package)
        tarballs = {a.version: a for a in listed if a.version}
        if not tarballs:
            raise ResourceUnknown(f"package {package[:214]!r} not found in {repo.name}")
        if not isinstance(document, dict):
            raise RequestInvalid("the request body must be a JSON object (a package document)")
        await self._check_rev(repo, package, listed, rev or document.get("_rev"))
        current = {v: a.attributes.get("deprecated") or "" for v, a in tarballs.items()}
        update = fmt.parse_update(document, package, list(tarballs), current)
        if update.removed_versions:
            await self._check_delete(principal, repo)
            await self._remove(
                repo, [tarballs[v] for v in update.removed_versions if v in tarballs]
            )
        for version, message in update.deprecations.items():
            asset = tarballs.get(version)
            if asset is None or version in update.removed_versions:
                continue
            attributes = dict(asset.attributes, deprecated=message or None)
            await self.store.set_asset_attributes(repo.name, asset.path, attributes)
        remaining = [v for v in tarballs if v not in update.removed_versions]
        if update.dist_tags is not None:
            tags = {t: v for t, v in update.dist_tags.items() if v in remaining}
            await self.store.delete_package_tags(repo.name, package)
            for tag, version in tags.items():
                await self.store.set_package_tag(repo.name, package, tag, version)
        await self._fix_tags(repo, package)

    async def _check_rev(
        self,
        repo: PackageRepositoryRecord,
        package: str,
        tarballs: list[AssetRecord],
        sent: object,
    ) -> None:
        if sent is None:
            return
        current = _rev(tarballs, await self.store.package_tags(repo.name, package))
        if sent != current:
            raise Conflict(
                f"{package} changed since it was read (_rev {str(sent)[:80]} is not the "
                f"current {current}); read it again and retry"
            )

    async def _fix_tags(self, repo: PackageRepositoryRecord, package: str) -> None:
        """No tag may name a version that is gone, and a package with versions has
        ``latest`` (the newest, when its version went)."""
        remaining = [a.version for a in await self._tarballs(repo.name, package) if a.version]
        tags = await self.store.package_tags(repo.name, package)
        stale = [t for t, v in tags.items() if v not in remaining]
        if stale:
            await self.store.delete_package_tags(repo.name, package, stale)
        if remaining and ("latest" not in tags or "latest" in stale):
            newest = max(remaining, key=fmt.version_key)
            await self.store.set_package_tag(repo.name, package, "latest", newest)

    async def remove_paths(self, repo: PackageRepositoryRecord, paths: list[str]) -> None:
        """Remove files as an unpublish does (cleanup policies use this)."""
        assets = [a for a in [await self.store.get_asset(repo.name, p) for p in paths] if a]
        await self._remove(repo, assets)
        for package in sorted({a.package for a in assets}):
            await self._fix_tags(repo, package)

    async def _check_delete(self, principal: Principal, repo: PackageRepositoryRecord) -> None:
        if "delete" not in await self.repositories.rights(principal, repo):
            raise Denied(f"{principal.name} may not unpublish from repository {repo.name}")

    async def unpublish(
        self, principal: Principal, name: str, package: str, rev: str | None = None
    ) -> None:
        """``DELETE /<package>/-rev/<rev>``: the whole package goes."""
        repo = await self.repositories.writable(principal, name, "delete")
        tarballs = await self._tarballs(repo.name, package)
        if not tarballs:
            raise ResourceUnknown(f"package {package[:214]!r} not found in {repo.name}")
        await self._check_rev(repo, package, tarballs, rev)
        await self._remove(repo, tarballs)
        await self.store.delete_package_tags(repo.name, package)

    async def _unpublished(self, repo: PackageRepositoryRecord, package: str) -> set[str]:
        assets = await self.store.list_assets(repo.name, package=package)
        return {
            a.version for a in assets if a.version and a.attributes.get("kind") == "unpublished"
        }

    async def _remove(self, repo: PackageRepositoryRecord, assets: list[AssetRecord]) -> None:
        """Unpublish tarballs. Unless redeploys are allowed, each leaves a marker
        that keeps its version from being published again with other bytes (as
        npmjs does: lockfiles pin the old integrity)."""
        tarballs = [a for a in assets if a.attributes.get("kind") == "tarball"]
        await self.store.delete_assets(repo.name, [a.path for a in tarballs])
        if repo.write_policy == "allow":
            return
        for asset in tarballs:
            marker = AssetRecord(
                repository=repo.name,
                path=asset.path,
                package=asset.package,
                version=asset.version,
                digest="none:unpublished",
                size=0,
                content_type="application/octet-stream",
                created_at=datetime.now(UTC),
                attributes={"kind": "unpublished"},
            )
            await self.store.put_asset(marker, overwrite=True)

    async def delete_tarball(
        self, principal: Principal, name: str, package: str, filename: str
    ) -> None:
        """``DELETE /<package>/-/<file>/-rev/<rev>``, which npm sends after removing
        the version from the packument: gone already is success."""
        repo = await self.repositories.writable(principal, name, "delete")
        asset = await self.store.get_asset(repo.name, f"{package}/-/{filename}")
        if asset is not None:
            await self._remove(repo, [asset])
            await self._fix_tags(repo, package)

    async def set_dist_tag(
        self, principal: Principal, name: str, package: str, tag: str, body: bytes
    ) -> None:
        repo = await self.repositories.writable(principal, name, "push")
        if not fmt.valid_tag(tag):
            raise RequestInvalid(f"invalid dist-tag {tag[:100]!r}: it must not be a version range")
        version = fmt.parse_dist_tag_value(body)
        if version not in {a.version for a in await self._tarballs(repo.name, package)}:
            raise ResourceUnknown(f"{package}@{version} is not in {repo.name}")
        await self.store.set_package_tag(repo.name, package, tag, version)

    async def delete_dist_tag(
        self, principal: Principal, name: str, package: str, tag: str
    ) -> None:
        repo = await self.repositories.writable(principal, name, "push")
        if tag == "latest":
            raise RequestInvalid("the latest tag cannot be removed")
        if not await self.store.delete_package_tags(repo.name, package, [tag]):
            raise ResourceUnknown(f"{package} has no dist-tag {tag[:100]!r}")
