"""`PackageStore` on SQL, sharing the registry metadata's engine and plumbing."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cargohold.metadata import package_tables as p
from cargohold.metadata.packages import AssetRecord, PackageRepositoryRecord
from cargohold.metadata.sql_engine import SqlStorePart, _dt


def _repository(row: Any) -> PackageRepositoryRecord:
    return PackageRepositoryRecord(
        name=row.name,
        format=row.format,
        namespace=row.namespace,
        private=bool(row.private),
        write_policy=row.write_policy,
        version_policy=row.version_policy,
        created_at=_dt(row.created_at),  # type: ignore[arg-type]
        cleanup_policy=row.cleanup_policy,
    )


def _asset(row: Any) -> AssetRecord:
    return AssetRecord(
        repository=row.repository,
        path=row.path,
        package=row.package,
        version=row.version,
        digest=row.digest,
        size=int(row.size),
        content_type=row.content_type,
        created_at=_dt(row.created_at),  # type: ignore[arg-type]
        attributes=json.loads(row.attributes),
        extra_digest=row.extra_digest,
    )


# Above every character a path may hold: "p" <= path < "p" + this is "starts with p".
_MAX_CHAR = "\U0010ffff"


_SETTINGS = frozenset({"private", "write_policy", "version_policy", "cleanup_policy"})


class SqlPackageStore(SqlStorePart):
    # -- repositories -----------------------------------------------------------------

    async def create_package_repository(self, record: PackageRepositoryRecord) -> bool:
        def q(conn: Connection) -> None:
            conn.execute(
                insert(p.package_repositories).values(
                    name=record.name,
                    format=record.format,
                    namespace=record.namespace,
                    private=record.private,
                    write_policy=record.write_policy,
                    version_policy=record.version_policy,
                    cleanup_policy=record.cleanup_policy,
                    created_at=record.created_at,
                )
            )

        try:
            await self._write(q)
        except IntegrityError:
            return False
        return True

    async def get_package_repository(self, name: str) -> PackageRepositoryRecord | None:
        def q(conn: Connection) -> PackageRepositoryRecord | None:
            row = conn.execute(
                select(p.package_repositories).where(p.package_repositories.c.name == name)
            ).first()
            return _repository(row) if row else None

        found: PackageRepositoryRecord | None = await self._read(q)
        return found

    async def list_package_repositories(self) -> list[PackageRepositoryRecord]:
        def q(conn: Connection) -> list[PackageRepositoryRecord]:
            rows = conn.execute(
                select(p.package_repositories).order_by(p.package_repositories.c.name)
            )
            return [_repository(row) for row in rows]

        found: list[PackageRepositoryRecord] = await self._read(q)
        return found

    async def package_repositories_of(self, namespace: str) -> list[str]:
        def q(conn: Connection) -> list[str]:
            r = p.package_repositories
            rows = conn.execute(
                select(r.c.name).where(r.c.namespace == namespace).order_by(r.c.name)
            )
            return list(rows.scalars())

        found: list[str] = await self._read(q)
        return found

    async def update_package_repository(self, name: str, changes: dict[str, Any]) -> bool:
        unknown = set(changes) - _SETTINGS
        if unknown:
            raise ValueError(f"not a repository setting: {sorted(unknown)}")

        def q(conn: Connection) -> bool:
            result = conn.execute(
                update(p.package_repositories)
                .where(p.package_repositories.c.name == name)
                .values(**changes)
            )
            return result.rowcount > 0

        return bool(await self._write(q))

    async def delete_package_repository(self, name: str) -> bool:
        def q(conn: Connection) -> bool:
            conn.execute(delete(p.package_tags).where(p.package_tags.c.repository == name))
            conn.execute(delete(p.package_assets).where(p.package_assets.c.repository == name))
            result = conn.execute(
                delete(p.package_repositories).where(p.package_repositories.c.name == name)
            )
            return result.rowcount > 0

        return bool(await self._write(q))

    # -- assets -----------------------------------------------------------------------

    async def get_asset(self, repository: str, path: str) -> AssetRecord | None:
        def q(conn: Connection) -> AssetRecord | None:
            a = p.package_assets
            row = conn.execute(
                select(a).where(a.c.repository == repository, a.c.path == path)
            ).first()
            return _asset(row) if row else None

        found: AssetRecord | None = await self._read(q)
        return found

    async def put_asset(self, asset: AssetRecord, overwrite: bool) -> bool:
        values = {
            "package": asset.package,
            "version": asset.version,
            "digest": asset.digest,
            "extra_digest": asset.extra_digest,
            "size": asset.size,
            "content_type": asset.content_type,
            "created_at": asset.created_at,
            "attributes": json.dumps(asset.attributes, sort_keys=True),
        }

        def q(conn: Connection) -> bool:
            a = p.package_assets
            if overwrite:
                changed = conn.execute(
                    update(a)
                    .where(a.c.repository == asset.repository, a.c.path == asset.path)
                    .values(**values)
                ).rowcount
                if changed:
                    return True
            conn.execute(insert(a).values(repository=asset.repository, path=asset.path, **values))
            return True

        try:
            return bool(await self._write(q))
        except IntegrityError:
            return False

    async def set_asset_attributes(
        self, repository: str, path: str, attributes: dict[str, Any]
    ) -> bool:
        def q(conn: Connection) -> bool:
            a = p.package_assets
            return bool(
                conn.execute(
                    update(a)
                    .where(a.c.repository == repository, a.c.path == path)
                    .values(attributes=json.dumps(attributes, sort_keys=True))
                ).rowcount
            )

        return bool(await self._write(q))

    async def delete_assets(self, repository: str, paths: list[str]) -> list[AssetRecord]:
        def q(conn: Connection) -> list[AssetRecord]:
            a = p.package_assets
            gone: list[AssetRecord] = []
            for start in range(0, len(paths), 500):
                batch = paths[start : start + 500]
                where = (a.c.repository == repository) & a.c.path.in_(batch)
                gone.extend(_asset(row) for row in conn.execute(select(a).where(where)))
                conn.execute(delete(a).where(where))
            return gone

        if not paths:
            return []
        found: list[AssetRecord] = await self._write(q)
        return found

    async def list_assets(
        self,
        repository: str,
        prefix: str | None = None,
        package: str | None = None,
        version: str | None = None,
        limit: int | None = None,
    ) -> list[AssetRecord]:
        def q(conn: Connection) -> list[AssetRecord]:
            a = p.package_assets
            stmt = select(a).where(a.c.repository == repository)
            if prefix:
                # A range, not LIKE: LIKE ignores case on SQLite, and paths do not.
                stmt = stmt.where(a.c.path >= prefix, a.c.path < prefix + _MAX_CHAR)
            if package is not None:
                stmt = stmt.where(a.c.package == package)
            if version is not None:
                stmt = stmt.where(a.c.version == version)
            stmt = stmt.order_by(a.c.path)
            if limit is not None:
                stmt = stmt.limit(limit)
            return [_asset(row) for row in conn.execute(stmt)]

        found: list[AssetRecord] = await self._read(q)
        return found

    async def list_packages(self, repository: str) -> list[str]:
        def q(conn: Connection) -> list[str]:
            a = p.package_assets
            rows = conn.execute(
                select(a.c.package).where(a.c.repository == repository).distinct()
            ).scalars()
            return sorted(rows)

        found: list[str] = await self._read(q)
        return found

    # -- tags -------------------------------------------------------------------------

    async def package_tags(self, repository: str, package: str) -> dict[str, str]:
        def q(conn: Connection) -> dict[str, str]:
            t = p.package_tags
            rows = conn.execute(
                select(t.c.tag, t.c.version).where(
                    t.c.repository == repository, t.c.package == package
                )
            )
            return {row.tag: row.version for row in rows}

        found: dict[str, str] = await self._read(q)
        return found

    async def set_package_tag(self, repository: str, package: str, tag: str, version: str) -> None:
        def q(conn: Connection) -> None:
            t = p.package_tags
            where = (t.c.repository == repository) & (t.c.package == package) & (t.c.tag == tag)
            if not conn.execute(update(t).where(where).values(version=version)).rowcount:
                conn.execute(
                    insert(t).values(
                        repository=repository, package=package, tag=tag, version=version
                    )
                )

        await self._write(q)

    async def delete_package_tags(
        self, repository: str, package: str, tags: list[str] | None = None
    ) -> int:
        def q(conn: Connection) -> int:
            t = p.package_tags
            where = (t.c.repository == repository) & (t.c.package == package)
            if tags is not None:
                where = where & t.c.tag.in_(tags)
            return int(conn.execute(delete(t).where(where)).rowcount)

        return int(await self._write(q))
