"""Requests racing on one upload: one runs at a time, and nothing unverified is published."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cargohold.config import Settings
from cargohold.core.registry import Registry
from cargohold.http.app import create_app
from cargohold.services import build_registry
from tests.http.helpers import error_codes, sha256

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
FIRST = b"a" * MiB
SECOND = b"b" * MiB


def _held_body(release: asyncio.Event) -> AsyncIterator[bytes]:
    """FIRST at once, SECOND only once ``release`` is set: a chunk still arriving."""

    async def body() -> AsyncIterator[bytes]:
        yield FIRST
        await release.wait()
        yield SECOND

    return body()


async def _start(client: httpx.AsyncClient) -> str:
    r = await client.post("/v2/team/app/blobs/uploads/")
    return str(r.headers["Location"])


async def test_put_waits_for_a_chunk_still_arriving(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    release = asyncio.Event()
    slow_body = _held_body(release)
    patch = asyncio.create_task(
        client.patch(location, content=slow_body, headers={"Content-Length": str(2 * MiB)})
    )
    await asyncio.sleep(0.2)
    # Finishing now with what has arrived so far must not publish half a chunk.
    put = asyncio.create_task(
        client.put(location, params={"digest": sha256(FIRST + b"x")}, content=b"x")
    )
    await asyncio.sleep(0.2)
    release.set()
    r_patch, r_put = await patch, await put
    assert r_patch.status_code == 202
    assert r_put.status_code == 400
    assert error_codes(r_put) == ["DIGEST_INVALID"]
    assert (await client.head(f"/v2/team/app/blobs/{sha256(FIRST + b'x')}")).status_code == 404


async def test_two_puts_publish_once(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    assert (await client.patch(location, content=FIRST)).status_code == 202
    first, second = await asyncio.gather(
        client.put(location, params={"digest": sha256(FIRST)}),
        client.put(location, params={"digest": sha256(FIRST + SECOND)}, content=SECOND),
    )
    assert sorted([first.status_code, second.status_code]) == [201, 404]
    winner = sha256(FIRST) if first.status_code == 201 else sha256(FIRST + SECOND)
    expected = FIRST if first.status_code == 201 else FIRST + SECOND
    assert (await client.get(f"/v2/team/app/blobs/{winner}")).content == expected


async def test_cancel_during_a_chunk(client: httpx.AsyncClient) -> None:
    location = await _start(client)
    release = asyncio.Event()
    slow_body = _held_body(release)
    patch = asyncio.create_task(client.patch(location, content=slow_body))
    await asyncio.sleep(0.2)
    cancel = asyncio.create_task(client.delete(location))
    await asyncio.sleep(0.1)
    release.set()
    assert (await patch).status_code == 202
    assert (await cancel).status_code == 204
    r = await client.put(location, params={"digest": sha256(FIRST + SECOND)})
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


# -- several workers on one data folder ----------------------------------------------------


@contextlib.asynccontextmanager
async def _workers(settings: Settings, n: int) -> AsyncIterator[list[tuple[Registry, Any]]]:
    """``n`` registries over the same data, as ``--workers n`` runs them."""
    opened: list[tuple[Registry, Any]] = []
    try:
        for _ in range(n):
            reg = build_registry(settings)
            await reg.open()
            transport = httpx.ASGITransport(app=create_app(settings, reg))
            opened.append((reg, httpx.AsyncClient(transport=transport, base_url="http://r")))
        yield opened
    finally:
        for reg, c in opened:
            await c.aclose()
            await reg.close()


async def test_a_stale_hash_in_another_worker_cannot_publish_other_bytes(
    settings: Settings,
) -> None:
    """B holds the running hash of GOOD; A publishes GOOD; C, racing A's finish, opens
    a new file for the upload and puts other bytes of the same length in it. B's
    PUT must not trust its hash for that other file: the blob stays GOOD."""
    good, evil = b"G" * 200_000, b"E" * 200_000
    async with _workers(settings, 3) as [(a_reg, a), (_, b), (_, c)]:
        location = (await a.post("/v2/team/app/blobs/uploads/")).headers["Location"]
        assert (await b.patch(location, content=good)).status_code == 202
        # Hold A between publishing the file and recording the link and the end.
        linking, go_on = asyncio.Event(), asyncio.Event()
        real_link = a_reg.store.link_blob

        async def held_link(*args: Any, **kwargs: Any) -> None:
            linking.set()
            await go_on.wait()
            await real_link(*args, **kwargs)

        a_reg.store.link_blob = held_link  # type: ignore[method-assign]
        put = asyncio.create_task(a.put(location, params={"digest": sha256(good)}))
        await linking.wait()
        assert (await c.patch(location, content=evil)).status_code == 202
        go_on.set()
        assert (await put).status_code == 201
        late = await b.put(location, params={"digest": sha256(good)})
        assert late.status_code == 400
        assert error_codes(late) == ["DIGEST_INVALID"]
        served = await a.get(f"/v2/team/app/blobs/{sha256(good)}")
        assert served.status_code == 200
        assert served.content == good


async def test_a_file_made_after_the_upload_ended_is_removed(settings: Settings) -> None:
    """A PATCH that found no file (A had published it) and no end record (not yet
    committed), and made the file only after the end committed, takes it away
    again and answers 404."""
    data = b"d" * 10_000
    async with _workers(settings, 2) as [(a_reg, a), (c_reg, c)]:
        location = (await a.post("/v2/team/app/blobs/uploads/")).headers["Location"]
        assert (await a.patch(location, content=data)).status_code == 202
        upload_id = location.rsplit("/", 1)[1]
        linking, link_on = asyncio.Event(), asyncio.Event()
        looked, create_on = asyncio.Event(), asyncio.Event()
        real_link, real_open = a_reg.store.link_blob, c_reg.uploads._open_without_bytes

        async def held_link(*args: Any, **kwargs: Any) -> None:
            linking.set()
            await link_on.wait()
            await real_link(*args, **kwargs)

        async def open_then_wait(upload: str) -> bool:
            answer = await real_open(upload)
            looked.set()
            await create_on.wait()
            return answer

        a_reg.store.link_blob = held_link  # type: ignore[method-assign]
        c_reg.uploads._open_without_bytes = open_then_wait  # type: ignore[method-assign]
        put = asyncio.create_task(a.put(location, params={"digest": sha256(data)}))
        await linking.wait()  # A's file is the blob now; its end is not recorded yet
        late = asyncio.create_task(c.patch(location, content=b"late"))
        await looked.wait()  # C saw no file and no end record
        link_on.set()
        assert (await put).status_code == 201
        create_on.set()
        r = await late
        assert r.status_code == 404
        assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
        uploads = settings.storage_root / "v1" / "uploads"
        assert not (uploads / f"{upload_id}.data").exists()
        assert (await a.get(location)).status_code == 404
        assert (await a.get(f"/v2/team/app/blobs/{sha256(data)}")).content == data
