"""One suite for the metadata store on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text

from cargohold.metadata.sql import SqlMetadataStore
from cargohold.metadata.store import ManifestRecord, ManifestReferences, PullEvent

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlMetadataStore]:
    s = SqlMetadataStore(database_url)
    await s.create_schema()
    yield s
    await s.close()


def _record(repo: str, digest: str, **kw: object) -> ManifestRecord:
    return ManifestRecord(repository=repo, digest=digest, media_type="m/t", size=10, **kw)  # type: ignore[arg-type]


D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
B1, B2 = ("sha256:" + c * 64 for c in "ab")


async def test_blob_links(store: SqlMetadataStore) -> None:
    assert not await store.repository_exists("team/app")
    await store.link_blob("team/app", B1, 5)
    await store.link_blob("team/app", B1, 5)  # idempotent
    assert await store.repository_exists("team/app")
    assert await store.linked_blob_size("team/app", B1) == 5
    assert await store.linked_blob_size("team/other", B1) is None
    assert await store.any_blob_link(B1) == 5
    assert await store.any_blob_link(B2) is None
    assert await store.unlink_blob("team/app", B1)
    assert not await store.unlink_blob("team/app", B1)
    assert await store.linked_blob_size("team/app", B1) is None


async def test_manifests_and_references(store: SqlMetadataStore) -> None:
    refs = ManifestReferences(frozenset({B1, B2}), frozenset({D3}))
    assert await store.missing_references("team/app", refs) == sorted([B1, B2, D3])
    await store.link_blob("team/app", B1, 1)
    assert await store.missing_references("team/app", refs) == sorted([B2, D3])
    await store.link_blob("team/app", B2, 1)
    await store.put_manifest(_record("team/app", D3), ManifestReferences(), None)
    assert await store.missing_references("team/app", refs) == []

    await store.put_manifest(_record("team/app", D1, annotations={"a": "b"}), refs, "v1")
    await store.put_manifest(_record("team/app", D1), refs, "v1")  # idempotent
    got = await store.resolve_tag("team/app", "v1")
    assert got is not None
    assert got.digest == D1
    assert got.annotations == {"a": "b"}
    assert got.pushed_at is not None and got.pushed_at.tzinfo is not None
    assert (await store.get_manifest("team/app", D1)) == got
    assert await store.get_manifest("team/other", D1) is None

    await store.put_manifest(_record("team/app", D2), ManifestReferences(), "v1")
    assert (await store.resolve_tag("team/app", "v1")).digest == D2  # type: ignore[union-attr]


async def test_manifest_bytes_are_kept_with_the_row(store: SqlMetadataStore) -> None:
    body = b'{"schemaVersion":2}' + bytes(range(256))  # any bytes, NUL included
    await store.put_manifest(_record("team/app", D1), ManifestReferences(), "v1", content=body)
    assert await store.manifest_content("team/app", D1) == body
    assert await store.manifest_content("team/other", D1) is None
    assert await store.manifest_content("team/app", D2) is None
    # A row stored without its bytes (they are in storage) has none, until a push
    # of the same manifest brings them; bytes already kept are not rewritten.
    await store.put_manifest(_record("team/app", D2), ManifestReferences(), None)
    assert await store.manifest_content("team/app", D2) is None
    await store.put_manifest(_record("team/app", D2), ManifestReferences(), "v2", content=b"two")
    assert await store.manifest_content("team/app", D2) == b"two"
    await store.put_manifest(_record("team/app", D2), ManifestReferences(), None, content=b"x")
    assert await store.manifest_content("team/app", D2) == b"two"
    assert await store.delete_manifest("team/app", D1)
    assert await store.manifest_content("team/app", D1) is None


async def test_a_database_from_before_manifest_bytes_gains_the_column(
    database_url: str,
) -> None:
    old = SqlMetadataStore(database_url)
    await old.create_schema()
    await old.link_blob("team/app", B1, 5)  # creates the repository
    with old.engine.begin() as conn:
        # The schema as releases before the column made it, with one manifest.
        conn.exec_driver_sql("ALTER TABLE manifests DROP COLUMN content")
        conn.exec_driver_sql("ALTER TABLE trash DROP COLUMN content")
        conn.execute(
            text(
                "INSERT INTO manifests (repository_id, digest, media_type, size, pushed_at,"
                " pull_count) SELECT id, :digest, 'm/t', 10, :at, 0 FROM repositories"
            ),
            {"digest": D1, "at": datetime.now(UTC)},
        )
    await old.close()

    store = SqlMetadataStore(database_url)
    try:
        await store.create_schema()
        await store.create_schema()  # idempotent, as every worker runs it at start
        with store.engine.connect() as conn:
            for table in ("manifests", "trash"):
                names = {c["name"] for c in inspect(conn).get_columns(table)}
                assert "content" in names, table
        got = await store.get_manifest("team/app", D1)
        assert got is not None and got.size == 10
        assert await store.manifest_content("team/app", D1) is None
        await store.put_manifest(_record("team/app", D1), ManifestReferences(), "v1", content=b"m")
        assert await store.manifest_content("team/app", D1) == b"m"
    finally:
        await store.close()


async def test_delete_manifest_removes_its_tags(store: SqlMetadataStore) -> None:
    await store.put_manifest(_record("team/app", D1), ManifestReferences(), "a")
    await store.put_manifest(_record("team/app", D1), ManifestReferences(), "b")
    await store.put_manifest(_record("team/app", D2), ManifestReferences(), "c")
    assert await store.delete_manifest("team/app", D1)
    assert not await store.delete_manifest("team/app", D1)
    assert await store.list_tags("team/app", None, None) == ["c"]
    assert await store.delete_tag("team/app", "c")
    assert not await store.delete_tag("team/app", "c")
    assert await store.get_manifest("team/app", D2) is not None


async def test_listings_sort_in_byte_order(store: SqlMetadataStore) -> None:
    tags = ["b", "B", "a", "_x", "a-1", "a.1", "Z9"]
    for tag in tags:
        await store.put_manifest(_record("team/app", D1), ManifestReferences(), tag)
    assert await store.list_tags("team/app", None, None) == sorted(tags)
    assert (
        await store.list_tags("team/app", "a", 2) == sorted(tags)[sorted(tags).index("a") + 1 :][:2]
    )
    for name in ("b/x", "a/y", "a/x-y", "a/x"):
        await store.link_blob(name, B1, 1)
    assert await store.list_repositories(None, None) == sorted(
        ["b/x", "a/y", "a/x-y", "a/x", "team/app"]
    )
    assert await store.list_repositories("a/y", 1) == ["b/x"]


async def test_referrers(store: SqlMetadataStore) -> None:
    await store.put_manifest(
        _record("team/app", D2, subject=D1, artifact_type="sig"), ManifestReferences(), None
    )
    await store.put_manifest(
        _record("team/app", D3, subject=D1, artifact_type="sbom"), ManifestReferences(), None
    )
    assert [r.digest for r in await store.referrers("team/app", D1, None)] == [D2, D3]
    assert [r.digest for r in await store.referrers("team/app", D1, "sbom")] == [D3]
    assert await store.referrers("team/other", D1, None) == []


async def test_pull_counts(store: SqlMetadataStore) -> None:
    await store.put_manifest(_record("team/app", D1), ManifestReferences(), "v1")
    now = datetime.now(UTC)
    await store.record_pulls(
        [
            PullEvent("team/app", D1, "v1", now - timedelta(seconds=5)),
            PullEvent("team/app", D1, None, now),
            PullEvent("team/app", D2, "gone", now),  # unknown: ignored
        ]
    )
    record = await store.get_manifest("team/app", D1)
    assert record is not None and record.pull_count == 2
    assert record.last_pulled_at is not None
    assert abs((record.last_pulled_at - now).total_seconds()) < 1
    (tag,) = await store.tag_details("team/app")
    assert (tag.name, tag.pull_count) == ("v1", 1)


async def test_lookups_see_later_writes(store: SqlMetadataStore) -> None:
    """A lookup that matched several rows must not pin an old snapshot."""
    await store.link_blob("team/a", B1, 1)
    await store.link_blob("team/b", B1, 1)
    assert await store.any_blob_link(B1) == 1
    await store.unlink_blob("team/a", B1)
    await store.unlink_blob("team/b", B1)
    assert await store.any_blob_link(B1) is None
    await store.link_blob("team/c", B2, 7)
    assert await store.linked_blob_size("team/c", B2) == 7


async def test_last_pulled_never_goes_back(store: SqlMetadataStore) -> None:
    """Several workers flush their pull events in any order."""
    await store.put_manifest(_record("team/app", D1), ManifestReferences(), "v1")
    late = datetime.now(UTC)
    early = late - timedelta(hours=1)
    await store.record_pulls([PullEvent("team/app", D1, "v1", late)])
    await store.record_pulls([PullEvent("team/app", D1, "v1", early)])
    record = await store.get_manifest("team/app", D1)
    assert record is not None and record.pull_count == 2
    assert record.last_pulled_at is not None
    assert abs((record.last_pulled_at - late).total_seconds()) < 1
    (tag,) = await store.tag_details("team/app")
    assert tag.last_pulled_at is not None
    assert abs((tag.last_pulled_at - late).total_seconds()) < 1


async def test_concurrent_writes_all_land(store: SqlMetadataStore) -> None:
    """On SQLite these are group-committed: many writes, one transaction."""
    import asyncio

    digests = [f"sha256:{i:064x}" for i in range(40)]
    await asyncio.gather(*(store.link_blob(f"team/r{i % 4}", d, i) for i, d in enumerate(digests)))
    await asyncio.gather(
        *(
            store.put_manifest(_record(f"team/r{i % 4}", d), ManifestReferences(), f"t{i}")
            for i, d in enumerate(digests)
        )
    )
    for i, d in enumerate(digests):
        assert await store.linked_blob_size(f"team/r{i % 4}", d) == i
        record = await store.resolve_tag(f"team/r{i % 4}", f"t{i}")
        assert record is not None and record.digest == d


async def test_a_failing_write_leaves_its_batch_mates(store: SqlMetadataStore) -> None:
    import asyncio

    def broken(cursor: object) -> None:
        raise RuntimeError("broken write")

    results = await asyncio.gather(
        store.link_blob("team/a", B1, 1),
        store._submit(broken),
        store.link_blob("team/b", B2, 2),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RuntimeError)
    assert await store.linked_blob_size("team/a", B1) == 1
    assert await store.linked_blob_size("team/b", B2) == 2
