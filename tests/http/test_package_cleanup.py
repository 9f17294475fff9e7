"""Cleanup policies on hosted package repositories through the management API:
preview matches run, tagged npm versions stay, files go and GC may take the bytes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.http.helpers import admin_client
from tests.http.test_npm import publish_doc

pytestmark = pytest.mark.anyio

API = "/api/v1/package-repositories"


async def age(registry: object, repository: str, path: str, days: int) -> None:
    """Pretend a file was stored ``days`` ago."""
    store = registry.package_store  # type: ignore[attr-defined]
    asset = await store.get_asset(repository, path)
    assert asset is not None
    old = replace(asset, created_at=datetime.now(UTC) - timedelta(days=days))
    assert await store.put_asset(old, overwrite=True)


async def test_maven_keep_last_and_snapshot_age(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        r = await client.post(
            API, json={"name": "mixed", "format": "maven", "version_policy": "mixed"}
        )
        assert r.status_code == 201
        base = "/repository/mixed/com/example/lib"
        for version in ("1.0", "1.1", "1.2"):
            r = await client.put(f"{base}/{version}/lib-{version}.jar", content=version.encode())
            assert r.status_code == 201
        snaps = [
            f"{base}/2.0-SNAPSHOT/lib-2.0-20260101.000000-{n}.jar".removeprefix(
                "/repository/mixed/"
            )
            for n in (1, 2)
        ]
        for n, path in enumerate(snaps, 1):
            await client.put(f"/repository/mixed/{path}", content=b"s" * n)
        await age(registry, "mixed", snaps[0], 30)

        assert (await client.post(f"{API}/mixed/cleanup-policy/preview")).status_code == 400
        r = await client.put(
            f"{API}/mixed/cleanup-policy",
            json={"keep_last_versions": 2, "snapshot_max_age_days": 7},
        )
        assert r.status_code == 200 and r.json()["keep_last_versions"] == 2
        preview = (await client.post(f"{API}/mixed/cleanup-policy/preview")).json()
        assert preview["files"] == 2
        assert {(x["version"], tuple(x["paths"])) for x in preview["removals"]} == {
            ("1.0", ("com/example/lib/1.0/lib-1.0.jar",)),
            ("2.0-SNAPSHOT", (snaps[0],)),
        }
        ran = (await client.post(f"{API}/mixed/cleanup-policy/run")).json()
        assert ran["removals"] == preview["removals"]
        assert (await client.get(f"{base}/1.0/lib-1.0.jar")).status_code == 404
        assert (await client.get(f"{base}/1.1/lib-1.1.jar")).status_code == 200
        assert (await client.get(f"/repository/mixed/{snaps[1]}")).status_code == 200
        meta = await client.get(f"{base}/maven-metadata.xml")
        assert "<version>1.0</version>" not in meta.text and "<version>1.2</version>" in meta.text
        # Nothing left to do: a second run removes nothing.
        assert (await client.post(f"{API}/mixed/cleanup-policy/run")).json()["files"] == 0


async def test_npm_tagged_versions_survive(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        assert (await client.post(API, json={"name": "npm", "format": "npm"})).status_code == 201
        for version in ("1.0.0", "1.1.0", "2.0.0"):
            r = await client.put("/repository/npm/demo", json=publish_doc("demo", version))
            assert r.status_code == 201
            await age(registry, "npm", f"demo/-/demo-{version}.tgz", 60)
        await client.put("/repository/npm/-/package/demo/dist-tags/lts", json="1.0.0")
        r = await client.put(f"{API}/npm/cleanup-policy", json={"max_age_days": 30})
        assert r.status_code == 200
        ran = (await client.post(f"{API}/npm/cleanup-policy/run")).json()
        # latest (2.0.0) and lts (1.0.0) are tagged; only 1.1.0 goes.
        assert [x["version"] for x in ran["removals"]] == ["1.1.0"]
        doc = (await client.get("/repository/npm/demo")).json()
        assert set(doc["versions"]) == {"1.0.0", "2.0.0"}
        assert (await client.get(f"{API}/npm/cleanup-policy")).json()["max_age_days"] == 30
        assert (await client.delete(f"{API}/npm/cleanup-policy")).status_code == 204
        assert (await client.get(f"{API}/npm/cleanup-policy")).status_code == 404


async def test_policy_validation_and_rights(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await client.post(API, json={"name": "py", "format": "pypi", "visibility": "public"})
        r = await client.put(f"{API}/py/cleanup-policy", json={})
        assert r.status_code == 400
        r = await client.put(f"{API}/py/cleanup-policy", json={"keep_last_versions": 0})
        assert r.status_code == 400
        await registry.accounts.create_user(None, "reader", "reader-password")
        auth = ("reader", "reader-password")
        r = await client.put(f"{API}/py/cleanup-policy", json={"max_age_days": 1}, auth=auth)
        assert r.status_code == 403
        await client.put(f"{API}/py/cleanup-policy", json={"max_age_days": 1})
        r = await client.post(f"{API}/py/cleanup-policy/run", auth=auth)
        assert r.status_code == 403
