"""`MetadataStore` over SQLAlchemy Core: SQLite by default, PostgreSQL for clusters.

The queries live here; connections, transactions and group commit in
`sql_engine`. The hot lookups (tags, manifests, blob links) are prebuilt `_Query`
statements, compiled once per dialect, which run inline on SQLite.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from cargohold.errors import ManifestBlobUnknown, TagImmutable
from cargohold.metadata import account_tables as _account_tables  # noqa: F401  (one schema)
from cargohold.metadata import governance_tables as gt
from cargohold.metadata import package_tables as pt
from cargohold.metadata import tables as t
from cargohold.metadata.sql_engine import (
    SqlEngine,
    _dt,
    _now,
    _Query,
    _utc,
)
from cargohold.metadata.store import (
    ManifestRecord,
    ManifestReferences,
    PullEvent,
    RepositoryRecord,
    TagRecord,
)

T = TypeVar("T")


_MANIFEST_COLUMNS = (
    t.manifests.c.digest,
    t.manifests.c.media_type,
    t.manifests.c.size,
    t.manifests.c.artifact_type,
    t.manifests.c.subject_digest,
    t.manifests.c.annotations,
    t.manifests.c.pushed_at,
    t.manifests.c.last_pulled_at,
    t.manifests.c.pull_count,
)
_REPO_ID = _Query(select(t.repositories.c.id).where(t.repositories.c.name == bindparam("repo")))
_LINKED_BLOB = _Query(
    select(t.repository_blobs.c.size)
    .join(t.repositories, t.repositories.c.id == t.repository_blobs.c.repository_id)
    .where(
        t.repositories.c.name == bindparam("repo"),
        t.repository_blobs.c.digest == bindparam("digest"),
    )
)
# No LIMIT: it would add a bound parameter; fetching the first row is enough.
_ANY_BLOB_LINK = _Query(
    select(t.repository_blobs.c.size).where(t.repository_blobs.c.digest == bindparam("digest"))
)
_BLOB_CONTENT = _Query(
    select(t.blob_contents.c.content).where(t.blob_contents.c.digest == bindparam("digest"))
)
_BLOB_STORED = _Query(
    select(t.blob_contents.c.size).where(t.blob_contents.c.digest == bindparam("digest"))
)
_UPLOAD_ENDED = _Query(
    select(t.ended_uploads.c.ended_at).where(t.ended_uploads.c.upload_id == bindparam("upload"))
)
_MANIFEST_BY_DIGEST = _Query(
    select(*_MANIFEST_COLUMNS)
    .join(t.repositories, t.repositories.c.id == t.manifests.c.repository_id)
    .where(t.repositories.c.name == bindparam("repo"), t.manifests.c.digest == bindparam("digest"))
)
_MANIFEST_BY_TAG = _Query(
    select(*_MANIFEST_COLUMNS)
    .join(t.tags, t.tags.c.manifest_id == t.manifests.c.id)
    .join(t.repositories, t.repositories.c.id == t.tags.c.repository_id)
    .where(t.repositories.c.name == bindparam("repo"), t.tags.c.name == bindparam("tag"))
)


_MANIFEST_ID = _Query(
    select(t.manifests.c.id).where(
        t.manifests.c.repository_id == bindparam("repo_id"),
        t.manifests.c.digest == bindparam("digest"),
    )
)
# A repository's link to a blob, share-locked on PostgreSQL (SQLite has no row locks
# and needs none: its writers take turns) so garbage collection cannot remove the
# link while a manifest that needs it is being stored.
_LINK_HELD = _Query(
    select(t.repository_blobs.c.digest)
    .where(
        t.repository_blobs.c.repository_id == bindparam("repo_id"),
        t.repository_blobs.c.digest == bindparam("digest"),
    )
    .with_for_update(read=True)
)
_INSERT_MANIFEST = _Query(
    t.manifests.insert().values(
        repository_id=bindparam("repo_id"),
        digest=bindparam("digest"),
        media_type=bindparam("media_type"),
        artifact_type=bindparam("artifact_type"),
        size=bindparam("size"),
        subject_digest=bindparam("subject"),
        annotations=bindparam("annotations"),
        pushed_at=bindparam("at"),
        pull_count=0,
        content=bindparam("content"),
    )
)
# A manifest stored before its bytes were kept in the database gets them when
# pushed again.
_FILL_CONTENT = _Query(
    update(t.manifests)
    .where(t.manifests.c.id == bindparam("manifest_id"), t.manifests.c.content.is_(None))
    .values(content=bindparam("content"))
)
_MANIFEST_CONTENT = _Query(
    select(t.manifests.c.content)
    .join(t.repositories, t.repositories.c.id == t.manifests.c.repository_id)
    .where(t.repositories.c.name == bindparam("repo"), t.manifests.c.digest == bindparam("digest"))
)
_INSERT_REF = _Query(
    t.manifest_references.insert().values(
        manifest_id=bindparam("manifest_id"), digest=bindparam("digest"), kind=bindparam("kind")
    )
)
_TAG_TARGET = _Query(
    select(t.tags.c.manifest_id).where(
        t.tags.c.repository_id == bindparam("repo_id"), t.tags.c.name == bindparam("tag")
    )
)
_INSERT_TAG = _Query(
    t.tags.insert().values(
        repository_id=bindparam("repo_id"),
        name=bindparam("tag"),
        manifest_id=bindparam("manifest_id"),
        pushed_at=bindparam("at"),
        pull_count=0,
    )
)
_MOVE_TAG = _Query(
    update(t.tags)
    .where(t.tags.c.repository_id == bindparam("repo_id"), t.tags.c.name == bindparam("tag"))
    .values(manifest_id=bindparam("manifest_id"), pushed_at=bindparam("at"))
)


# Columns added to existing tables since their first release. ``create_all`` makes
# missing tables only, so a database made by an older release gains these here;
# each is nullable, so adding it rewrites nothing.
_ADDED_COLUMNS = (
    (t.manifests, t.manifests.c.content),
    (gt.trash, gt.trash.c.content),
)


def _add_missing_columns(conn: Connection) -> None:
    inspector = inspect(conn)
    for table, column in _ADDED_COLUMNS:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        if column.name not in present:
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")


def _later(column: Any, at: datetime) -> Any:
    """The later of a stored time and ``at``: workers flush in any order."""
    return case((column.is_(None), at), (column < at, at), else_=column)


class SqlMetadataStore(SqlEngine):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._q_insert_repo = _Query(
            self._insert_ignore(t.repositories)
            .values(name=bindparam("repo"), created_at=bindparam("at"))
            .on_conflict_do_nothing()
        )
        link = self._insert_ignore(t.repository_blobs).values(
            repository_id=bindparam("repo_id"),
            digest=bindparam("digest"),
            size=bindparam("size"),
            linked_at=bindparam("at"),
        )
        # Linking again renews the time: garbage collection keeps a link for the
        # grace period after the last push that needed it, not after the first.
        self._q_link = _Query(
            link.on_conflict_do_update(
                index_elements=["repository_id", "digest"],
                set_={"linked_at": link.excluded.linked_at},
            )
        )
        content = self._insert_ignore(t.blob_contents).values(
            digest=bindparam("digest"),
            size=bindparam("size"),
            content=bindparam("content"),
            stored_at=bindparam("at"),
        )
        # Storing it again renews the time, as linking does: garbage collection then
        # leaves it alone for a grace period (and, on PostgreSQL, the update locks
        # the row against a collector deleting it meanwhile).
        self._q_store_content = _Query(
            content.on_conflict_do_update(
                index_elements=["digest"], set_={"stored_at": content.excluded.stored_at}
            )
        )
        self._q_end_upload = _Query(
            self._insert_ignore(t.ended_uploads)
            .values(upload_id=bindparam("upload"), ended_at=bindparam("at"))
            .on_conflict_do_nothing()
        )

    def _raw_repo_id(self, cursor: Any, name: str) -> int:
        """The repository's id, creating the repository if needed."""
        row = self._exec(cursor, _REPO_ID, repo=name).fetchone()
        if row is None:
            self._exec(cursor, self._q_insert_repo, repo=name, at=self._ts(_now()))
            row = self._exec(cursor, _REPO_ID, repo=name).fetchone()
        return int(row[0])

    async def create_schema(self) -> None:
        """Create missing tables; safe when several workers start at once."""

        def create(conn: Connection) -> None:
            if self.dialect == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7305411)")
            t.metadata.create_all(conn)
            _add_missing_columns(conn)

        await self._run(self._write, create)

    # -- repositories -----------------------------------------------------------------

    @staticmethod
    def _repo_id(conn: Connection, name: str) -> int | None:
        return conn.execute(
            select(t.repositories.c.id).where(t.repositories.c.name == name)
        ).scalar_one_or_none()

    async def repository_exists(self, name: str) -> bool:
        return await self._fetchone(_REPO_ID, repo=name) is not None

    async def create_repository(self, name: str) -> bool:
        def q(conn: Connection) -> bool:
            if self._repo_id(conn, name) is not None:
                return False
            conn.execute(insert(t.repositories).values(name=name, created_at=_now()))
            return True

        try:
            return await self._run(self._write, q)
        except IntegrityError:
            return False

    async def describe_repository(self, name: str) -> RepositoryRecord | None:
        def q(conn: Connection) -> RepositoryRecord | None:
            repo = conn.execute(
                select(t.repositories.c.id, t.repositories.c.created_at).where(
                    t.repositories.c.name == name
                )
            ).first()
            if repo is None:
                return None
            manifests = conn.execute(
                select(func.count(), func.max(t.manifests.c.pushed_at)).where(
                    t.manifests.c.repository_id == repo[0]
                )
            ).first()
            tags = conn.execute(
                select(func.count()).where(t.tags.c.repository_id == repo[0])
            ).scalar_one()
            assert manifests is not None
            return RepositoryRecord(
                name=name,
                created_at=_dt(repo[1]),  # type: ignore[arg-type]
                manifest_count=int(manifests[0]),
                tag_count=int(tags),
                last_pushed_at=_dt(manifests[1]),
            )

        return await self._run(self._read, q)

    async def namespace_usage(self, namespace: str, digest: str | None = None) -> tuple[int, bool]:
        def q(conn: Connection) -> tuple[int, bool]:
            # "ns" itself and everything under "ns/": '0' is the character after '/'.
            repos = select(t.repositories.c.id).where(
                (t.repositories.c.name == namespace)
                | (
                    (t.repositories.c.name >= namespace + "/")
                    & (t.repositories.c.name < namespace + "0")
                )
            )
            rb = t.repository_blobs
            per_blob = (
                select(rb.c.digest, func.max(rb.c.size).label("size"))
                .where(rb.c.repository_id.in_(repos))
                .group_by(rb.c.digest)
                .subquery()
            )
            blobs = conn.execute(select(func.coalesce(func.sum(per_blob.c.size), 0))).scalar_one()
            manifests = conn.execute(
                select(func.coalesce(func.sum(t.manifests.c.size), 0)).where(
                    t.manifests.c.repository_id.in_(repos)
                )
            ).scalar_one()
            # Hosted package repositories the namespace owns: each stored file once.
            pa = pt.package_assets
            package_repos = select(pt.package_repositories.c.name).where(
                pt.package_repositories.c.namespace == namespace
            )
            per_file = (
                select(pa.c.digest, func.max(pa.c.size).label("size"))
                .where(pa.c.repository.in_(package_repos))
                .group_by(pa.c.digest)
                .subquery()
            )
            files = conn.execute(select(func.coalesce(func.sum(per_file.c.size), 0))).scalar_one()
            has = False
            if digest is not None:
                has = (
                    conn.execute(
                        select(rb.c.digest)
                        .where(rb.c.repository_id.in_(repos), rb.c.digest == digest)
                        .limit(1)
                    ).first()
                    is not None
                )
            return int(blobs) + int(manifests) + int(files), has

        return await self._run(self._read, q)

    async def delete_repository(self, name: str) -> bool:
        def q(conn: Connection) -> bool:
            repo_id = self._repo_id(conn, name)
            if repo_id is None:
                return False
            manifest_ids = select(t.manifests.c.id).where(t.manifests.c.repository_id == repo_id)
            conn.execute(delete(t.tags).where(t.tags.c.repository_id == repo_id))
            conn.execute(
                delete(t.manifest_references).where(
                    t.manifest_references.c.manifest_id.in_(manifest_ids)
                )
            )
            conn.execute(delete(t.manifests).where(t.manifests.c.repository_id == repo_id))
            conn.execute(
                delete(t.repository_blobs).where(t.repository_blobs.c.repository_id == repo_id)
            )
            conn.execute(delete(t.repositories).where(t.repositories.c.id == repo_id))
            return True

        return await self._run(self._write, q)

    async def list_repositories(self, last: str | None, limit: int | None) -> list[str]:
        def q(conn: Connection) -> list[str]:
            stmt = select(t.repositories.c.name).order_by(t.repositories.c.name)
            if last is not None:
                stmt = stmt.where(t.repositories.c.name > last)
            if limit is not None:
                stmt = stmt.limit(limit)
            return list(conn.execute(stmt).scalars())

        return await self._run(self._read, q)

    # -- blob links -------------------------------------------------------------------

    async def link_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        *,
        content: bytes | None = None,
        ended_upload: str | None = None,
    ) -> None:
        def q(cursor: Any) -> None:
            at = self._ts(_now())
            if content is not None:
                self._exec(
                    cursor, self._q_store_content, digest=digest, size=size, content=content, at=at
                )
            repo_id = self._raw_repo_id(cursor, repository)
            self._exec(cursor, self._q_link, repo_id=repo_id, digest=digest, size=size, at=at)
            if ended_upload is not None:
                self._exec(cursor, self._q_end_upload, upload=ended_upload, at=at)

        await self._submit(q)

    async def blob_content(self, digest: str) -> bytes | None:
        row = await self._fetchone(_BLOB_CONTENT, digest=digest)
        return None if row is None else bytes(row[0])

    async def blob_stored(self, digest: str) -> bool:
        if self._inline:  # writers are serialised: a collector's delete is all or none
            return await self._fetchone(_BLOB_STORED, digest=digest) is not None

        def q(conn: Connection) -> bool:
            # Share-locked: waits for a collector holding the row, then sees its verdict.
            stmt = _BLOB_STORED.stmt.with_for_update(read=True)
            return conn.execute(stmt, {"digest": digest}).first() is not None

        return bool(await self._run(self._read, q))

    async def end_upload(self, upload_id: str) -> None:
        def q(cursor: Any) -> None:
            self._exec(cursor, self._q_end_upload, upload=upload_id, at=self._ts(_now()))

        await self._submit(q)

    async def upload_ended(self, upload_id: str) -> bool:
        return await self._fetchone(_UPLOAD_ENDED, upload=upload_id) is not None

    async def linked_blob_size(self, repository: str, digest: str) -> int | None:
        row = await self._fetchone(_LINKED_BLOB, repo=repository, digest=digest)
        return None if row is None else int(row[0])

    async def any_blob_link(self, digest: str) -> int | None:
        row = await self._fetchone(_ANY_BLOB_LINK, digest=digest)
        return None if row is None else int(row[0])

    async def unlink_blob(self, repository: str, digest: str) -> bool:
        def q(conn: Connection) -> bool:
            repo_id = self._repo_id(conn, repository)
            if repo_id is None:
                return False
            result = conn.execute(
                delete(t.repository_blobs).where(
                    t.repository_blobs.c.repository_id == repo_id,
                    t.repository_blobs.c.digest == digest,
                )
            )
            return bool(result.rowcount)

        return await self._run(self._write, q)

    # -- manifests --------------------------------------------------------------------

    async def missing_references(self, repository: str, refs: ManifestReferences) -> list[str]:
        if self._inline:
            # Indexed point lookups on the loop: cheaper than one thread hop even for
            # an index with dozens of children.
            missing = [
                d
                for d in refs.blobs
                if await self._fetchone(_LINKED_BLOB, repo=repository, digest=d) is None
            ]
            missing += [
                d
                for d in refs.manifests
                if await self._fetchone(_MANIFEST_BY_DIGEST, repo=repository, digest=d) is None
            ]
            return sorted(missing)

        def q(conn: Connection) -> list[str]:
            repo_id = self._repo_id(conn, repository)
            if repo_id is None:
                return sorted(refs.blobs | refs.manifests)
            found_blobs: set[str] = set()
            found_manifests: set[str] = set()
            if refs.blobs:
                found_blobs = set(
                    conn.execute(
                        select(t.repository_blobs.c.digest).where(
                            t.repository_blobs.c.repository_id == repo_id,
                            t.repository_blobs.c.digest.in_(refs.blobs),
                        )
                    ).scalars()
                )
            if refs.manifests:
                found_manifests = set(
                    conn.execute(
                        select(t.manifests.c.digest).where(
                            t.manifests.c.repository_id == repo_id,
                            t.manifests.c.digest.in_(refs.manifests),
                        )
                    ).scalars()
                )
            return sorted((refs.blobs - found_blobs) | (refs.manifests - found_manifests))

        return await self._run(self._read, q)

    def _manifest_id(self, conn: Connection, repo_id: int, digest: str) -> int | None:
        return conn.execute(
            select(t.manifests.c.id).where(
                t.manifests.c.repository_id == repo_id, t.manifests.c.digest == digest
            )
        ).scalar_one_or_none()

    async def put_manifest(
        self,
        record: ManifestRecord,
        refs: ManifestReferences,
        tag: str | None,
        *,
        tag_fixed: bool = False,
        content: bytes | None = None,
    ) -> None:
        def q(cursor: Any) -> None:
            now = self._ts(_now())
            repo_id = self._raw_repo_id(cursor, record.repository)
            row = self._exec(cursor, _MANIFEST_ID, repo_id=repo_id, digest=record.digest).fetchone()
            if row is None:
                self._check_references(cursor, repo_id, refs)
                self._exec(
                    cursor,
                    _INSERT_MANIFEST,
                    repo_id=repo_id,
                    digest=record.digest,
                    media_type=record.media_type,
                    artifact_type=record.artifact_type,
                    size=record.size,
                    subject=record.subject,
                    annotations=json.dumps(record.annotations) if record.annotations else None,
                    at=now,
                    content=content,
                )
                row = self._exec(
                    cursor, _MANIFEST_ID, repo_id=repo_id, digest=record.digest
                ).fetchone()
                manifest_id = int(row[0])
                for kind, digests in (("blob", refs.blobs), ("manifest", refs.manifests)):
                    for d in sorted(digests):
                        self._exec(
                            cursor, _INSERT_REF, manifest_id=manifest_id, digest=d, kind=kind
                        )
            else:
                manifest_id = int(row[0])
                if content is not None:
                    self._exec(cursor, _FILL_CONTENT, manifest_id=manifest_id, content=content)
            if tag is None:
                return
            current = self._exec(cursor, _TAG_TARGET, repo_id=repo_id, tag=tag).fetchone()
            if current is None:
                self._exec(
                    cursor, _INSERT_TAG, repo_id=repo_id, tag=tag, manifest_id=manifest_id, at=now
                )
            elif current[0] != manifest_id:
                if tag_fixed:
                    # Raised inside the write's savepoint: the manifest row goes too.
                    raise TagImmutable(
                        f"tag {tag!r} in {record.repository!r} is immutable; "
                        "push a new tag, or pin the image by digest",
                        detail={"tag": tag},
                    )
                self._exec(
                    cursor, _MOVE_TAG, repo_id=repo_id, tag=tag, manifest_id=manifest_id, at=now
                )

        await self._submit(q)

    def _check_references(self, cursor: Any, repo_id: int, refs: ManifestReferences) -> None:
        """Everything the manifest names is still there, checked inside its write:
        the earlier check ran outside it, and garbage collection may have removed a
        stale link since."""
        missing = [
            d
            for d in sorted(refs.blobs)
            if self._exec(cursor, _LINK_HELD, repo_id=repo_id, digest=d).fetchone() is None
        ]
        missing += [
            d
            for d in sorted(refs.manifests)
            if self._exec(cursor, _MANIFEST_ID, repo_id=repo_id, digest=d).fetchone() is None
        ]
        if missing:
            raise ManifestBlobUnknown(
                f"manifest references {len(missing)} blob(s) or manifest(s) not in this repository",
                detail={"missing": missing[:50]},
            )

    @staticmethod
    def _record(repository: str, row: Any) -> ManifestRecord:
        """A record from a row of `_MANIFEST_COLUMNS`, in that order."""
        digest, media_type, size, artifact_type, subject, annotations, pushed, pulled, count = row
        return ManifestRecord(
            repository=repository,
            digest=digest,
            media_type=media_type,
            size=size,
            artifact_type=artifact_type,
            subject=subject,
            annotations=json.loads(annotations) if annotations else None,
            pushed_at=_dt(pushed),
            last_pulled_at=_dt(pulled),
            pull_count=count,
        )

    async def get_manifest(self, repository: str, digest: str) -> ManifestRecord | None:
        row = await self._fetchone(_MANIFEST_BY_DIGEST, repo=repository, digest=digest)
        return None if row is None else self._record(repository, row)

    async def manifest_content(self, repository: str, digest: str) -> bytes | None:
        row = await self._fetchone(_MANIFEST_CONTENT, repo=repository, digest=digest)
        return None if row is None or row[0] is None else bytes(row[0])

    async def resolve_tag(self, repository: str, tag: str) -> ManifestRecord | None:
        row = await self._fetchone(_MANIFEST_BY_TAG, repo=repository, tag=tag)
        return None if row is None else self._record(repository, row)

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        def q(conn: Connection) -> bool:
            repo_id = self._repo_id(conn, repository)
            if repo_id is None:
                return False
            manifest_id = self._manifest_id(conn, repo_id, digest)
            if manifest_id is None:
                return False
            # Explicit child deletes: SQLite only cascades with foreign_keys on, and
            # the order keeps PostgreSQL happy without deferred constraints.
            conn.execute(delete(t.tags).where(t.tags.c.manifest_id == manifest_id))
            conn.execute(
                delete(t.manifest_references).where(
                    t.manifest_references.c.manifest_id == manifest_id
                )
            )
            conn.execute(delete(t.manifests).where(t.manifests.c.id == manifest_id))
            return True

        return await self._run(self._write, q)

    async def delete_tag(self, repository: str, tag: str) -> bool:
        def q(conn: Connection) -> bool:
            repo_id = self._repo_id(conn, repository)
            if repo_id is None:
                return False
            result = conn.execute(
                delete(t.tags).where(t.tags.c.repository_id == repo_id, t.tags.c.name == tag)
            )
            return bool(result.rowcount)

        return await self._run(self._write, q)

    async def list_tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        def q(conn: Connection) -> list[str]:
            stmt = (
                select(t.tags.c.name)
                .join(t.repositories, t.repositories.c.id == t.tags.c.repository_id)
                .where(t.repositories.c.name == repository)
                .order_by(t.tags.c.name)
            )
            if last is not None:
                stmt = stmt.where(t.tags.c.name > last)
            if limit is not None:
                stmt = stmt.limit(limit)
            return list(conn.execute(stmt).scalars())

        return await self._run(self._read, q)

    async def tag_details(self, repository: str) -> list[TagRecord]:
        def q(conn: Connection) -> list[TagRecord]:
            rows = conn.execute(
                select(
                    t.tags.c.name,
                    t.manifests.c.digest,
                    t.tags.c.pushed_at,
                    t.tags.c.last_pulled_at,
                    t.tags.c.pull_count,
                )
                .join(t.manifests, t.manifests.c.id == t.tags.c.manifest_id)
                .join(t.repositories, t.repositories.c.id == t.tags.c.repository_id)
                .where(t.repositories.c.name == repository)
                .order_by(t.tags.c.name)
            )
            return [
                TagRecord(r.name, r.digest, _utc(r.pushed_at), _utc(r.last_pulled_at), r.pull_count)  # type: ignore[arg-type]
                for r in rows
            ]

        return await self._run(self._read, q)

    async def referrers(
        self, repository: str, subject: str, artifact_type: str | None
    ) -> list[ManifestRecord]:
        def q(conn: Connection) -> list[ManifestRecord]:
            stmt = (
                select(*_MANIFEST_COLUMNS)
                .join(t.repositories, t.repositories.c.id == t.manifests.c.repository_id)
                .where(t.repositories.c.name == repository, t.manifests.c.subject_digest == subject)
                .order_by(t.manifests.c.digest)
            )
            if artifact_type is not None:
                stmt = stmt.where(t.manifests.c.artifact_type == artifact_type)
            return [self._record(repository, row) for row in conn.execute(stmt)]

        return await self._run(self._read, q)

    # -- usage ------------------------------------------------------------------------

    async def record_pulls(self, events: Iterable[PullEvent]) -> None:
        manifests: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, None])
        tags: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, None])
        for e in events:
            for key, bucket in (
                ((e.repository, e.digest), manifests),
                ((e.repository, e.tag), tags),
            ):
                if key[1] is None:
                    continue
                entry = bucket[key]  # type: ignore[index]
                entry[0] += 1
                entry[1] = e.at if entry[1] is None or e.at > entry[1] else entry[1]
        if not manifests:
            return

        def q(conn: Connection) -> None:
            for (repo, digest), (count, at) in manifests.items():
                repo_ids = select(t.repositories.c.id).where(t.repositories.c.name == repo)
                conn.execute(
                    update(t.manifests)
                    .where(
                        and_(
                            t.manifests.c.repository_id == repo_ids.scalar_subquery(),
                            t.manifests.c.digest == digest,
                        )
                    )
                    .values(
                        pull_count=t.manifests.c.pull_count + count,
                        last_pulled_at=_later(t.manifests.c.last_pulled_at, at),
                    )
                )
            for (repo, tag), (count, at) in tags.items():
                repo_ids = select(t.repositories.c.id).where(t.repositories.c.name == repo)
                conn.execute(
                    update(t.tags)
                    .where(
                        t.tags.c.repository_id == repo_ids.scalar_subquery(),
                        t.tags.c.name == tag,
                    )
                    .values(
                        pull_count=t.tags.c.pull_count + count,
                        last_pulled_at=_later(t.tags.c.last_pulled_at, at),
                    )
                )

        await self._run(self._write, q)
