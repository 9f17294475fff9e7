"""Requests racing on one upload: one runs at a time, and nothing unverified is published."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

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
