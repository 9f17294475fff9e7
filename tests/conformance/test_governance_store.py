"""The governance store (recycle bin, lifecycle runs, leases, GC queries) on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cargohold.errors import ManifestBlobUnknown
from cargohold.metadata.governance import LifecycleRun
from cargohold.metadata.store import ManifestRecord, ManifestReferences
from tests.conformance.conftest import Stores

pytestmark = pytest.mark.anyio

CONFIG, LAYER, SHARED = ("sha256:" + c * 64 for c in "abc")
M1, M2, INDEX = ("sha256:" + c * 64 for c in "123")
FUTURE = datetime.now(UTC) + timedelta(days=1)
MANIFEST_BYTES = b'{"schemaVersion": 2}\x00\xff'  # the bin must keep any bytes


async def image(s: Stores, repo: str, digest: str, tag: str | None, *blobs: str) -> None:
    for b in blobs:
        await s.base.link_blob(repo, b, 10)
    record = ManifestRecord(repository=repo, digest=digest, media_type="m/t", size=100)
    await s.base.put_manifest(
        record, ManifestReferences(frozenset(blobs)), tag, content=MANIFEST_BYTES
    )


async def test_list_images_skips_children_and_referrers(stores: Stores) -> None:
    await image(stores, "team/app", M1, "v1", CONFIG, LAYER)
    await image(stores, "team/app", M2, None, CONFIG)
    index = ManifestRecord(repository="team/app", digest=INDEX, media_type="i/t", size=50)
    await stores.base.put_manifest(index, ManifestReferences(manifests=frozenset({M2})), "multi")
    sig = ManifestRecord(
        repository="team/app", digest="sha256:" + "9" * 64, media_type="m/t", size=5, subject=M1
    )
    await stores.base.put_manifest(sig, ManifestReferences(), None)
    images = await stores.gov.list_images("team/app")
    assert [(i.digest, i.tags) for i in images] == [(M1, ("v1",)), (INDEX, ("multi",))]
    assert await stores.gov.list_images("nobody/here") == []


async def test_trash_restore_and_purge(stores: Stores) -> None:
    await image(stores, "team/app", M1, "v1", CONFIG, LAYER)
    entry = await stores.gov.trash_manifest("team/app", M1, by="alice", reason="deleted")
    assert entry is not None
    assert (entry.kind, entry.digest, entry.tags, entry.deleted_by) == (
        "manifest",
        M1,
        ("v1",),
        "alice",
    )
    assert await stores.base.get_manifest("team/app", M1) is None
    assert await stores.gov.trash_manifest("team/app", M1, by="a", reason="r") is None
    assert {CONFIG, LAYER, M1} <= await stores.gov.trashed_digests()
    listed = await stores.gov.list_trash()
    assert [e.id for e in listed] == [entry.id]
    assert "content" not in (listed[0].manifest or {})  # listings leave the bytes out
    restored = await stores.gov.restore(entry.id)
    assert restored is not None and restored[1] == ["v1"]
    back = await stores.base.resolve_tag("team/app", "v1")
    assert back is not None and back.digest == M1
    assert await stores.gov.restore(entry.id) is None
    assert await stores.base.manifest_content("team/app", M1) == MANIFEST_BYTES

    tag_entry = await stores.gov.trash_tag("team/app", "v1", by="bob", reason="deleted")
    assert tag_entry is not None and tag_entry.kind == "tag"
    assert await stores.base.resolve_tag("team/app", "v1") is None
    assert [e.id for e in await stores.gov.list_trash("team/app")] == [tag_entry.id]
    purged = await stores.gov.purge_trash(FUTURE)
    assert [e.id for e in purged] == [tag_entry.id]
    assert await stores.gov.list_trash() == []


async def test_stale_links_and_blob_use(stores: Stores) -> None:
    await image(stores, "team/app", M1, "v1", CONFIG, SHARED)
    await stores.base.link_blob("team/app", LAYER, 10)  # uploaded, no manifest uses it
    await stores.base.link_blob("team/other", SHARED, 10)
    assert await stores.gov.stale_links(datetime.now(UTC) - timedelta(hours=1)) == []
    stale = await stores.gov.stale_links(FUTURE)
    assert stale == [("team/app", LAYER), ("team/other", SHARED)]
    assert await stores.gov.blob_in_use(SHARED)
    assert await stores.gov.blob_in_use(SHARED, frozenset()) is not False
    assert await stores.gov.unlink_if_unreferenced("team/other", SHARED, FUTURE)
    assert await stores.gov.blob_in_use(SHARED)  # team/app's manifest still uses it
    assert await stores.gov.unlink_if_unreferenced("team/app", LAYER, FUTURE)
    assert not await stores.gov.blob_in_use(LAYER)
    # A link newer than the cut-off, or one a manifest uses, stays.
    assert not await stores.gov.unlink_if_unreferenced("team/app", CONFIG, FUTURE)
    await stores.base.link_blob("team/app", LAYER, 10)
    past = datetime.now(UTC) - timedelta(hours=1)
    assert not await stores.gov.unlink_if_unreferenced("team/app", LAYER, past)
    # A recycle-bin entry keeps its blobs in use and its links.
    await stores.gov.trash_manifest("team/app", M1, by="a", reason="r")
    assert await stores.gov.blob_in_use(CONFIG)
    assert ("team/app", CONFIG) not in await stores.gov.stale_links(FUTURE)
    assert not await stores.gov.unlink_if_unreferenced("team/app", CONFIG, FUTURE)


async def test_a_manifest_rechecks_its_links_when_written(stores: Stores) -> None:
    await stores.base.link_blob("team/app", CONFIG, 10)
    await stores.gov.unlink_if_unreferenced("team/app", CONFIG, FUTURE)
    record = ManifestRecord(repository="team/app", digest=M1, media_type="m/t", size=1)
    with pytest.raises(ManifestBlobUnknown):
        await stores.base.put_manifest(record, ManifestReferences(frozenset({CONFIG})), "v1")
    assert await stores.base.get_manifest("team/app", M1) is None


async def test_lifecycle_runs_and_leases(stores: Stores) -> None:
    now = datetime.now(UTC)
    run = LifecycleRun("team/app", now, now, "manual", ({"digest": M1, "rulePriority": 1},), 7)
    first = await stores.gov.add_lifecycle_run(run)
    second = await stores.gov.add_lifecycle_run(run)
    runs = await stores.gov.lifecycle_runs("team/app")
    assert [r.id for r in runs] == [second, first]
    assert runs[0].expired == ({"digest": M1, "rulePriority": 1},)
    assert await stores.gov.take_lease("job", "a", now + timedelta(seconds=60), now)
    assert await stores.gov.take_lease("job", "a", now + timedelta(seconds=60), now)
    assert not await stores.gov.take_lease("job", "b", now + timedelta(seconds=60), now)
    later = now + timedelta(seconds=61)
    assert await stores.gov.take_lease("job", "b", later + timedelta(seconds=60), later)
