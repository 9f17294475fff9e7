"""`GovernanceStore` on SQL, sharing the registry metadata's engine and plumbing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from cargohold.metadata import governance_tables as g
from cargohold.metadata import package_tables as pt
from cargohold.metadata import tables as t
from cargohold.metadata.governance import ImageRecord, LifecycleRun, TrashRecord
from cargohold.metadata.sql import SqlMetadataStore
from cargohold.metadata.sql_engine import SqlStorePart, _dt, _now

# A bin entry without the manifest's bytes, which only a restore reads.
_ENTRY = [c for c in g.trash.c if c.name != "content"]


def _iso(value: Any) -> str | None:
    when = _dt(value)
    return when.isoformat() if when else None


def _trash(row: Any) -> TrashRecord:
    return TrashRecord(
        id=int(row.id),
        repository=row.repository,
        kind=row.kind,
        digest=row.digest,
        tags=tuple(json.loads(row.tags)),
        deleted_at=_dt(row.deleted_at),  # type: ignore[arg-type]
        deleted_by=row.deleted_by,
        reason=row.reason,
        manifest=json.loads(row.manifest) if row.manifest else None,
        refs=json.loads(row.refs) if row.refs else None,
    )


def _run(row: Any) -> LifecycleRun:
    return LifecycleRun(
        id=int(row.id),
        repository=row.repository,
        started_at=_dt(row.started_at),  # type: ignore[arg-type]
        finished_at=_dt(row.finished_at),  # type: ignore[arg-type]
        trigger=row.trigger,
        expired=tuple(json.loads(row.expired)),
        bytes=int(row.bytes),
    )


class SqlGovernanceStore(SqlStorePart):
    # -- images -----------------------------------------------------------------------

    async def list_images(self, repository: str) -> list[ImageRecord]:
        def q(conn: Connection) -> list[ImageRecord]:
            repo_id = SqlMetadataStore._repo_id(conn, repository)
            if repo_id is None:
                return []
            m, r = t.manifests, t.manifest_references
            parent = t.manifests.alias("parent")
            children = (
                select(r.c.digest)
                .join(parent, parent.c.id == r.c.manifest_id)
                .where(parent.c.repository_id == repo_id, r.c.kind == "manifest")
            )
            rows = conn.execute(
                select(
                    m.c.id, m.c.digest, m.c.pushed_at, m.c.last_pulled_at, m.c.size, m.c.media_type
                )
                .where(
                    m.c.repository_id == repo_id,
                    m.c.subject_digest.is_(None),
                    m.c.digest.not_in(children),
                )
                .order_by(m.c.pushed_at, m.c.digest)
            ).all()
            sizes: dict[int, int] = {}
            rb = t.repository_blobs
            for manifest_id, size in conn.execute(
                select(r.c.manifest_id, func.coalesce(func.sum(rb.c.size), 0))
                .join(m, m.c.id == r.c.manifest_id)
                .join(rb, (rb.c.repository_id == m.c.repository_id) & (rb.c.digest == r.c.digest))
                .where(m.c.repository_id == repo_id, r.c.kind == "blob")
                .group_by(r.c.manifest_id)
            ):
                sizes[int(manifest_id)] = int(size)
            tags: dict[int, list[str]] = {}
            for name, manifest_id in conn.execute(
                select(t.tags.c.name, t.tags.c.manifest_id).where(t.tags.c.repository_id == repo_id)
            ):
                tags.setdefault(manifest_id, []).append(name)
            return [
                ImageRecord(
                    digest=row.digest,
                    tags=tuple(sorted(tags.get(row.id, []))),
                    pushed_at=_dt(row.pushed_at),  # type: ignore[arg-type]
                    last_pulled_at=_dt(row.last_pulled_at),
                    size=int(row.size) + sizes.get(row.id, 0),
                    media_type=row.media_type,
                )
                for row in rows
            ]

        return list(await self._read(q))

    # -- the recycle bin --------------------------------------------------------------

    async def trash_manifest(
        self, repository: str, digest: str, *, by: str, reason: str
    ) -> TrashRecord | None:
        def q(conn: Connection) -> TrashRecord | None:
            repo_id = SqlMetadataStore._repo_id(conn, repository)
            if repo_id is None:
                return None
            m = t.manifests
            row = conn.execute(
                select(*m.c).where(m.c.repository_id == repo_id, m.c.digest == digest)
            ).first()
            if row is None:
                return None
            refs: dict[str, Any] = {"blob": {}, "manifest": []}
            ref_rows = conn.execute(
                select(t.manifest_references.c.digest, t.manifest_references.c.kind).where(
                    t.manifest_references.c.manifest_id == row.id
                )
            ).all()
            sizes = dict(
                conn.execute(
                    select(t.repository_blobs.c.digest, t.repository_blobs.c.size).where(
                        t.repository_blobs.c.repository_id == repo_id,
                        t.repository_blobs.c.digest.in_([d for d, _ in ref_rows]),
                    )
                ).all()
            )
            for ref, kind in ref_rows:
                if kind == "blob":
                    refs["blob"][ref] = sizes.get(ref, 0)
                else:
                    refs["manifest"].append(ref)
            tag_names = sorted(
                conn.execute(select(t.tags.c.name).where(t.tags.c.manifest_id == row.id)).scalars()
            )
            manifest = {
                "media_type": row.media_type,
                "artifact_type": row.artifact_type,
                "size": row.size,
                "subject": row.subject_digest,
                "annotations": row.annotations,
                "pushed_at": _iso(row.pushed_at),
                "last_pulled_at": _iso(row.last_pulled_at),
                "pull_count": row.pull_count,
            }
            entry_id = self._insert_trash(
                conn,
                repository,
                "manifest",
                digest,
                tag_names,
                manifest,
                refs,
                by,
                reason,
                content=row.content,  # the bytes go to the bin with the row
            )
            conn.execute(delete(t.tags).where(t.tags.c.manifest_id == row.id))
            conn.execute(
                delete(t.manifest_references).where(t.manifest_references.c.manifest_id == row.id)
            )
            conn.execute(delete(m).where(m.c.id == row.id))
            # Its blobs' links count from now: a rebuild pushed right after the
            # delete (layers already there, so not uploaded again) keeps them for
            # the grace period even when the bin keeps nothing.
            conn.execute(
                update(t.repository_blobs)
                .where(
                    t.repository_blobs.c.repository_id == repo_id,
                    t.repository_blobs.c.digest.in_(list(refs["blob"])),
                )
                .values(linked_at=_now())
            )
            return self._entry(conn, entry_id)

        result: TrashRecord | None = await self._write(q)
        return result

    async def trash_tag(
        self, repository: str, tag: str, *, by: str, reason: str
    ) -> TrashRecord | None:
        def q(conn: Connection) -> TrashRecord | None:
            repo_id = SqlMetadataStore._repo_id(conn, repository)
            if repo_id is None:
                return None
            row = conn.execute(
                select(t.manifests.c.digest)
                .join(t.tags, t.tags.c.manifest_id == t.manifests.c.id)
                .where(t.tags.c.repository_id == repo_id, t.tags.c.name == tag)
            ).first()
            if row is None:
                return None
            entry_id = self._insert_trash(
                conn, repository, "tag", row.digest, [tag], None, None, by, reason
            )
            conn.execute(
                delete(t.tags).where(t.tags.c.repository_id == repo_id, t.tags.c.name == tag)
            )
            return self._entry(conn, entry_id)

        result: TrashRecord | None = await self._write(q)
        return result

    @staticmethod
    def _insert_trash(
        conn: Connection,
        repository: str,
        kind: str,
        digest: str,
        tags: list[str],
        manifest: dict[str, Any] | None,
        refs: dict[str, Any] | None,
        by: str,
        reason: str,
        content: bytes | None = None,
    ) -> int:
        result = conn.execute(
            insert(g.trash)
            .values(
                content=content,
                repository=repository,
                kind=kind,
                digest=digest,
                tags=json.dumps(tags),
                manifest=json.dumps(manifest) if manifest is not None else None,
                refs=json.dumps(refs) if refs is not None else None,
                deleted_at=_now(),
                deleted_by=by[:140],
                reason=reason[:200],
            )
            .returning(g.trash.c.id)
        )
        return int(result.scalar_one())

    @staticmethod
    def _entry(conn: Connection, entry_id: int) -> TrashRecord:
        return _trash(conn.execute(select(*_ENTRY).where(g.trash.c.id == entry_id)).one())

    async def list_trash(self, repository: str | None = None) -> list[TrashRecord]:
        def q(conn: Connection) -> list[TrashRecord]:
            stmt = select(*_ENTRY).order_by(g.trash.c.deleted_at.desc(), g.trash.c.id.desc())
            if repository is not None:
                stmt = stmt.where(g.trash.c.repository == repository)
            return [_trash(r) for r in conn.execute(stmt)]

        return list(await self._read(q))

    async def restore(self, entry_id: int) -> tuple[TrashRecord, list[str]] | None:
        def q(conn: Connection) -> tuple[TrashRecord, list[str]] | None:
            row = conn.execute(
                select(*_ENTRY, g.trash.c.content).where(g.trash.c.id == entry_id)
            ).first()
            if row is None:
                return None
            entry = _trash(row)
            repo_id = SqlMetadataStore._repo_id(conn, entry.repository)
            if repo_id is None:
                return entry, []  # the repository is gone; nothing is changed
            m = t.manifests
            manifest_id = conn.execute(
                select(m.c.id).where(m.c.repository_id == repo_id, m.c.digest == entry.digest)
            ).scalar_one_or_none()
            if manifest_id is None:
                if entry.manifest is None:
                    return entry, []  # a tag whose manifest is gone: restore that first
                manifest_id = self._reinsert_manifest(conn, repo_id, entry, row.content)
            restored = []
            for tag in entry.tags:
                taken = conn.execute(
                    select(t.tags.c.name).where(
                        t.tags.c.repository_id == repo_id, t.tags.c.name == tag
                    )
                ).first()
                if taken is None:
                    conn.execute(
                        insert(t.tags).values(
                            repository_id=repo_id,
                            name=tag,
                            manifest_id=manifest_id,
                            pushed_at=_now(),
                        )
                    )
                    restored.append(tag)
            conn.execute(delete(g.trash).where(g.trash.c.id == entry_id))
            return entry, restored

        result: tuple[TrashRecord, list[str]] | None = await self._write(q)
        return result

    @staticmethod
    def _reinsert_manifest(
        conn: Connection, repo_id: int, entry: TrashRecord, content: bytes | None
    ) -> int:
        doc = dict(entry.manifest or {})
        refs = dict(entry.refs or {})
        blobs: dict[str, int] = dict(refs.get("blob") or {})
        for digest, size in blobs.items():
            linked = conn.execute(
                select(t.repository_blobs.c.digest).where(
                    t.repository_blobs.c.repository_id == repo_id,
                    t.repository_blobs.c.digest == digest,
                )
            ).first()
            if linked is None:
                conn.execute(
                    insert(t.repository_blobs).values(
                        repository_id=repo_id, digest=digest, size=size, linked_at=_now()
                    )
                )
        pushed = doc.get("pushed_at")
        pulled = doc.get("last_pulled_at")
        manifest_id = conn.execute(
            insert(t.manifests)
            .values(
                repository_id=repo_id,
                digest=entry.digest,
                media_type=doc["media_type"],
                artifact_type=doc.get("artifact_type"),
                size=doc["size"],
                subject_digest=doc.get("subject"),
                annotations=doc.get("annotations"),
                pushed_at=datetime.fromisoformat(str(pushed)) if pushed else _now(),
                last_pulled_at=datetime.fromisoformat(str(pulled)) if pulled else None,
                pull_count=doc.get("pull_count") or 0,
                content=content,
            )
            .returning(t.manifests.c.id)
        ).scalar_one()
        for kind, digests in (("blob", sorted(blobs)), ("manifest", refs.get("manifest") or [])):
            for digest in digests:
                conn.execute(
                    insert(t.manifest_references).values(
                        manifest_id=manifest_id, digest=digest, kind=kind
                    )
                )
        return int(manifest_id)

    async def purge_trash(self, before: datetime) -> list[TrashRecord]:
        def q(conn: Connection) -> list[TrashRecord]:
            rows = conn.execute(select(*_ENTRY).where(g.trash.c.deleted_at < before)).all()
            conn.execute(delete(g.trash).where(g.trash.c.deleted_at < before))
            return [_trash(r) for r in rows]

        return list(await self._write(q))

    async def trashed_digests(self) -> set[str]:
        def q(conn: Connection) -> set[str]:
            keep: set[str] = set()
            for digest, refs in conn.execute(select(g.trash.c.digest, g.trash.c.refs)):
                keep.add(digest)
                if refs:
                    doc = json.loads(refs)
                    keep.update(doc.get("blob") or {})
                    keep.update(doc.get("manifest") or [])
            return keep

        return set(await self._read(q))

    # -- garbage collection -----------------------------------------------------------

    async def stale_links(
        self, older_than: datetime, trash_since: datetime | None = None
    ) -> list[tuple[str, str]]:
        def q(conn: Connection) -> list[tuple[str, str]]:
            rb, r, m = t.repository_blobs, t.manifest_references, t.manifests
            used = (
                select(r.c.digest)
                .join(m, m.c.id == r.c.manifest_id)
                .where(m.c.repository_id == rb.c.repository_id, r.c.digest == rb.c.digest)
                .exists()
            )
            rows = conn.execute(
                select(t.repositories.c.name, rb.c.digest)
                .join(t.repositories, t.repositories.c.id == rb.c.repository_id)
                .where(rb.c.linked_at < older_than, ~used)
                .order_by(t.repositories.c.name, rb.c.digest)
            ).all()
            kept = self._trash_needs(conn, trash_since)
            return [(repo, digest) for repo, digest in rows if (repo, digest) not in kept]

        return list(await self._read(q))

    @staticmethod
    def _trash_needs(conn: Connection, since: datetime | None = None) -> set[tuple[str, str]]:
        """(repository, blob) pairs recycle-bin entries will need if restored."""
        kept: set[tuple[str, str]] = set()
        stmt = select(g.trash.c.repository, g.trash.c.refs)
        if since is not None:
            stmt = stmt.where(g.trash.c.deleted_at >= since)
        for repo, refs in conn.execute(stmt):
            if refs:
                kept.update((repo, d) for d in (json.loads(refs).get("blob") or {}))
        return kept

    async def unlink_if_unreferenced(
        self, repository: str, digest: str, older_than: datetime
    ) -> bool:
        def q(conn: Connection) -> bool:
            rb, r, m = t.repository_blobs, t.manifest_references, t.manifests
            repo_id = SqlMetadataStore._repo_id(conn, repository)
            if repo_id is None:
                return False
            link = conn.execute(
                select(rb.c.linked_at)
                .where(rb.c.repository_id == repo_id, rb.c.digest == digest)
                .with_for_update()
            ).first()
            if link is None:
                return False
            linked = _dt(link[0])
            if linked is None or linked >= older_than:
                return False  # linked again meanwhile: a push is using it
            # A fresh statement: on PostgreSQL it sees what committed while we
            # waited for the row lock.
            needed = conn.execute(
                select(r.c.digest)
                .join(m, m.c.id == r.c.manifest_id)
                .where(m.c.repository_id == repo_id, r.c.digest == digest)
                .limit(1)
            ).first()
            if needed is not None or (repository, digest) in self._trash_needs(conn):
                return False
            conn.execute(delete(rb).where(rb.c.repository_id == repo_id, rb.c.digest == digest))
            return True

        return bool(await self._write(q))

    async def blob_in_use(
        self,
        digest: str,
        ignore_links: frozenset[tuple[str, str]] = frozenset(),
        trash_since: datetime | None = None,
    ) -> bool:
        return bool(
            await self._read(lambda conn: self._in_use(conn, digest, ignore_links, trash_since))
        )

    @staticmethod
    def _in_use(
        conn: Connection,
        digest: str,
        ignore_links: frozenset[tuple[str, str]] = frozenset(),
        trash_since: datetime | None = None,
    ) -> bool:
        links = conn.execute(
            select(t.repositories.c.name)
            .join(t.repository_blobs, t.repository_blobs.c.repository_id == t.repositories.c.id)
            .where(t.repository_blobs.c.digest == digest)
        ).scalars()
        if any((name, digest) not in ignore_links for name in links):
            return True
        for stmt in (
            select(t.manifests.c.id).where(t.manifests.c.digest == digest).limit(1),
            select(t.manifest_references.c.manifest_id)
            .where(t.manifest_references.c.digest == digest)
            .limit(1),
            select(pt.package_assets.c.path).where(pt.package_assets.c.digest == digest).limit(1),
            select(pt.package_assets.c.path)
            .where(pt.package_assets.c.extra_digest == digest)
            .limit(1),
            select(g.trash.c.id)
            .where(
                (g.trash.c.digest == digest) | g.trash.c.refs.contains(f'"{digest}"'),
                g.trash.c.deleted_at >= (trash_since or datetime.min.replace(tzinfo=UTC)),
            )
            .limit(1),
        ):
            if conn.execute(stmt).first() is not None:
                return True
        return False

    async def stored_blobs_before(self, cutoff: datetime) -> list[tuple[str, int]]:
        def q(conn: Connection) -> list[tuple[str, int]]:
            bc = t.blob_contents
            rows = conn.execute(
                select(bc.c.digest, bc.c.size).where(bc.c.stored_at < cutoff).order_by(bc.c.digest)
            )
            return [(str(d), int(n)) for d, n in rows]

        return list(await self._read(q))

    async def count_stored_blobs_since(self, cutoff: datetime) -> int:
        def q(conn: Connection) -> int:
            bc = t.blob_contents
            stmt = select(func.count()).select_from(bc).where(bc.c.stored_at >= cutoff)
            return int(conn.execute(stmt).scalar_one())

        return int(await self._read(q))

    async def delete_stored_blob_if_unused(
        self, digest: str, cutoff: datetime, trash_since: datetime | None = None
    ) -> bool:
        def q(conn: Connection) -> bool:
            bc = t.blob_contents
            # Locked first: a push storing it again waits, and then finds it gone and
            # stores it anew; a mount checks for it after linking, under a share lock.
            row = conn.execute(
                select(bc.c.stored_at).where(bc.c.digest == digest).with_for_update()
            ).first()
            stored = None if row is None else _dt(row[0])
            if stored is None or stored >= cutoff:
                return False
            # Fresh statements: on PostgreSQL they see what committed while we waited.
            if self._in_use(conn, digest, trash_since=trash_since):
                return False
            conn.execute(delete(bc).where(bc.c.digest == digest))
            return True

        return bool(await self._write(q))

    async def record_ended_uploads(self, upload_ids: list[str]) -> None:
        def q(conn: Connection) -> None:
            now = _now()
            rows = [{"upload_id": u, "ended_at": now} for u in dict.fromkeys(upload_ids)]
            if rows:  # ids recorded already (a client's cancel, say) stay as they are
                stmt = self._base._insert_ignore(t.ended_uploads).on_conflict_do_nothing()
                conn.execute(stmt, rows)

        await self._write(q)

    async def forget_ended_uploads(self, before: datetime) -> int:
        def q(conn: Connection) -> int:
            eu = t.ended_uploads
            return int(conn.execute(delete(eu).where(eu.c.ended_at < before)).rowcount or 0)

        return int(await self._write(q))

    async def manifest_referenced(self, repository: str, digest: str) -> bool:
        def q(conn: Connection) -> bool:
            r, m = t.manifest_references, t.manifests
            row = conn.execute(
                select(r.c.digest)
                .join(m, m.c.id == r.c.manifest_id)
                .join(t.repositories, t.repositories.c.id == m.c.repository_id)
                .where(
                    t.repositories.c.name == repository,
                    r.c.digest == digest,
                    r.c.kind == "manifest",
                )
                .limit(1)
            ).first()
            return row is not None

        return bool(await self._read(q))

    # -- lifecycle runs ---------------------------------------------------------------

    async def add_lifecycle_run(self, run: LifecycleRun) -> int:
        def q(conn: Connection) -> int:
            result = conn.execute(
                insert(g.lifecycle_runs)
                .values(
                    repository=run.repository,
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    trigger=run.trigger,
                    expired=json.dumps(list(run.expired)),
                    bytes=run.bytes,
                )
                .returning(g.lifecycle_runs.c.id)
            )
            return int(result.scalar_one())

        return int(await self._write(q))

    async def lifecycle_runs(self, repository: str, limit: int = 50) -> list[LifecycleRun]:
        def q(conn: Connection) -> list[LifecycleRun]:
            stmt = (
                select(*g.lifecycle_runs.c)
                .where(g.lifecycle_runs.c.repository == repository)
                .order_by(g.lifecycle_runs.c.started_at.desc(), g.lifecycle_runs.c.id.desc())
                .limit(limit)
            )
            return [_run(r) for r in conn.execute(stmt)]

        return list(await self._read(q))

    # -- leases -----------------------------------------------------------------------

    async def take_lease(self, name: str, holder: str, until: datetime, now: datetime) -> bool:
        def q(conn: Connection) -> bool:
            row = conn.execute(
                select(g.leases.c.holder, g.leases.c.expires_at).where(g.leases.c.name == name)
            ).first()
            if row is None:
                conn.execute(insert(g.leases).values(name=name, holder=holder, expires_at=until))
                return True
            expires = _dt(row.expires_at)
            if row.holder != holder and expires is not None and expires > now:
                return False
            conn.execute(
                update(g.leases)
                .where(g.leases.c.name == name)
                .values(holder=holder, expires_at=until)
            )
            return True

        return bool(await self._write(q))
