"""Garbage collection on a real filesystem driver and SQLite, in-process."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.config import Settings
from cargohold.core.registry import Registry
from cargohold.http.app import create_app
from cargohold.services import build_registry
from tests.http.helpers import OCI_MANIFEST, error_codes, image_manifest, push_blob, sha256

pytestmark = pytest.mark.anyio

NOW = timedelta(0)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Registry, Path]]:
    settings = Settings(data_dir=tmp_path / "data", governance={"trash_retention_days": 1})
    reg = build_registry(settings)
    await reg.open()
    transport = httpx.ASGITransport(app=create_app(settings, reg))
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as c:
        yield c, reg, settings.storage_root
    await reg.close()


def blob_files(root: Path) -> set[str]:
    found = set()
    for path in (root / "v1" / "blobs").rglob("*"):
        if path.is_file() and ".tmp-" not in path.name:
            found.add(f"{path.parent.parent.name}:{path.name}")
    return found


async def push(c: httpx.AsyncClient, name: str, ref: str, layers: list[bytes]) -> dict[str, Any]:
    config = json.dumps({"architecture": "amd64", "ref": ref, "n": len(layers)}).encode()
    for blob in (config, *layers):
        await push_blob(c, name, blob)
    manifest = image_manifest(config, layers)
    r = await c.put(
        f"/v2/{name}/manifests/{ref}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    return {
        "digest": r.headers["docker-content-digest"],
        "blobs": {sha256(config), *(sha256(x) for x in layers)},
    }


async def pulls_completely(c: httpx.AsyncClient, name: str, ref: str) -> bool:
    r = await c.get(f"/v2/{name}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
    if r.status_code != 200:
        return False
    doc = r.json()
    for d in [doc["config"]["digest"], *(x["digest"] for x in doc["layers"])]:
        blob = await c.get(f"/v2/{name}/blobs/{d}")
        if blob.status_code != 200 or sha256(blob.content) != d:
            return False
    return True


async def test_unreferenced_blobs_go_and_referenced_stay(world: Any) -> None:
    c, reg, root = world
    kept = await push(c, "team/a", "v1", [b"shared layer", b"a only"])
    gone = await push(c, "team/b", "v1", [b"shared layer", b"b only"])
    assert (await c.delete(f"/v2/team/b/manifests/{gone['digest']}")).status_code == 202

    # While the deleted manifest is in the recycle bin its blobs stay.
    report = await reg.gc.run(grace=NOW)
    assert report.blobs_deleted == 0
    assert await pulls_completely(c, "team/a", "v1")

    dry = await reg.gc.run(dry_run=True, grace=NOW)
    assert dry.blobs_deleted == 0  # still in the bin
    await reg.governance.purge_trash(before=datetime.now(UTC) + timedelta(seconds=1))
    dry = await reg.gc.run(dry_run=True, grace=NOW)
    before = blob_files(root)
    report = await reg.gc.run(grace=NOW)
    assert blob_files(root) == before - set(report.deleted)
    # b's config and the layer only b used are gone; the shared layer stays for
    # team/a. b's manifest bytes lived in its row, so they left with the bin entry
    # and were never a file to collect.
    expected = gone["blobs"] - kept["blobs"]
    assert set(report.deleted) == expected
    assert gone["digest"] not in before
    assert dry.blobs_deleted == report.blobs_deleted == len(expected)
    assert report.bytes_freed > 0
    assert report.links_removed == 3  # team/b's links to its config and two layers
    assert await pulls_completely(c, "team/a", "v1")
    assert (await reg.gc.run(grace=NOW)).blobs_deleted == 0


async def test_an_in_flight_push_keeps_its_blobs(world: Any) -> None:
    c, reg, _ = world
    config = json.dumps({"architecture": "amd64", "in": "flight"}).encode()
    layer = b"uploaded before its manifest"
    for blob in (config, layer):
        await push_blob(c, "team/app", blob)
    # Blobs linked, manifest not sent yet: a round with the default grace keeps them.
    report = await reg.gc.run()
    assert report.links_removed == 0
    assert report.blobs_deleted == 0
    r = await c.put(
        "/v2/team/app/manifests/v1",
        content=image_manifest(config, [layer]),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201
    assert await pulls_completely(c, "team/app", "v1")


async def test_a_push_slower_than_the_grace_is_refused_cleanly(world: Any) -> None:
    c, reg, root = world
    config = json.dumps({"architecture": "amd64", "slow": True}).encode()
    layer = b"uploaded long before its manifest"
    for blob in (config, layer):
        await push_blob(c, "team/app", blob)
    report = await reg.gc.run(grace=NOW)
    assert report.links_removed == 2
    assert report.blobs_deleted == 2
    r = await c.put(
        "/v2/team/app/manifests/v1",
        content=image_manifest(config, [layer]),
        headers={"Content-Type": OCI_MANIFEST},
    )
    # Refused with the missing digests, never accepted with blobs that are gone.
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]
    assert blob_files(root) == set()


async def test_restore_after_gc_and_collection_after_purge(world: Any) -> None:
    c, reg, _ = world
    image = await push(c, "team/app", "v1", [b"precious"])
    assert (await c.delete(f"/v2/team/app/manifests/{image['digest']}")).status_code == 202
    await reg.gc.run(grace=NOW)
    entry = (await reg.governance.list_trash("team/app"))[0]
    restored = await reg.governance.restore(entry.id)
    assert restored is not None and restored[1] == ["v1"]
    assert await pulls_completely(c, "team/app", "v1")


async def test_abandoned_uploads_are_purged(world: Any) -> None:
    c, reg, root = world
    old = await c.post("/v2/team/app/blobs/uploads/")
    fresh = await c.post("/v2/team/app/blobs/uploads/")
    for r in (old, fresh):
        assert r.status_code == 202
        # An upload gets its file with its first bytes.
        assert (await c.patch(r.headers["location"], content=b"part")).status_code == 202
    old_id = old.headers["docker-upload-uuid"]
    uploads = root / "v1" / "uploads"
    # An info file an older release left beside its upload goes with it.
    (uploads / f"{old_id}.json").write_text("{}")
    past = time.time() - 2 * 24 * 3600
    for suffix in (".data", ".json"):
        os.utime(uploads / f"{old_id}{suffix}", (past, past))
    report = await reg.gc.run()
    assert report.uploads_purged == 1
    assert sorted(p.name for p in uploads.iterdir()) == [
        f"{fresh.headers['docker-upload-uuid']}.data"
    ]
    assert (await c.get(old.headers["location"])).status_code == 404
    assert (await c.get(fresh.headers["location"])).status_code == 204
