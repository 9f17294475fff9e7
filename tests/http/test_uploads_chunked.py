from __future__ import annotations

import httpx
import pytest

from cargohold.config import Settings
from tests.http.helpers import another_process, error_codes, sha256

pytestmark = pytest.mark.anyio

DATA = bytes(range(256)) * 64  # 16 KiB


async def _start(client: httpx.AsyncClient, name: str = "team/app") -> str:
    r = await client.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code == 202
    return str(r.headers["Location"])


async def _patch(
    client: httpx.AsyncClient, location: str, data: bytes, start: int | None
) -> httpx.Response:
    headers = {"Content-Type": "application/octet-stream"}
    if start is not None:
        headers["Content-Range"] = f"{start}-{start + len(data) - 1}"
    return await client.patch(location, content=data, headers=headers)


async def test_chunked_upload_with_ranges(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    for offset in range(0, len(DATA), 4096):
        r = await _patch(client, location, DATA[offset : offset + 4096], offset)
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{offset + 4095}"
        location = r.headers["Location"]
    r = await client.get(location)
    assert r.status_code == 204
    assert r.headers["Range"] == f"0-{len(DATA) - 1}"
    assert r.headers["Docker-Upload-UUID"] in location
    digest = sha256(DATA)
    r = await client.put(location, params={"digest": digest})
    assert r.status_code == 201
    assert (await client.get(f"/v2/team/app/blobs/{digest}")).content == DATA


async def test_streamed_patch_without_content_range(client: httpx.AsyncClient) -> None:
    location = await _start(client)

    async def stream() -> object:
        for offset in range(0, len(DATA), 1000):
            yield DATA[offset : offset + 1000]

    r = await client.patch(location, content=stream())  # type: ignore[arg-type]
    assert r.status_code == 202
    assert r.headers["Range"] == f"0-{len(DATA) - 1}"
    r = await client.put(r.headers["Location"], params={"digest": sha256(DATA)})
    assert r.status_code == 201


async def test_final_chunk_in_put(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    r = await _patch(client, location, DATA[:1000], 0)
    r = await client.put(
        r.headers["Location"],
        params={"digest": sha256(DATA)},
        content=DATA[1000:],
        headers={"Content-Range": f"1000-{len(DATA) - 1}"},
    )
    assert r.status_code == 201
    assert (await client.get(f"/v2/team/app/blobs/{sha256(DATA)}")).content == DATA


@pytest.mark.parametrize("bad_start", [0, 500, 2000])
async def test_out_of_order_or_overlapping_chunk_is_416(
    client: httpx.AsyncClient, bad_start: int
) -> None:
    location = await _start(client)
    assert (await _patch(client, location, DATA[:1000], 0)).status_code == 202
    r = await _patch(client, location, DATA[bad_start : bad_start + 100], bad_start)
    assert r.status_code == 416
    assert error_codes(r) == ["BLOB_UPLOAD_INVALID"]
    assert r.headers["Range"] == "0-999"
    # The failed chunk changed nothing: the upload continues where it was.
    status = await client.get(location)
    assert status.headers["Range"] == "0-999"
    assert (await _patch(client, location, DATA[1000:], 1000)).status_code == 202
    r = await client.put(location, params={"digest": sha256(DATA)})
    assert r.status_code == 201


async def test_content_range_disagreeing_with_body(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    r = await client.patch(location, content=DATA[:100], headers={"Content-Range": "0-199"})
    assert r.status_code == 400
    assert error_codes(r) == ["SIZE_INVALID"]
    assert (await client.get(location)).headers["Range"] == "0-0"


async def test_malformed_content_range(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    r = await client.patch(location, content=b"abc", headers={"Content-Range": "zero-two"})
    assert r.status_code == 400
    assert error_codes(r) == ["BLOB_UPLOAD_INVALID"]


async def test_cancel_upload(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    await _patch(client, location, DATA[:100], 0)
    assert (await client.delete(location)).status_code == 204
    r = await client.get(location)
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


async def test_upload_id_from_another_repository(client: httpx.AsyncClient) -> None:
    location = await _start(client, "team/one")
    upload_id = location.rsplit("/", 1)[1]
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        r = await client.request(
            method,
            f"/v2/team/two/blobs/uploads/{upload_id}",
            params={"digest": sha256(b"")} if method == "PUT" else None,
            content=b"" if method in ("PATCH", "PUT") else None,
        )
        assert r.status_code == 404, method
        assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    assert (await client.get(location)).status_code == 204


@pytest.mark.parametrize("upload_id", ["nope", "%2E%2E", "0" * 200])
async def test_unknown_upload_ids(client: httpx.AsyncClient, upload_id: str) -> None:
    r = await client.get(f"/v2/team/app/blobs/uploads/{upload_id}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


async def test_put_without_digest(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    r = await client.put(location)
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


async def test_wrong_digest_discards_upload(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    await _patch(client, location, DATA, 0)
    r = await client.put(location, params={"digest": sha256(b"other")})
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert (await client.get(location)).status_code == 404


async def test_upload_resumes_in_a_new_process(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    location = await _start(client)
    await _patch(client, location, DATA[:5000], 0)
    # A second registry over the same storage has no in-memory hash state.
    async with another_process(settings) as other:
        assert (await other.get(location)).headers["Range"] == "0-4999"
        assert (await _patch(other, location, DATA[5000:], 5000)).status_code == 202
        r = await other.put(location, params={"digest": sha256(DATA)})
        assert r.status_code == 201
        assert (await other.get(f"/v2/team/app/blobs/{sha256(DATA)}")).content == DATA


async def test_hostile_content_range_numbers(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    r = await client.patch(location, content=b"abc", headers={"Content-Range": "0-" + "9" * 5000})
    assert r.status_code == 400
    assert error_codes(r) == ["BLOB_UPLOAD_INVALID"]


async def test_wrong_range_on_an_empty_upload(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    r = await _patch(client, location, b"abc", 5)
    assert r.status_code == 416
    assert r.headers["Range"] == "0-0"
    r = await client.put(
        location,
        params={"digest": sha256(b"abc")},
        content=b"abc",
        headers={"Content-Range": "3-5"},
    )
    assert r.status_code == 416
    assert r.headers["Range"] == "0-0"


async def test_uploads_beyond_the_hash_cache_still_finish(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hash states are a bounded cache; an evicted one is rebuilt from storage."""
    import cargohold.core.uploads as uploads

    monkeypatch.setattr(uploads, "MAX_LIVE_UPLOADS", 2)
    locations = [await _start(client) for _ in range(5)]
    for location in locations:
        assert (await _patch(client, location, DATA[:5000], 0)).status_code == 202
    for location in locations:
        assert (await _patch(client, location, DATA[5000:], 5000)).status_code == 202
        r = await client.put(location, params={"digest": sha256(DATA)})
        assert r.status_code == 201
