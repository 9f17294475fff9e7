"""Many clients at once against one registry: nothing fails, nothing is lost."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.http.helpers import OCI_MANIFEST, image_manifest, push_blob, sha256

pytestmark = pytest.mark.anyio


async def test_same_blob_pushed_concurrently(client: httpx.AsyncClient) -> None:
    data = b"contended layer" * 1000
    digests = await asyncio.gather(*(push_blob(client, "team/app", data) for _ in range(20)))
    assert set(digests) == {sha256(data)}
    assert (await client.get(f"/v2/team/app/blobs/{sha256(data)}")).content == data


async def test_same_image_into_many_repositories(client: httpx.AsyncClient) -> None:
    config, layer = b'{"shared": true}', b"shared layer bytes"

    async def push(repo: str) -> str:
        for blob in (config, layer):
            await push_blob(client, repo, blob)
        r = await client.put(
            f"/v2/{repo}/manifests/latest",
            content=image_manifest(config, [layer]),
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert r.status_code == 201, r.text
        return str(r.headers["Docker-Content-Digest"])

    repos = [f"team/app{i}" for i in range(12)] + ["team/same"] * 8
    digests = await asyncio.gather(*(push(repo) for repo in repos))
    assert len(set(digests)) == 1
    r = await client.get("/v2/_catalog")
    assert r.json()["repositories"] == sorted(set(repos))


async def test_interleaved_pushes_and_pulls(client: httpx.AsyncClient) -> None:
    async def push_and_pull(i: int) -> None:
        config = json.dumps({"i": i}).encode()
        layer = f"layer {i}".encode() * 100
        for blob in (config, layer):
            await push_blob(client, "team/busy", blob)
        manifest = image_manifest(config, [layer])
        r = await client.put(
            f"/v2/team/busy/manifests/v{i}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert r.status_code == 201, r.text
        r = await client.get(f"/v2/team/busy/manifests/v{i}")
        assert r.content == manifest
        r = await client.get(f"/v2/team/busy/blobs/{sha256(layer)}")
        assert r.content == layer

    await asyncio.gather(*(push_and_pull(i) for i in range(30)))
    r = await client.get("/v2/team/busy/tags/list")
    assert len(r.json()["tags"]) == 30
