"""Storage quotas per namespace: refused pushes, deduplication, usage after deletes
and garbage collection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.core.registry import Registry
from tests.http.helpers import (
    OCI_MANIFEST,
    admin_client,
    basic,
    error_codes,
    image_manifest,
    push_blob,
    sha256,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Registry]]:
    async with admin_client(tmp_path, governance={"trash_retention_days": 0}) as (c, reg):
        r = await c.post("/api/v1/orgs", json={"name": "team"})
        assert r.status_code == 201
        yield c, reg


async def usage(c: httpx.AsyncClient) -> dict[str, Any]:
    r = await c.get("/api/v1/namespaces/team/usage")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_push_past_the_quota_is_refused_and_leaves_nothing(world: Any) -> None:
    c, _ = world
    big = b"x" * 6000
    r = await c.put("/api/v1/namespaces/team/quota", json={"quota_bytes": 10_000})
    assert r.json() == {"namespace": "team", "usage_bytes": 0, "quota_bytes": 10_000}
    first = await push_blob(c, "team/a", big)
    assert (await usage(c))["usage_bytes"] == 6000
    # The same blob in another repository of the namespace costs nothing more.
    await push_blob(c, "team/b", big)
    r = await c.post("/v2/team/b/blobs/uploads/", params={"mount": first, "from": "team/a"})
    assert r.status_code == 201
    assert (await usage(c))["usage_bytes"] == 6000
    other = b"y" * 5000
    r = await c.post("/v2/team/a/blobs/uploads/", params={"digest": sha256(other)}, content=other)
    assert r.status_code == 403
    assert error_codes(r) == ["DENIED"]
    message = r.json()["errors"][0]["message"]
    assert "quota" in message and "6000 bytes used + 5000 > 10000" in message
    assert (await c.head(f"/v2/team/a/blobs/{sha256(other)}")).status_code == 404
    # Chunked uploads are refused at the end the same way, and discarded.
    r = await c.post("/v2/team/a/blobs/uploads/")
    location = r.headers["location"]
    r = await c.put(location, params={"digest": sha256(other)}, content=other)
    assert r.status_code == 403
    assert (await c.get(location)).status_code == 404
    # Other namespaces are not limited by it.
    assert (
        await c.post("/v2/root/a/blobs/uploads/", params={"digest": sha256(other)}, content=other)
    ).status_code == 201


async def test_usage_follows_deletes_and_gc(world: Any) -> None:
    c, reg = world
    config = json.dumps({"architecture": "amd64"}).encode()
    layer = b"z" * 3000
    for blob in (config, layer):
        await push_blob(c, "team/app", blob)
    manifest = image_manifest(config, [layer])
    r = await c.put(
        "/v2/team/app/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201
    total = len(config) + len(layer) + len(manifest)
    assert (await usage(c))["usage_bytes"] == total
    digest = r.headers["docker-content-digest"]
    assert (await c.delete(f"/v2/team/app/manifests/{digest}")).status_code == 202
    # The manifest is gone; its blobs are still stored until collected.
    assert (await usage(c))["usage_bytes"] == len(config) + len(layer)
    await reg.governance.purge_trash(datetime.now(UTC) + timedelta(seconds=1))
    report = await reg.gc.run(grace=timedelta(0))
    assert report.blobs_deleted == 2  # config and layer; the manifest's bytes left with it
    assert (await usage(c))["usage_bytes"] == 0


async def test_only_administrators_set_quotas(world: Any) -> None:
    c, _ = world
    r = await c.post("/api/v1/users", json={"name": "bob", "password": "bob-password"})
    assert r.status_code == 201
    bob = basic("bob", "bob-password")
    r = await c.put("/api/v1/namespaces/bob/quota", json={"quota_bytes": 1}, headers=bob)
    assert r.status_code == 403
    assert (await c.get("/api/v1/namespaces/bob/usage", headers=bob)).status_code == 200
    assert (await c.get("/api/v1/namespaces/team/usage", headers=bob)).status_code == 403
    r = await c.put("/api/v1/namespaces/team/quota", json={"quota_bytes": -1})
    assert r.status_code == 400
    r = await c.put("/api/v1/namespaces/team/quota", json={"quota_bytes": None})
    assert r.json()["quota_bytes"] is None


async def test_manifests_count_against_the_quota(world: Any) -> None:
    c, _ = world
    config = json.dumps({"architecture": "amd64"}).encode()
    layer = b"q" * 100
    for blob in (config, layer):
        await push_blob(c, "team/app", blob)
    used = (await usage(c))["usage_bytes"]
    manifest = image_manifest(config, [layer])
    r = await c.put("/api/v1/namespaces/team/quota", json={"quota_bytes": used + 10})
    assert r.status_code == 200
    r = await c.put(
        "/v2/team/app/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 403
    assert "quota" in r.json()["errors"][0]["message"]
    assert (await c.get("/v2/team/app/manifests/v1")).status_code == 404
