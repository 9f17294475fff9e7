from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import os
from typing import Any

import httpx
import pytest

from cargohold.config import Settings
from cargohold.core.blobs import BlobLocation
from cargohold.core.registry import Registry
from cargohold.http.app import create_app
from cargohold.http.oci.blobs import SEND_FILE_MAX, STREAM_SLOTS
from cargohold.types import Digest
from tests.http.helpers import error_codes, push_blob, sha256

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["inline", "files"])
def settings(request: pytest.FixtureRequest, tmp_path: Any) -> Settings:
    """Every test here runs twice: small blobs kept in the metadata database (the
    default), and every blob a file in storage."""
    if request.param == "inline":
        return Settings(data_dir=tmp_path / "data")
    return Settings(data_dir=tmp_path / "data", limits={"inline_blob_max_bytes": 0})


async def test_post_then_put_monolithic(client: httpx.AsyncClient) -> None:
    data = b"hello blob" * 1000
    r = await client.post("/v2/team/app/blobs/uploads/")
    assert r.status_code == 202
    assert r.headers["Range"] == "0-0"
    assert r.headers["Docker-Upload-UUID"]
    location = r.headers["Location"]
    digest = sha256(data)
    r = await client.put(location, params={"digest": digest}, content=data)
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/team/app/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest

    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["ETag"] == f'"{digest}"'
    assert r.headers["Content-Length"] == str(len(data))


async def test_single_post_with_digest(client: httpx.AsyncClient) -> None:
    data = b"x" * 5000
    digest = await push_blob(client, "team/app", data)
    r = await client.head(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == "5000"
    assert r.content == b""


async def test_empty_blob(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "team/app", b"")
    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == b""


async def test_sha512_digest_is_verified(client: httpx.AsyncClient) -> None:
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    r = await client.post("/v2/team/app/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201
    assert (await client.get(f"/v2/team/app/blobs/{digest}")).content == data
    wrong = "sha512:" + hashlib.sha512(b"other").hexdigest()
    r = await client.post("/v2/team/app/blobs/uploads/", params={"digest": wrong}, content=data)
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


async def test_digest_mismatch_publishes_nothing(client: httpx.AsyncClient) -> None:
    wrong = sha256(b"something else")
    r = await client.post("/v2/team/app/blobs/uploads/", params={"digest": wrong}, content=b"abc")
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert (await client.head(f"/v2/team/app/blobs/{wrong}")).status_code == 404
    assert (await client.head(f"/v2/team/app/blobs/{sha256(b'abc')}")).status_code == 404


@pytest.mark.parametrize(
    ("digest", "code"),
    [
        ("sha256:abc", "DIGEST_INVALID"),
        ("sha256:" + "G" * 64, "DIGEST_INVALID"),
        ("nonsense", "DIGEST_INVALID"),
        ("md5:" + "a" * 32, "UNSUPPORTED"),
    ],
)
async def test_malformed_digests(client: httpx.AsyncClient, digest: str, code: str) -> None:
    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert error_codes(r) == [code]
    assert r.status_code in (400, 405)


async def test_unknown_blob(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/v2/team/app/blobs/{sha256(b'nothing')}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]
    assert (await client.head(f"/v2/team/app/blobs/{sha256(b'nothing')}")).status_code == 404


async def test_blob_not_visible_in_other_repository(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "team/app", b"private bytes")
    r = await client.get(f"/v2/other/app/blobs/{digest}")
    assert r.status_code == 404


async def test_range_requests(client: httpx.AsyncClient) -> None:
    data = bytes(range(256)) * 100
    digest = await push_blob(client, "team/app", data)
    r = await client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == data[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    r = await client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": "bytes=25000-"})
    assert r.status_code == 206
    assert r.content == data[25000:]
    r = await client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": "bytes=99999-"})
    assert r.status_code == 416
    assert error_codes(r) == ["BLOB_UPLOAD_INVALID"]


async def test_delete_blob(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "team/app", b"to delete")
    r = await client.delete(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 202
    assert (await client.head(f"/v2/team/app/blobs/{digest}")).status_code == 404
    r = await client.delete(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]


async def test_same_blob_in_two_repositories_is_stored_once(
    client: httpx.AsyncClient, settings: object, registry: Registry
) -> None:
    data = b"shared layer" * 100
    digest = await push_blob(client, "team/one", data)
    await push_blob(client, "team/two", data)
    root = settings.storage_root  # type: ignore[attr-defined]
    files = [p for p in (root / "v1" / "blobs").rglob("*") if p.is_file()]
    if settings.limits.inline_blob_max_bytes:  # type: ignore[attr-defined]
        assert files == []
        with registry.store.engine.begin() as conn:  # type: ignore[attr-defined]
            rows = conn.exec_driver_sql("SELECT digest, content FROM blob_contents").all()
        assert [(d, bytes(c)) for d, c in rows] == [(digest, data)]
    else:
        assert len(files) == 1
        assert files[0].read_bytes() == data
    # Opening and finishing the uploads left nothing behind.
    assert list((root / "v1" / "uploads").glob("*")) == []


@pytest.mark.parametrize("header", ["bytes=30-10", "bytes=0-1,5-6", "items=0-1", "bytes=x-y"])
async def test_unusable_ranges_serve_the_whole_blob(client: httpx.AsyncClient, header: str) -> None:
    data = bytes(range(100))
    digest = await push_blob(client, "team/app", data)
    r = await client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": header})
    assert r.status_code == 200
    assert r.content == data


async def test_unsatisfiable_range_says_the_size(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "team/app", b"0123456789")
    r = await client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": "bytes=10-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */10"
    assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"


async def test_large_blobs_stream_whole_and_by_range(client: httpx.AsyncClient) -> None:
    # Past SEND_FILE_MAX a blob is streamed from storage rather than sent as a file.
    data = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)
    assert len(data) > SEND_FILE_MAX * 2
    digest = await push_blob(client, "team/app", data)
    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["ETag"] == f'"{digest}"'
    assert sha256(r.content) == digest
    start = SEND_FILE_MAX - 5
    r = await client.get(
        f"/v2/team/app/blobs/{digest}", headers={"Range": f"bytes={start}-{start + 99}"}
    )
    assert r.status_code == 206
    assert r.content == data[start : start + 100]


async def test_a_large_blob_removed_after_lookup_is_a_clean_404(
    client: httpx.AsyncClient, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Garbage collection may remove a blob between its lookup and the first read:
    the client gets BLOB_UNKNOWN, not a 200 whose body breaks off."""
    data = b"\x01" * (SEND_FILE_MAX + 1)
    digest = await push_blob(client, "team/app", data)
    locate = registry.blobs.locate

    async def locate_then_lose(repository: str, wanted: Digest) -> BlobLocation:
        found = await locate(repository, wanted)
        assert found.local_path is not None
        os.unlink(found.local_path)
        return found

    monkeypatch.setattr(registry.blobs, "locate", locate_then_lose)
    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]


async def test_streamed_pulls_give_back_their_slot_and_overflow_is_sent_as_files(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(SEND_FILE_MAX + 4096)
    digest = await push_blob(client, "team/app", data)
    assert STREAM_SLOTS.taken == 0
    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert r.content == data
    assert STREAM_SLOTS.taken == 0  # given back when the response ended
    # Every slot busy (slow clients elsewhere): the blob still arrives whole.
    monkeypatch.setattr(STREAM_SLOTS, "taken", STREAM_SLOTS.limit)
    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == data
    assert STREAM_SLOTS.taken == STREAM_SLOTS.limit


def _open_blob_files() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += "/v1/blobs/" in os.readlink(f"/proc/self/fd/{fd}")
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
async def test_a_client_that_stops_reading_and_leaves_releases_the_blob(
    client: httpx.AsyncClient, settings: Settings, registry: Registry, spec_version: str
) -> None:
    """A streamed body is abandoned when the client goes away (ASGI < 2.4: Starlette
    sees http.disconnect and cancels it; 2.4: ``send`` raises). The file must close
    then, not whenever the cycle collector runs."""
    data = os.urandom(3 * SEND_FILE_MAX)
    digest = await push_blob(client, "team/app", data)
    app = create_app(settings, registry)
    stalled = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            stalled.set()
            if spec_version == "2.4":
                await asyncio.sleep(0.05)
                raise OSError("client disconnected")
            await asyncio.Event().wait()  # the client stopped reading

    async def receive() -> dict[str, Any]:
        await stalled.wait()
        await asyncio.sleep(0.05)
        return {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/v2/team/app/blobs/{digest}",
        "raw_path": f"/v2/team/app/blobs/{digest}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"registry")],
        "server": ("registry", 80),
        "client": ("127.0.0.1", 1234),
    }
    gc.disable()  # the cycle collector must not be what closes the file
    try:
        await asyncio.wait_for(app(scope, receive, send), 10)
        assert stalled.is_set()
        assert _open_blob_files() == 0
        assert STREAM_SLOTS.taken == 0
    finally:
        gc.enable()
