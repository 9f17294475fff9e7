from __future__ import annotations

import httpx
import pytest

from tests.http.helpers import push_blob, sha256

pytestmark = pytest.mark.anyio


async def test_mount_from_repository(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "team/source", b"mount me")
    r = await client.post(
        "/v2/team/target/blobs/uploads/", params={"mount": digest, "from": "team/source"}
    )
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/team/target/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    assert (await client.get(f"/v2/team/target/blobs/{digest}")).content == b"mount me"


async def test_mount_without_from(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "team/source", b"mount anywhere")
    r = await client.post("/v2/team/target/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 201
    assert (await client.head(f"/v2/team/target/blobs/{digest}")).status_code == 200


async def test_mount_of_missing_blob_falls_back_to_upload(client: httpx.AsyncClient) -> None:
    digest = sha256(b"never pushed")
    r = await client.post(
        "/v2/team/target/blobs/uploads/", params={"mount": digest, "from": "team/source"}
    )
    assert r.status_code == 202
    assert "/blobs/uploads/" in r.headers["Location"]


async def test_mount_from_repository_without_blob_falls_back(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "team/elsewhere", b"only here")
    r = await client.post(
        "/v2/team/target/blobs/uploads/", params={"mount": digest, "from": "team/source"}
    )
    assert r.status_code == 202
    assert (await client.head(f"/v2/team/target/blobs/{digest}")).status_code == 404
