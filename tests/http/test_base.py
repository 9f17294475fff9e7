from __future__ import annotations

import httpx
import pytest

from tests.http.helpers import error_codes

pytestmark = pytest.mark.anyio


async def test_version_check_announces_api(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.json() == {}


async def test_unknown_endpoint_gets_oci_error(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/team/app/nonsense/thing")
    assert r.status_code == 404
    assert error_codes(r) == ["UNSUPPORTED"]
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_wrong_method_gets_405_envelope(client: httpx.AsyncClient) -> None:
    r = await client.post("/v2/team/app/tags/list")
    assert r.status_code == 405
    assert error_codes(r) == ["UNSUPPORTED"]


@pytest.mark.parametrize(
    "name",
    ["Team/app", "team/%2E%2E/app", "team//app", "-team/app", "team/app-", "a" * 256, "team/APP"],
)
async def test_invalid_names_rejected(client: httpx.AsyncClient, name: str) -> None:
    r = await client.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code in (400, 404)
    if r.status_code == 400:
        assert error_codes(r) == ["NAME_INVALID"]


async def test_encoded_traversal_in_name_rejected(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/team%2F..%2F..%2Fetc/tags/list")
    assert r.status_code == 400
    assert error_codes(r) == ["NAME_INVALID"]


@pytest.mark.parametrize(
    "name", ["project/repo/image", "username/app", "a/b/c/d/e", "my_org/my.app", "x__y/z--w"]
)
async def test_deep_and_punctuated_names_work(client: httpx.AsyncClient, name: str) -> None:
    r = await client.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code == 202
    assert r.headers["Location"].startswith(f"/v2/{name}/blobs/uploads/")
