"""Small blobs kept in the metadata database, and uploads that store nothing until
their first bytes arrive.

A blob up to ``limits.inline_blob_max_bytes`` pushed whole in one request is a row
of ``blob_contents``, never a file; POST only issues a keyed id, and an upload gets
its file with its first bytes. These tests check both through the real app, and look
at the storage root and the database to see where the bytes went.
"""

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
from cargohold.core import gc as gc_module
from cargohold.core.registry import Registry
from cargohold.core.uploads import UploadIds
from tests.http.helpers import (
    OCI_MANIFEST,
    admin_client,
    another_process,
    error_codes,
    image_manifest,
    push_blob,
    push_image,
    sha256,
)

pytestmark = pytest.mark.anyio

INLINE_MAX = 64 * 1024  # the default limits.inline_blob_max_bytes
NOW = timedelta(0)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The default settings, or these sections with ``parametrize(..., indirect=True)``."""
    sections: dict[str, Any] = getattr(request, "param", {})
    return Settings(data_dir=tmp_path / "data", **sections)


def blob_files(settings: Settings) -> dict[str, bytes]:
    """Blob files in storage, by digest."""
    found = {}
    for path in (settings.storage_root / "v1" / "blobs").rglob("*"):
        if path.is_file():
            found[f"{path.parent.parent.name}:{path.name}"] = path.read_bytes()
    return found


def upload_files(settings: Settings) -> list[str]:
    uploads = settings.storage_root / "v1" / "uploads"
    return sorted(p.name for p in uploads.rglob("*") if p.is_file())


def content_rows(registry: Registry) -> dict[str, bytes]:
    """The blobs kept in the database, by digest."""
    with registry.store.engine.begin() as conn:  # type: ignore[attr-defined]
        rows = conn.exec_driver_sql("SELECT digest, content FROM blob_contents").all()
    return {str(d): bytes(c) for d, c in rows}


async def open_upload(client: httpx.AsyncClient, name: str = "team/app") -> str:
    r = await client.post(f"/v2/{name}/blobs/uploads/")
    assert r.status_code == 202, r.text
    return str(r.headers["Location"])


async def assert_upload_unknown(client: httpx.AsyncClient, location: str) -> None:
    """GET, PATCH and PUT all answer 404 BLOB_UPLOAD_UNKNOWN."""
    r = await client.get(location)
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    r = await client.patch(location, content=b"more")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    r = await client.put(location, params={"digest": sha256(b"late")}, content=b"late")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def with_id(location: str, upload_id: str) -> str:
    return location.rsplit("/", 1)[0] + "/" + upload_id


def upload_id_of(location: str) -> str:
    return location.rsplit("/", 1)[1]


# -- opening an upload stores nothing; a whole small blob is a database row ----------


async def test_a_small_blob_pushed_whole_lands_in_the_database(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    data = b"a small config " * 20
    digest = sha256(data)
    r = await client.post("/v2/team/app/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["Location"]
    assert r.headers["Docker-Upload-UUID"] == upload_id_of(location)
    assert upload_files(settings) == []  # the POST wrote nothing

    r = await client.get(location)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-0"
    assert r.headers["Location"] == location
    assert upload_files(settings) == []  # neither did asking for its status

    r = await client.put(location, params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Location"].endswith(f"/v2/team/app/blobs/{digest}")
    assert blob_files(settings) == {}
    assert upload_files(settings) == []
    assert await registry.store.blob_content(digest) == data
    assert content_rows(registry) == {digest: data}

    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Length"] == str(len(data))
    r = await client.head(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.content == b""

    # Finished: its id no longer opens anything, and naming it again creates no file.
    await assert_upload_unknown(client, location)
    r = await client.delete(location)
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    assert upload_files(settings) == []
    assert content_rows(registry) == {digest: data}


async def test_a_fresh_upload_can_be_cancelled(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    location = await open_upload(client)
    r = await client.delete(location)
    assert r.status_code == 204
    r = await client.get(location)
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    r = await client.patch(location, content=b"after the cancel")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    data = b"after the cancel"
    r = await client.put(location, params={"digest": sha256(data)}, content=data)
    assert r.status_code == 404
    assert (await client.head(f"/v2/team/app/blobs/{sha256(data)}")).status_code == 404
    r = await client.delete(location)
    assert r.status_code == 404
    assert upload_files(settings) == []


# -- reading a database-kept blob: ranges ----------------------------------------------


async def test_if_range_that_does_not_match_serves_the_whole_blob(
    client: httpx.AsyncClient,
) -> None:
    """RFC 9110: a range is only for the copy the client names (the file path does
    the same, through Starlette)."""
    data = bytes(range(40))
    digest = await push_blob(client, "team/app", data)
    url = f"/v2/team/app/blobs/{digest}"
    other = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"not-this"'})
    assert other.status_code == 200
    assert other.content == data
    same = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": f'"{digest}"'})
    assert same.status_code == 206
    assert same.content == data[:10]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=2-5", 2, 5),
        ("bytes=-3", 37, 39),
        ("bytes=5-", 5, 39),
        ("bytes=0-0", 0, 0),
        ("bytes=39-39", 39, 39),
        ("bytes=30-1000", 30, 39),  # an end past the blob: up to its last byte
        ("bytes=-1000", 0, 39),  # a suffix longer than the blob: all of it
    ],
)
async def test_ranges_of_a_database_kept_blob(
    client: httpx.AsyncClient, registry: Registry, header: str, start: int, end: int
) -> None:
    data = bytes(range(40))
    digest = await push_blob(client, "team/app", data)
    assert await registry.store.blob_content(digest) == data
    r = await client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": header})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/40"
    assert r.content == data[start : end + 1]
    assert r.headers["Content-Length"] == str(end + 1 - start)
    assert r.headers["Docker-Content-Digest"] == digest


@pytest.mark.parametrize("header", ["bytes=40-", "bytes=40-50", "bytes=1000-2000"])
async def test_a_range_past_the_end_of_a_database_kept_blob_is_416(
    client: httpx.AsyncClient, header: str
) -> None:
    data = bytes(range(40))
    digest = await push_blob(client, "team/app", data)
    r = await client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */40"


@pytest.mark.parametrize(
    "header", ["bytes=5-2", "bytes=0-1,5-6", "items=0-1", "bytes=x-y", "bytes=-0", "bytes=-"]
)
async def test_an_unusable_range_serves_the_whole_database_kept_blob(
    client: httpx.AsyncClient, header: str
) -> None:
    data = bytes(range(40))
    digest = await push_blob(client, "team/app", data)
    r = await client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": header})
    assert r.status_code == 200
    assert r.content == data
    assert "Content-Range" not in r.headers


@pytest.mark.parametrize(
    "header",
    [
        "bytes=2-5",
        "bytes=-3",
        "bytes=5-",
        "bytes=30-1000",
        "bytes=-1000",
        "bytes=40-",
        "bytes=5-2",
        "bytes=0-1,5-6",
        "bytes=-0",
    ],
)
async def test_ranges_answer_alike_from_the_database_and_from_a_file(
    client: httpx.AsyncClient, registry: Registry, settings: Settings, header: str
) -> None:
    kept = bytes(range(40))
    filed = bytes(range(100, 140))
    kept_digest = await push_blob(client, "team/app", kept)
    # Chunked, so a file, of the same size.
    location = await open_upload(client)
    r = await client.patch(location, content=filed)
    assert r.status_code == 202
    r = await client.put(location, params={"digest": sha256(filed)})
    assert r.status_code == 201
    assert await registry.store.blob_content(kept_digest) == kept
    assert list(blob_files(settings).values()) == [filed]

    a = await client.get(f"/v2/team/app/blobs/{kept_digest}", headers={"Range": header})
    b = await client.get(f"/v2/team/app/blobs/{sha256(filed)}", headers={"Range": header})
    assert a.status_code == b.status_code
    for name in ("Content-Range", "Content-Length", "Content-Type", "Accept-Ranges"):
        assert a.headers.get(name) == b.headers.get(name), name
    if a.status_code in (200, 206):
        # The same offsets of each blob.
        assert [kept.index(x) for x in a.content] == [filed.index(x) for x in b.content]
        assert a.headers["ETag"] == f'"{kept_digest}"'
        assert a.headers["Cache-Control"] == b.headers["Cache-Control"]
    else:
        assert error_codes(a) == error_codes(b) == ["BLOB_UPLOAD_INVALID"]


# -- upload ids --------------------------------------------------------------------------


async def test_an_id_is_only_good_for_its_own_repository(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    location = await open_upload(client, "team/app")
    upload_id = upload_id_of(location)
    elsewhere = f"/v2/team/other/blobs/uploads/{upload_id}"
    await open_upload(client, "team/other")  # the other repository exists
    data = b"not yours"
    for r in (
        await client.get(elsewhere),
        await client.patch(elsewhere, content=data),
        await client.put(elsewhere, params={"digest": sha256(data)}, content=data),
        await client.delete(elsewhere),
    ):
        assert r.status_code == 404
        assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    assert upload_files(settings) == []
    assert (await client.head(f"/v2/team/other/blobs/{sha256(data)}")).status_code == 404
    # Still open where it was issued.
    r = await client.get(location)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-0"


async def test_a_tampered_id_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    location = await open_upload(client)
    nonce, issued, mac = upload_id_of(location).split("-")
    flipped = "0" if mac[-1] != "0" else "1"
    tampered = with_id(location, f"{nonce}-{issued}-{mac[:-1]}{flipped}")
    later = with_id(location, f"{nonce}-{int(issued, 16) + 3600:08x}-{mac}")
    for forged in (tampered, later):
        await assert_upload_unknown(client, forged)
    assert upload_files(settings) == []
    assert (await client.get(location)).status_code == 204


async def test_an_id_issued_under_another_key_is_refused(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    location = await open_upload(client)
    forged = with_id(location, UploadIds(key=b"someone else's key" * 2).issue("team/app"))
    await assert_upload_unknown(client, forged)
    assert upload_files(settings) == []
    assert content_rows(registry) == {}
    # The registry's own instance, with its own key, would accept it: the key decides.
    assert registry.uploads.ids.authentic("team/app", upload_id_of(location))
    assert not registry.uploads.ids.authentic("team/app", upload_id_of(forged))


async def test_another_process_over_the_same_data_honours_the_id(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    data = b"pushed through two workers"
    async with another_process(settings) as other:
        # Opened here, finished there.
        location = await open_upload(client)
        r = await other.get(location)
        assert r.status_code == 204
        assert r.headers["Range"] == "0-0"
        r = await other.put(location, params={"digest": sha256(data)}, content=data)
        assert r.status_code == 201, r.text
        # Finished there: over here too.
        r = await client.get(location)
        assert r.status_code == 404
        # Opened there, continued and finished here.
        location = await open_upload(other)
        assert (await client.get(location)).status_code == 204
        assert (await client.patch(location, content=b"chunk")).status_code == 202
        r = await client.put(location, params={"digest": sha256(b"chunk")})
        assert r.status_code == 201, r.text
        assert (await other.get(f"/v2/team/app/blobs/{sha256(data)}")).content == data
    assert (await client.get(f"/v2/team/app/blobs/{sha256(data)}")).content == data
    assert content_rows(registry) == {sha256(data): data}


async def test_an_expired_fresh_id_is_refused(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifetime = settings.gc.upload_max_age_seconds  # the default: a day, over the floor
    location = await open_upload(client)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + lifetime - 5)
    r = await client.get(location)
    assert r.status_code == 204
    monkeypatch.setattr(time, "time", lambda: now + lifetime + 2)
    await assert_upload_unknown(client, location)
    r = await client.delete(location)
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
    assert upload_files(settings) == []
    assert (await client.head(f"/v2/team/app/blobs/{sha256(b'late')}")).status_code == 404


@pytest.mark.parametrize("settings", [{"gc": {"upload_max_age_seconds": 10}}], indirect=True)
async def test_an_id_lives_at_least_a_minute(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = await open_upload(client)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 30)  # past the 10 s, within the minute
    assert (await client.get(location)).status_code == 204
    monkeypatch.setattr(time, "time", lambda: now + 62)
    r = await client.get(location)
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


async def test_an_upload_with_bytes_outlives_its_id(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lifetime only bounds an id with nothing behind it: once the first bytes
    made its file, the upload goes on until finished or purged."""
    location = await open_upload(client)
    assert (await client.patch(location, content=b"first ")).status_code == 202
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + settings.gc.upload_max_age_seconds + 10)
    r = await client.get(location)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-5"
    r = await client.put(location, params={"digest": sha256(b"first last")}, content=b"last")
    assert r.status_code == 201, r.text


# -- what becomes a file -----------------------------------------------------------------


async def test_chunks_make_a_file_and_the_blob_a_file(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    data = b"first chunk|second chunk"
    digest = sha256(data)
    location = await open_upload(client)
    r = await client.patch(location, content=data[:12])
    assert r.status_code == 202
    assert r.headers["Range"] == "0-11"
    upload_id = upload_id_of(location)
    assert upload_files(settings) == [f"{upload_id}.data"]
    r = await client.get(location)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-11"
    r = await client.patch(location, content=data[12:], headers={"Content-Range": "12-23"})
    assert r.status_code == 202
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    r = await client.put(location, params={"digest": digest})
    assert r.status_code == 201, r.text
    assert blob_files(settings) == {digest: data}
    assert upload_files(settings) == []
    assert await registry.store.blob_content(digest) is None
    assert (await client.get(f"/v2/team/app/blobs/{digest}")).content == data
    await assert_upload_unknown(client, location)


async def test_a_last_chunk_sent_with_the_put_still_makes_a_file(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    data = b"begun with a patch, ended with a put"
    digest = sha256(data)
    location = await open_upload(client)
    assert (await client.patch(location, content=data[:10])).status_code == 202
    r = await client.put(location, params={"digest": digest}, content=data[10:])
    assert r.status_code == 201, r.text
    assert blob_files(settings) == {digest: data}
    assert await registry.store.blob_content(digest) is None
    assert (await client.get(f"/v2/team/app/blobs/{digest}")).content == data


@pytest.mark.parametrize("how", ["put", "post"])
@pytest.mark.parametrize(("size", "inline"), [(INLINE_MAX, True), (INLINE_MAX + 1, False)])
async def test_the_size_limit_decides_between_database_and_file(
    client: httpx.AsyncClient,
    registry: Registry,
    settings: Settings,
    how: str,
    size: int,
    inline: bool,
) -> None:
    assert settings.limits.inline_blob_max_bytes == INLINE_MAX
    data = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    digest = sha256(data)
    if how == "put":
        location = await open_upload(client)
        r = await client.put(location, params={"digest": digest}, content=data)
    else:
        r = await client.post(
            "/v2/team/app/blobs/uploads/", params={"digest": digest}, content=data
        )
    assert r.status_code == 201, r.text
    if inline:
        assert blob_files(settings) == {}
        assert content_rows(registry) == {digest: data}
    else:
        assert blob_files(settings) == {digest: data}
        assert content_rows(registry) == {}
    assert upload_files(settings) == []
    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == data


async def test_a_put_without_a_length_makes_a_file(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    data = b"streamed, length unknown"

    async def chunks() -> AsyncIterator[bytes]:
        yield data[:8]
        yield data[8:]

    location = await open_upload(client)
    r = await client.put(location, params={"digest": sha256(data)}, content=chunks())
    assert r.status_code == 201, r.text
    assert blob_files(settings) == {sha256(data): data}
    assert content_rows(registry) == {}


@pytest.mark.parametrize("settings", [{"limits": {"inline_blob_max_bytes": 0}}], indirect=True)
async def test_with_the_limit_at_zero_every_blob_is_a_file(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    one, two = b"tiny", b"also tiny"
    await push_blob(client, "team/app", one)
    location = await open_upload(client)
    assert upload_files(settings) == []
    r = await client.put(location, params={"digest": sha256(two)}, content=two)
    assert r.status_code == 201, r.text
    assert blob_files(settings) == {sha256(one): one, sha256(two): two}
    assert content_rows(registry) == {}
    assert upload_files(settings) == []
    for data in (one, two):
        r = await client.get(f"/v2/team/app/blobs/{sha256(data)}", headers={"Range": "bytes=1-2"})
        assert r.status_code == 206
        assert r.content == data[1:3]
    await assert_upload_unknown(client, location)


async def test_an_empty_blob_through_an_upload(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    """A PUT with no body on an upload with no bytes: the empty blob, a file."""
    location = await open_upload(client)
    r = await client.put(location, params={"digest": sha256(b"")})
    assert r.status_code == 201, r.text
    r = await client.get(f"/v2/team/app/blobs/{sha256(b'')}")
    assert r.status_code == 200
    assert r.content == b""
    assert upload_files(settings) == []
    await assert_upload_unknown(client, location)


# -- bad input on the database path ------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "sent"),
    [(20, b"only ten b"), (4, b"more than four bytes")],
    ids=["short-body", "long-body"],
)
async def test_a_body_that_is_not_its_content_length_is_size_invalid(
    client: httpx.AsyncClient,
    registry: Registry,
    settings: Settings,
    declared: int,
    sent: bytes,
) -> None:
    location = await open_upload(client)
    r = await client.put(
        location,
        params={"digest": sha256(sent)},
        content=sent,
        headers={"Content-Length": str(declared)},
    )
    assert r.request.headers["Content-Length"] == str(declared)  # httpx sent the lie
    assert r.status_code == 400
    assert error_codes(r) == ["SIZE_INVALID"]
    assert f"{declared} were declared" in r.json()["errors"][0]["message"]
    assert content_rows(registry) == {}
    assert blob_files(settings) == {}
    # The upload is still open and untouched: a correct PUT finishes it.
    r = await client.get(location)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-0"
    r = await client.put(location, params={"digest": sha256(sent)}, content=sent)
    assert r.status_code == 201, r.text
    assert content_rows(registry) == {sha256(sent): sent}


async def test_a_content_range_the_body_does_not_fill_is_size_invalid(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    data = b"ten bytes!"
    location = await open_upload(client)
    r = await client.put(
        location, params={"digest": sha256(data)}, content=data, headers={"Content-Range": "0-19"}
    )
    assert r.status_code == 400
    assert error_codes(r) == ["SIZE_INVALID"]
    assert content_rows(registry) == {}
    r = await client.put(
        location, params={"digest": sha256(data)}, content=data, headers={"Content-Range": "0-9"}
    )
    assert r.status_code == 201, r.text
    assert content_rows(registry) == {sha256(data): data}


async def test_a_content_range_not_at_the_start_is_refused(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    data = b"ten bytes!"
    location = await open_upload(client)
    r = await client.put(
        location, params={"digest": sha256(data)}, content=data, headers={"Content-Range": "5-14"}
    )
    assert r.status_code == 416
    assert r.headers["Range"] == "0-0"
    assert content_rows(registry) == {}
    assert (await client.get(location)).status_code == 204


@pytest.mark.parametrize(
    "settings", [{}, {"limits": {"inline_blob_max_bytes": 0}}], indirect=True, ids=["db", "file"]
)
async def test_a_digest_mismatch_on_put_stores_nothing_and_ends_the_upload(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    data = b"the real bytes"
    claimed = sha256(b"something else")
    location = await open_upload(client)
    r = await client.put(location, params={"digest": claimed}, content=data)
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    for digest in (claimed, sha256(data)):
        assert await registry.store.blob_content(digest) is None
        r = await client.get(f"/v2/team/app/blobs/{digest}")
        assert r.status_code == 404
        assert error_codes(r) == ["BLOB_UNKNOWN"]
    assert content_rows(registry) == {}
    assert blob_files(settings) == {}
    assert upload_files(settings) == []
    # Discarded, as distribution does: the client starts over.
    await assert_upload_unknown(client, location)
    assert upload_files(settings) == []


async def test_monolithic_post_of_a_small_blob_goes_to_the_database(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    data = b'{"architecture": "arm64"}'
    digest = await push_blob(client, "team/app", data)
    assert content_rows(registry) == {digest: data}
    assert blob_files(settings) == {}
    assert upload_files(settings) == []
    r = await client.get(f"/v2/team/app/blobs/{digest}")
    assert r.content == data
    assert r.headers["Docker-Content-Digest"] == digest


async def test_monolithic_post_with_a_wrong_digest_stores_nothing(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    data = b"monolithic but mislabelled"
    wrong = sha256(b"a different blob")
    r = await client.post("/v2/team/app/blobs/uploads/", params={"digest": wrong}, content=data)
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert content_rows(registry) == {}
    assert blob_files(settings) == {}
    assert upload_files(settings) == []
    for digest in (wrong, sha256(data)):
        assert (await client.head(f"/v2/team/app/blobs/{digest}")).status_code == 404


async def test_monolithic_post_with_a_lying_length_is_size_invalid(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    data = b"twelve bytes"
    r = await client.post(
        "/v2/team/app/blobs/uploads/",
        params={"digest": sha256(data)},
        content=data,
        headers={"Content-Length": "30"},
    )
    assert r.status_code == 400
    assert error_codes(r) == ["SIZE_INVALID"]
    assert content_rows(registry) == {}


# -- quotas, mounts, dedup --------------------------------------------------------------


async def test_a_quota_refuses_a_small_blob_and_nothing_is_stored(tmp_path: Path) -> None:
    async with admin_client(tmp_path, governance={"trash_retention_days": 0}) as (c, reg):
        assert (await c.post("/api/v1/orgs", json={"name": "team"})).status_code == 201
        r = await c.put("/api/v1/namespaces/team/quota", json={"quota_bytes": 100})
        assert r.status_code == 200, r.text
        first = b"f" * 60
        digest = await push_blob(c, "team/app", first)
        assert content_rows(reg) == {digest: first}
        r = await c.get("/api/v1/namespaces/team/usage")
        assert r.json()["usage_bytes"] == 60

        over = b"o" * 50
        r = await c.post(
            "/v2/team/app/blobs/uploads/", params={"digest": sha256(over)}, content=over
        )
        assert r.status_code == 403
        assert error_codes(r) == ["DENIED"]
        assert "quota" in r.json()["errors"][0]["message"]
        assert await reg.store.blob_content(sha256(over)) is None
        assert (await c.head(f"/v2/team/app/blobs/{sha256(over)}")).status_code == 404

        # The same through an upload: refused at the PUT, and the upload is over.
        r = await c.post("/v2/team/app/blobs/uploads/")
        location = r.headers["Location"]
        r = await c.put(location, params={"digest": sha256(over)}, content=over)
        assert r.status_code == 403
        assert error_codes(r) == ["DENIED"]
        assert (await c.get(location)).status_code == 404
        assert content_rows(reg) == {digest: first}
        r = await c.get("/api/v1/namespaces/team/usage")
        assert r.json()["usage_bytes"] == 60
        assert blob_files(reg.settings) == {}
        assert upload_files(reg.settings) == []


@pytest.mark.parametrize("source", ["team/source", None], ids=["from", "anywhere"])
async def test_a_database_kept_blob_can_be_mounted(
    client: httpx.AsyncClient, registry: Registry, settings: Settings, source: str | None
) -> None:
    data = b"mount me from the database"
    digest = await push_blob(client, "team/source", data)
    params = {"mount": digest} | ({"from": source} if source else {})
    r = await client.post("/v2/team/target/blobs/uploads/", params=params)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    r = await client.get(f"/v2/team/target/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == data
    assert blob_files(settings) == {}
    assert content_rows(registry) == {digest: data}


async def test_a_mount_of_a_link_whose_bytes_are_gone_falls_back_to_an_upload(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    data = b"linked, but its row was deleted"
    digest = await push_blob(client, "team/source", data)
    with registry.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql("DELETE FROM blob_contents")
    r = await client.post(
        "/v2/team/target/blobs/uploads/", params={"mount": digest, "from": "team/source"}
    )
    assert r.status_code == 202
    assert "/blobs/uploads/" in r.headers["Location"]
    assert (await client.head(f"/v2/team/target/blobs/{digest}")).status_code == 404


async def test_the_same_small_blob_in_two_repositories_is_one_row(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    data = b"shared config"
    digest = await push_blob(client, "team/one", data)
    location = await open_upload(client, "team/two")
    r = await client.put(location, params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    await push_blob(client, "team/one", data)  # and again where it already is
    assert content_rows(registry) == {digest: data}
    assert blob_files(settings) == {}
    for name in ("team/one", "team/two"):
        r = await client.get(f"/v2/{name}/blobs/{digest}")
        assert r.status_code == 200
        assert r.content == data
    # Unlinked from one, still there for the other.
    assert (await client.delete(f"/v2/team/one/blobs/{digest}")).status_code == 202
    assert (await client.get(f"/v2/team/one/blobs/{digest}")).status_code == 404
    assert (await client.get(f"/v2/team/two/blobs/{digest}")).content == data


async def test_a_blob_kept_both_as_a_file_and_a_row_serves_and_goes_whole(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    """Chunked into one repository (a file), pushed whole into another (a row)."""
    data = b"both a file and a row"
    digest = sha256(data)
    location = await open_upload(client, "team/one")
    assert (await client.patch(location, content=data)).status_code == 202
    assert (await client.put(location, params={"digest": digest})).status_code == 201
    await push_blob(client, "team/two", data)
    assert blob_files(settings) == {digest: data}
    for name in ("team/one", "team/two"):
        r = await client.get(f"/v2/{name}/blobs/{digest}", headers={"Range": "bytes=5-8"})
        assert r.status_code == 206
        assert r.content == data[5:9]
    report = await registry.gc.run(grace=NOW)
    # One blob, two copies: counted once, both copies' bytes freed.
    assert report.deleted == [digest]
    assert report.blobs_deleted == 1
    assert report.bytes_freed == 2 * len(data)
    assert blob_files(settings) == {}
    assert content_rows(registry) == {}
    for name in ("team/one", "team/two"):
        assert (await client.get(f"/v2/{name}/blobs/{digest}")).status_code == 404


# -- garbage collection -----------------------------------------------------------------


async def test_gc_deletes_an_unlinked_database_kept_blob(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    data = b"nobody needs me"
    digest = await push_blob(client, "team/app", data)
    assert (await client.delete(f"/v2/team/app/blobs/{digest}")).status_code == 202
    assert await registry.store.blob_content(digest) == data  # the bytes wait for GC

    dry = await registry.gc.run(dry_run=True, grace=NOW)
    assert dry.blobs_deleted == 1
    assert dry.deleted == [digest]
    assert dry.bytes_freed == len(data)
    assert await registry.store.blob_content(digest) == data

    report = await registry.gc.run(grace=NOW)
    assert report.blobs_deleted == 1
    assert report.deleted == [digest]
    assert report.bytes_freed == len(data)
    assert await registry.store.blob_content(digest) is None
    assert content_rows(registry) == {}
    assert (await registry.gc.run(grace=NOW)).blobs_deleted == 0


async def test_gc_deletes_a_small_blob_no_manifest_ever_used(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    data = b"pushed, never referenced"
    digest = await push_blob(client, "team/app", data)
    assert (await registry.gc.run(dry_run=True)).blobs_kept_recent == 1

    # With the default grace, a push may still send its manifest: kept.
    report = await registry.gc.run()
    assert report.links_removed == 0
    assert report.blobs_deleted == 0
    assert await registry.store.blob_content(digest) == data

    dry = await registry.gc.run(dry_run=True, grace=NOW)
    assert dry.links_removed == 1
    assert dry.deleted == [digest]
    assert await registry.store.blob_content(digest) == data
    assert (await client.get(f"/v2/team/app/blobs/{digest}")).content == data

    report = await registry.gc.run(grace=NOW)
    assert report.links_removed == 1
    assert report.blobs_deleted == 1
    assert report.deleted == [digest]
    assert await registry.store.blob_content(digest) is None
    assert (await client.get(f"/v2/team/app/blobs/{digest}")).status_code == 404


async def test_gc_keeps_database_kept_blobs_a_manifest_uses(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    config = json.dumps({"architecture": "amd64", "kept": True}).encode()
    layer = b"a small layer"
    manifest_digest, _ = await push_image(client, "team/app", "v1", layers=[layer], config=config)
    stray = await push_blob(client, "team/app", b"a stray")
    assert set(content_rows(registry)) == {sha256(config), sha256(layer), stray}

    report = await registry.gc.run(grace=NOW)
    assert report.deleted == [stray]
    assert set(content_rows(registry)) == {sha256(config), sha256(layer)}
    assert blob_files(settings) == {}
    r = await client.get("/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == manifest_digest
    for blob in (config, layer):
        r = await client.get(f"/v2/team/app/blobs/{sha256(blob)}")
        assert r.status_code == 200
        assert r.content == blob


async def test_storing_a_small_blob_again_renews_its_time(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    """Storing it again renews its time, as linking does: a collector that listed
    the row as old must find it too young when it checks again under the lock."""
    data = b"unlinked, then pushed again"
    digest = await push_blob(client, "team/app", data)
    assert (await client.delete(f"/v2/team/app/blobs/{digest}")).status_code == 202
    mark = datetime.now(UTC)
    assert [d for d, _ in await registry.governance.stored_blobs_before(mark)] == [digest]
    await push_blob(client, "team/other", data)
    assert await registry.governance.stored_blobs_before(mark) == []
    # The collector's second look under the row lock: too young to go, even unlinked.
    assert (await client.delete(f"/v2/team/other/blobs/{digest}")).status_code == 202
    assert not await registry.governance.delete_stored_blob_if_unused(digest, mark)
    assert await registry.store.blob_content(digest) == data
    assert await registry.governance.delete_stored_blob_if_unused(digest, datetime.now(UTC))
    assert await registry.store.blob_content(digest) is None


async def test_gc_keeps_the_record_of_a_recently_finished_upload(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    data = b"finished just now"
    location = await open_upload(client)
    assert (
        await client.put(location, params={"digest": sha256(data)}, content=data)
    ).status_code == 201
    cancelled = await open_upload(client)
    assert (await client.delete(cancelled)).status_code == 204
    await registry.gc.run(grace=NOW)
    # Their ids are still fresh: without the records they would open again.
    for url in (location, cancelled):
        assert await registry.store.upload_ended(upload_id_of(url))
        r = await client.get(url)
        assert r.status_code == 404
        assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


async def test_gc_forgets_ended_uploads_once_their_ids_expired(
    client: httpx.AsyncClient,
    registry: Registry,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    location = await open_upload(client)
    assert (await client.delete(location)).status_code == 204
    upload_id = upload_id_of(location)
    assert await registry.store.upload_ended(upload_id)
    later = settings.gc.upload_max_age_seconds + 60

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + timedelta(seconds=later)

    monkeypatch.setattr(gc_module, "datetime", Later)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + later)
    await registry.gc.run()
    assert not await registry.store.upload_ended(upload_id)
    # Forgotten, but the id has expired with it: still over.
    r = await client.get(location)
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


async def test_gc_purge_of_an_idle_upload_ends_it(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    location = await open_upload(client)
    assert (await client.patch(location, content=b"started")).status_code == 202
    path = settings.storage_root / "v1" / "uploads" / f"{upload_id_of(location)}.data"
    past = time.time() - settings.gc.upload_max_age_seconds - 60
    os.utime(path, (past, past))
    report = await registry.gc.run()
    assert report.uploads_purged == 1
    assert upload_files(settings) == []
    # Its id is still fresh, yet the upload is over: no new file from a PATCH.
    await assert_upload_unknown(client, location)
    assert upload_files(settings) == []


async def test_manifest_upload_of_small_blobs_then_pull_from_another_process(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    config = json.dumps({"architecture": "amd64", "other": "process"}).encode()
    layer = b"tiny layer"
    await push_blob(client, "team/app", config)
    await push_blob(client, "team/app", layer)
    r = await client.put(
        "/v2/team/app/manifests/v1",
        content=image_manifest(config, [layer]),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text
    async with another_process(settings) as other:
        for blob in (config, layer):
            r = await other.get(f"/v2/team/app/blobs/{sha256(blob)}")
            assert r.status_code == 200
            assert r.content == blob
