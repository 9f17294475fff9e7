"""Small blobs kept in the metadata database, and the records of ended uploads, on
SQLite and PostgreSQL: what the push path stores and what garbage collection may
delete."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from cargohold.metadata.packages import AssetRecord, PackageRepositoryRecord
from cargohold.metadata.store import ManifestRecord, ManifestReferences
from tests.conformance.conftest import Stores

pytestmark = pytest.mark.anyio

FUTURE = datetime.now(UTC) + timedelta(days=1)
PAST = datetime.now(UTC) - timedelta(days=1)
# Any bytes: NUL, high bytes, what looks like text and what does not.
ODD_BYTES = b"\x00\x01\xfe\xff" + bytes(range(256)) + b"\x00" * 7 + "ünï".encode()
MANIFEST = "sha256:" + "1" * 64
INDEX = "sha256:" + "2" * 64


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_id(n: int) -> str:
    """Shaped like the ids the registry issues: nonce, time of issue, hash."""
    return f"{n:032x}-6650a2b0-{n:016x}"


def content_rows(s: Stores) -> list[tuple[str, int, bytes]]:
    with s.base.engine.begin() as conn:
        rows = conn.exec_driver_sql(
            "SELECT digest, size, content FROM blob_contents ORDER BY digest"
        ).all()
    return [(str(d), int(n), bytes(c)) for d, n, c in rows]


async def store_blob(s: Stores, repository: str, data: bytes) -> str:
    digest = digest_of(data)
    await s.base.link_blob(repository, digest, len(data), content=data)
    return digest


async def a_moment() -> datetime:
    """A time strictly between what was written before and what is written after."""
    await asyncio.sleep(0.01)
    at = datetime.now(UTC)
    await asyncio.sleep(0.01)
    return at


# -- blob contents ------------------------------------------------------------------


@pytest.mark.parametrize("data", [ODD_BYTES, b"\x00", b"\xff", b"x"], ids=repr)
async def test_bytes_come_back_exactly(stores: Stores, data: bytes) -> None:
    digest = await store_blob(stores, "team/app", data)
    got = await stores.base.blob_content(digest)
    assert got == data
    assert type(got) is bytes  # not a memoryview the caller would have to convert
    assert content_rows(stores) == [(digest, len(data), data)]
    assert await stores.base.blob_content(digest_of(data + b"!")) is None


async def test_link_with_content_creates_the_repository_and_the_link(stores: Stores) -> None:
    assert not await stores.base.repository_exists("team/app")
    digest = await store_blob(stores, "team/app", ODD_BYTES)
    assert await stores.base.repository_exists("team/app")
    assert await stores.base.linked_blob_size("team/app", digest) == len(ODD_BYTES)
    assert await stores.base.linked_blob_size("team/other", digest) is None
    assert await stores.base.any_blob_link(digest) == len(ODD_BYTES)
    assert await stores.base.list_repositories(None, None) == ["team/app"]


async def test_a_link_without_content_stores_no_bytes(stores: Stores) -> None:
    digest = digest_of(b"in storage")
    await stores.base.link_blob("team/app", digest, 10)
    assert await stores.base.linked_blob_size("team/app", digest) == 10
    assert await stores.base.blob_content(digest) is None
    assert not await stores.base.blob_stored(digest)
    assert content_rows(stores) == []
    assert await stores.gov.stored_blobs_before(FUTURE) == []


async def test_storing_again_keeps_one_row_and_renews_its_time(stores: Stores) -> None:
    digest = await store_blob(stores, "team/one", b"config")
    between = await a_moment()
    assert await stores.gov.stored_blobs_before(between) == [(digest, 6)]
    assert await stores.gov.count_stored_blobs_since(between) == 0
    # Pushed again, to another repository: still one copy, stored anew.
    await store_blob(stores, "team/two", b"config")
    assert content_rows(stores) == [(digest, 6, b"config")]
    assert await stores.gov.stored_blobs_before(between) == []
    assert await stores.gov.count_stored_blobs_since(between) == 1
    assert await stores.gov.stored_blobs_before(FUTURE) == [(digest, 6)]
    assert await stores.base.linked_blob_size("team/one", digest) == 6
    assert await stores.base.linked_blob_size("team/two", digest) == 6
    # The same repository again renews it too.
    later = await a_moment()
    assert await stores.gov.stored_blobs_before(later) == [(digest, 6)]
    await store_blob(stores, "team/two", b"config")
    assert await stores.gov.stored_blobs_before(later) == []
    assert content_rows(stores) == [(digest, 6, b"config")]


async def test_blob_stored(stores: Stores) -> None:
    digest = await store_blob(stores, "team/app", b"small")
    assert await stores.base.blob_stored(digest)
    assert not await stores.base.blob_stored(digest_of(b"other"))
    # Only the bytes count: a link alone is not a stored blob.
    await stores.base.link_blob("team/app", digest_of(b"file"), 4)
    assert not await stores.base.blob_stored(digest_of(b"file"))


async def test_stored_blobs_before_lists_old_rows_in_digest_order(stores: Stores) -> None:
    blobs = [b"one", b"two", b"three", b"four"]
    old = {await store_blob(stores, "team/app", data): len(data) for data in blobs[:3]}
    cutoff = await a_moment()
    new = await store_blob(stores, "team/app", blobs[3])
    assert await stores.gov.stored_blobs_before(cutoff) == sorted(old.items())
    assert await stores.gov.stored_blobs_before(FUTURE) == sorted([*old.items(), (new, 4)])
    assert await stores.gov.stored_blobs_before(PAST) == []


async def test_concurrent_stores_all_land(stores: Stores) -> None:
    """On SQLite these are group-committed: many writes, one transaction."""
    blobs = [f"blob {i}".encode() * (i + 1) for i in range(30)]
    await asyncio.gather(
        *(
            stores.base.link_blob(
                f"team/r{i % 3}",
                digest_of(data),
                len(data),
                content=data,
                ended_upload=upload_id(i),
            )
            for i, data in enumerate(blobs)
        )
    )
    for i, data in enumerate(blobs):
        assert await stores.base.blob_content(digest_of(data)) == data
        assert await stores.base.linked_blob_size(f"team/r{i % 3}", digest_of(data)) == len(data)
        assert await stores.base.upload_ended(upload_id(i))
    assert len(content_rows(stores)) == len(blobs)


# -- ended uploads ------------------------------------------------------------------


async def test_link_records_the_ended_upload_only_when_given(stores: Stores) -> None:
    await stores.base.link_blob("team/app", digest_of(b"a"), 1, content=b"a")
    await stores.base.link_blob("team/app", digest_of(b"b"), 1)
    with stores.base.engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ended_uploads").scalar() == 0
    await stores.base.link_blob(
        "team/app", digest_of(b"c"), 1, content=b"c", ended_upload=upload_id(1)
    )
    await stores.base.link_blob("team/app", digest_of(b"d"), 1, ended_upload=upload_id(2))
    assert await stores.base.upload_ended(upload_id(1))
    assert await stores.base.upload_ended(upload_id(2))
    assert not await stores.base.upload_ended(upload_id(3))
    # Both parts of each link happened.
    assert await stores.base.blob_content(digest_of(b"c")) == b"c"
    assert await stores.base.blob_content(digest_of(b"d")) is None
    assert await stores.base.linked_blob_size("team/app", digest_of(b"d")) == 1
    # Linking again with the same upload (a retried request) is harmless.
    await stores.base.link_blob(
        "team/app", digest_of(b"c"), 1, content=b"c", ended_upload=upload_id(1)
    )
    assert await stores.base.upload_ended(upload_id(1))


async def test_end_upload_is_idempotent(stores: Stores) -> None:
    assert not await stores.base.upload_ended(upload_id(7))
    await stores.base.end_upload(upload_id(7))
    await stores.base.end_upload(upload_id(7))
    assert await stores.base.upload_ended(upload_id(7))
    assert not await stores.base.upload_ended(upload_id(8))
    assert not await stores.base.upload_ended("")
    with stores.base.engine.begin() as conn:
        ids = conn.exec_driver_sql("SELECT upload_id FROM ended_uploads").scalars().all()
    assert ids == [upload_id(7)]


async def test_record_ended_uploads_skips_known_ones(stores: Stores) -> None:
    await stores.base.end_upload(upload_id(1))
    await stores.gov.record_ended_uploads([upload_id(1), upload_id(2), upload_id(3)])
    await stores.gov.record_ended_uploads([upload_id(3), upload_id(2)])
    await stores.gov.record_ended_uploads([])
    for n in (1, 2, 3):
        assert await stores.base.upload_ended(upload_id(n))
    assert not await stores.base.upload_ended(upload_id(4))
    assert await stores.gov.forget_ended_uploads(FUTURE) == 3


async def test_record_ended_uploads_with_a_repeated_id(stores: Stores) -> None:
    await stores.gov.record_ended_uploads([upload_id(1), upload_id(2), upload_id(1)])
    assert await stores.base.upload_ended(upload_id(1))
    assert await stores.base.upload_ended(upload_id(2))
    assert await stores.gov.forget_ended_uploads(FUTURE) == 2


async def test_record_ended_uploads_while_the_upload_is_cancelled(stores: Stores) -> None:
    """A collector purging a stale upload while its client cancels it: the cancel's
    record commits after the collector looked for known ids, before it inserts. The
    collector's write is tried again and then sees the record."""
    engine = stores.base.engine
    cancel = engine.connect()
    tx = cancel.begin()
    cancel_pid = (
        cancel.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        if stores.base.dialect == "postgresql"
        else None
    )
    cancel.execute(
        text("INSERT INTO ended_uploads (upload_id, ended_at) VALUES (:u, :at)"),
        {"u": upload_id(1), "at": datetime.now(UTC)},
    )
    try:
        collector = asyncio.create_task(
            stores.gov.record_ended_uploads([upload_id(1), upload_id(2)])
        )
        if stores.base.dialect == "postgresql":
            # Wait until the collector's insert waits on the cancel's row.
            with engine.connect() as watch:
                for _ in range(200):
                    waiting = watch.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE :pid = ANY(pg_blocking_pids(pid))"
                        ),
                        {"pid": cancel_pid},
                    ).scalar()
                    watch.rollback()  # the next look sees a fresh snapshot of activity
                    if waiting:
                        break
                    await asyncio.sleep(0.01)
                assert waiting, "the collector never waited on the cancel"
        else:
            await asyncio.sleep(0.2)  # SQLite: it waits for the write lock
        tx.commit()
    finally:
        cancel.close()
    await collector
    assert await stores.base.upload_ended(upload_id(1))
    assert await stores.base.upload_ended(upload_id(2))


async def test_record_ended_uploads_in_batches(stores: Stores) -> None:
    ids = [upload_id(n) for n in range(1203)]
    await stores.base.end_upload(ids[700])  # known, in the second batch
    await stores.gov.record_ended_uploads(ids)
    for n in (0, 499, 500, 700, 999, 1000, 1202):
        assert await stores.base.upload_ended(ids[n]), n
    assert not await stores.base.upload_ended(upload_id(1203))
    # Again, whole: every id is known now.
    await stores.gov.record_ended_uploads(ids)
    assert await stores.gov.forget_ended_uploads(FUTURE) == len(ids)


async def test_forget_ended_uploads_drops_only_older_records(stores: Stores) -> None:
    await stores.gov.record_ended_uploads([upload_id(1), upload_id(2)])
    await stores.base.end_upload(upload_id(3))
    cutoff = await a_moment()
    await stores.base.end_upload(upload_id(4))
    await stores.base.link_blob(
        "team/app", digest_of(b"x"), 1, content=b"x", ended_upload=upload_id(5)
    )
    assert await stores.gov.forget_ended_uploads(PAST) == 0
    assert await stores.gov.forget_ended_uploads(cutoff) == 3
    assert await stores.gov.forget_ended_uploads(cutoff) == 0
    assert [await stores.base.upload_ended(upload_id(n)) for n in range(1, 6)] == [
        False,
        False,
        False,
        True,
        True,
    ]
    assert await stores.gov.forget_ended_uploads(FUTURE) == 2
    assert not await stores.base.upload_ended(upload_id(5))
    # Forgetting records leaves the blob the upload made.
    assert await stores.base.blob_content(digest_of(b"x")) == b"x"


# -- garbage collection -------------------------------------------------------------


async def assert_kept(s: Stores, digest: str, data: bytes, cutoff: datetime = FUTURE) -> None:
    assert not await s.gov.delete_stored_blob_if_unused(digest, cutoff)
    assert await s.base.blob_content(digest) == data
    assert await s.base.blob_stored(digest)


async def assert_deleted(s: Stores, digest: str, trash_since: datetime | None = None) -> None:
    assert await s.gov.delete_stored_blob_if_unused(digest, FUTURE, trash_since)
    assert await s.base.blob_content(digest) is None
    assert not await s.base.blob_stored(digest)
    assert digest not in [d for d, _ in await s.gov.stored_blobs_before(FUTURE)]
    # Gone: a second try finds nothing to delete.
    assert not await s.gov.delete_stored_blob_if_unused(digest, FUTURE, trash_since)


async def test_an_unused_old_blob_is_deleted(stores: Stores) -> None:
    digest = await store_blob(stores, "team/app", ODD_BYTES)
    kept = await store_blob(stores, "team/app", b"still linked")
    assert await stores.base.unlink_blob("team/app", digest)
    await assert_deleted(stores, digest)
    # The other blob is untouched.
    assert await stores.base.blob_content(kept) == b"still linked"
    assert await stores.gov.stored_blobs_before(FUTURE) == [(kept, 12)]
    # Pushed again after deletion, it is stored anew.
    await store_blob(stores, "team/app", ODD_BYTES)
    assert await stores.base.blob_content(digest) == ODD_BYTES


async def test_an_unknown_blob_is_not_deleted(stores: Stores) -> None:
    assert not await stores.gov.delete_stored_blob_if_unused(digest_of(b"never"), FUTURE)


async def test_a_linked_blob_is_kept(stores: Stores) -> None:
    digest = await store_blob(stores, "team/one", b"layer")
    await stores.base.link_blob("team/two", digest, 5)  # mounted elsewhere
    assert await stores.base.unlink_blob("team/one", digest)
    await assert_kept(stores, digest, b"layer")
    assert await stores.base.unlink_blob("team/two", digest)
    await assert_deleted(stores, digest)


async def test_a_recent_blob_is_kept(stores: Stores) -> None:
    digest = await store_blob(stores, "team/app", b"fresh")
    assert await stores.base.unlink_blob("team/app", digest)
    await assert_kept(stores, digest, b"fresh", cutoff=PAST)
    # Storing it again after the cut-off was taken renews it: it is recent again.
    cutoff = await a_moment()
    await store_blob(stores, "team/app", b"fresh")
    assert await stores.base.unlink_blob("team/app", digest)
    await assert_kept(stores, digest, b"fresh", cutoff=cutoff)
    await assert_deleted(stores, digest)


async def test_a_blob_a_manifest_references_is_kept(stores: Stores) -> None:
    digest = await store_blob(stores, "team/app", b"config")
    record = ManifestRecord(repository="team/app", digest=MANIFEST, media_type="m/t", size=10)
    await stores.base.put_manifest(record, ManifestReferences(frozenset({digest})), "v1")
    # The link goes (a collector's stale-link sweep, say): the manifest still needs it.
    assert await stores.base.unlink_blob("team/app", digest)
    await assert_kept(stores, digest, b"config")
    assert await stores.base.delete_manifest("team/app", MANIFEST)
    await assert_deleted(stores, digest)


async def test_a_blob_that_is_a_manifest_is_kept(stores: Stores) -> None:
    body = b'{"schemaVersion":2,"manifests":[]}'
    digest = await store_blob(stores, "team/app", body)
    record = ManifestRecord(repository="team/app", digest=digest, media_type="i/t", size=len(body))
    await stores.base.put_manifest(record, ManifestReferences(), None)
    assert await stores.base.unlink_blob("team/app", digest)
    await assert_kept(stores, digest, body)
    assert await stores.base.delete_manifest("team/app", digest)
    await assert_deleted(stores, digest)


async def test_a_blob_in_the_recycle_bin_is_kept(stores: Stores) -> None:
    digest = await store_blob(stores, "team/app", b"config")
    record = ManifestRecord(repository="team/app", digest=INDEX, media_type="m/t", size=10)
    await stores.base.put_manifest(record, ManifestReferences(frozenset({digest})), "v1")
    entry = await stores.gov.trash_manifest("team/app", INDEX, by="alice", reason="deleted")
    assert entry is not None
    assert await stores.base.unlink_blob("team/app", digest)
    await assert_kept(stores, digest, b"config")
    # Entries older than the bin's retention no longer count.
    assert not await stores.gov.delete_stored_blob_if_unused(digest, FUTURE, PAST)
    await assert_deleted(stores, digest, trash_since=FUTURE)


async def test_a_blob_a_package_asset_uses_is_kept(stores: Stores) -> None:
    packages = stores.packages
    now = datetime.now(UTC)
    await packages.create_package_repository(
        PackageRepositoryRecord(
            name="maven-releases",
            format="maven",
            namespace="team",
            private=False,
            write_policy="deny",
            version_policy="release",
            created_at=now,
        )
    )
    digest = await store_blob(stores, "team/app", b"<project/>")
    path = "com/example/lib/1.0/lib-1.0.pom"
    asset = AssetRecord(
        repository="maven-releases",
        path=path,
        package="com.example:lib",
        version="1.0",
        digest=digest,
        size=10,
        content_type="text/xml",
        created_at=now,
        attributes={},
    )
    assert await packages.put_asset(asset, overwrite=False)
    assert await stores.base.unlink_blob("team/app", digest)
    await assert_kept(stores, digest, b"<project/>")
    assert [a.path for a in await packages.delete_assets("maven-releases", [path])] == [path]
    await assert_deleted(stores, digest)


async def test_deleting_one_blob_leaves_the_others(stores: Stores) -> None:
    digests = [await store_blob(stores, "team/app", d) for d in (b"a", b"b", b"c")]
    for digest in digests:
        assert await stores.base.unlink_blob("team/app", digest)
    await assert_deleted(stores, digests[1])
    assert [d for d, _ in await stores.gov.stored_blobs_before(FUTURE)] == sorted(
        [digests[0], digests[2]]
    )
    assert await stores.base.blob_content(digests[0]) == b"a"
    assert await stores.base.blob_content(digests[2]) == b"c"
