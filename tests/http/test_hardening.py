"""Regressions from the review of accounts and governance: each test is one finding."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

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

BOB = basic("bob", "bob-password")
CAROL = basic("carol", "carol-password")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    async with admin_client(tmp_path) as (client, registry):
        for name in ("bob", "carol"):
            r = await client.post(
                "/api/v1/users", json={"name": name, "password": f"{name}-password"}
            )
            assert r.status_code == 201
        yield client, registry


async def push_image(c: httpx.AsyncClient, name: str, tag: str, headers: dict[str, str]) -> str:
    config = json.dumps({"architecture": "amd64", "name": name, "tag": tag}).encode()
    layer = f"layer of {name}:{tag}".encode()
    for blob in (config, layer):
        r = await c.post(
            f"/v2/{name}/blobs/uploads/",
            params={"digest": sha256(blob)},
            content=blob,
            headers=headers,
        )
        assert r.status_code == 201, r.text
    r = await c.put(
        f"/v2/{name}/manifests/{tag}",
        content=image_manifest(config, [layer]),
        headers={"Content-Type": OCI_MANIFEST, **headers},
    )
    assert r.status_code == 201, r.text
    return str(r.headers["docker-content-digest"])


async def test_an_organisation_with_repositories_cannot_be_deleted(world: Any) -> None:
    c, _ = world
    assert (await c.post("/api/v1/orgs", json={"name": "acme"}, headers=BOB)).status_code == 201
    digest = await push_image(c, "acme/secret", "v1", BOB)
    r = await c.delete("/api/v1/orgs/acme", headers=BOB)
    assert r.status_code == 409
    assert "still has repositories" in r.json()["errors"][0]["message"]
    assert (await c.delete(f"/v2/acme/secret/manifests/{digest}", headers=BOB)).status_code == 202
    assert (await c.delete("/api/v1/repositories/acme/secret", headers=BOB)).status_code == 204
    # The recycle bin still holds the image: the name is not free yet.
    r = await c.delete("/api/v1/orgs/acme", headers=BOB)
    assert r.status_code == 409
    assert "recycle bin" in r.json()["errors"][0]["message"]


async def test_scoped_tokens_cannot_set_templates_or_revoke_tokens(world: Any) -> None:
    c, _ = world
    full = (await c.post("/api/v1/tokens", json={"name": "full"}, headers=BOB)).json()
    scoped = (
        await c.post(
            "/api/v1/tokens", json={"name": "narrow", "scopes": ["bob/app:pull"]}, headers=BOB
        )
    ).json()
    narrow = basic("bob", scoped["secret"])
    r = await c.put(
        "/api/v1/namespaces/bob/template", json={"tag_mutability": "IMMUTABLE"}, headers=narrow
    )
    assert r.status_code == 403
    assert (await c.delete(f"/api/v1/tokens/{full['id']}", headers=narrow)).status_code == 403
    assert (await c.get("/v2/", headers=basic("bob", full["secret"]))).status_code == 200


async def test_a_first_policy_keeps_a_private_default(world: Any) -> None:
    c, reg = world
    assert (
        await c.post(
            "/api/v1/orgs", json={"name": "acme", "default_visibility": "private"}, headers=BOB
        )
    ).status_code == 201
    await push_image(c, "acme/app", "v1", BOB)
    await reg.account_store.delete_repository_settings("acme/app")  # as before settings existed
    policy = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": 5,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    r = await c.put(
        "/api/v1/repositories/acme/app/lifecycle-policy", content=json.dumps(policy), headers=BOB
    )
    assert r.status_code == 200
    assert (await c.get("/api/v1/repositories/acme/app", headers=BOB)).json()[
        "visibility"
    ] == "private"
    assert (
        await c.get("/v2/acme/app/manifests/v1", headers={"Authorization": ""})
    ).status_code == 401


async def test_restore_into_a_deleted_repository_is_refused(world: Any) -> None:
    c, _ = world
    digest = await push_image(c, "bob/app", "v1", BOB)
    assert (await c.delete(f"/v2/bob/app/manifests/{digest}", headers=BOB)).status_code == 202
    assert (await c.delete("/api/v1/repositories/bob/app", headers=BOB)).status_code == 204
    entry = (await c.get("/api/v1/trash", headers=BOB)).json()[0]
    r = await c.post(f"/api/v1/trash/{entry['id']}/restore", headers=BOB)
    assert r.status_code == 400
    assert "cargohold repo create bob/app" in r.json()["errors"][0]["message"]
    assert "bob/app" not in (await c.get("/v2/_catalog", headers=BOB)).json()["repositories"]


async def test_huge_numbers_get_400_not_500(world: Any) -> None:
    c, _ = world
    r = await c.put("/api/v1/namespaces/bob/quota", json={"quota_bytes": 10**30})
    assert r.status_code == 400
    r = await c.post("/api/v1/login-password", json={"ttl_seconds": 10**18}, headers=BOB)
    assert r.status_code == 400


async def test_readers_do_not_see_the_recycle_bin(world: Any) -> None:
    c, _ = world
    digest = await push_image(c, "bob/public", "v1", BOB)
    assert (await c.delete(f"/v2/bob/public/manifests/{digest}", headers=BOB)).status_code == 202
    assert len((await c.get("/api/v1/trash", headers=BOB)).json()) == 1
    assert (await c.get("/api/v1/trash", headers=CAROL)).json() == []


async def test_a_mount_racing_gc_never_links_a_missing_blob(world: Any) -> None:
    c, reg = world
    layer = b"a layer whose only user was deleted"
    digest = await push_blob(c, "root/src", layer)

    # The source link is old and unused; hold the mount inside its quota check
    # while a GC round with no grace takes the link and the bytes.
    async def gc_first(repository: str, blob: str, size: int) -> None:
        report = await reg.gc.run(grace=timedelta(0))
        assert report.blobs_deleted == 1

    reg.blobs._admit = gc_first
    r = await c.post("/v2/root/dst/blobs/uploads/", params={"mount": digest, "from": "root/src"})
    assert r.status_code == 202  # not mounted: a plain upload session instead
    assert (await c.head(f"/v2/root/dst/blobs/{digest}")).status_code == 404
    assert error_codes(await c.get(f"/v2/root/dst/blobs/{digest}")) == ["BLOB_UNKNOWN"]


async def test_an_index_is_not_restored_without_its_children(world: Any) -> None:
    c, _ = world
    child = await push_image(c, "bob/multi", "amd64", BOB)
    size = len((await c.get(f"/v2/bob/multi/manifests/{child}", headers=BOB)).content)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": size}],
        }
    ).encode()
    r = await c.put(
        "/v2/bob/multi/manifests/multi",
        content=index,
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json", **BOB},
    )
    assert r.status_code == 201
    index_digest = r.headers["docker-content-digest"]
    for digest in (index_digest, child):
        assert (await c.delete(f"/v2/bob/multi/manifests/{digest}", headers=BOB)).status_code == 202
    entries = {e["digest"]: e["id"] for e in (await c.get("/api/v1/trash", headers=BOB)).json()}
    r = await c.post(f"/api/v1/trash/{entries[index_digest]}/restore", headers=BOB)
    assert r.status_code == 400
    assert "restore them first" in r.json()["errors"][0]["message"]
    for digest in (child, index_digest):
        r = await c.post(f"/api/v1/trash/{entries[digest]}/restore", headers=BOB)
        assert r.status_code == 200, r.text
    assert (await c.get("/v2/bob/multi/manifests/multi", headers=BOB)).status_code == 200
