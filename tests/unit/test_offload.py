"""Blocking work on worker threads: a cancelled caller waits for the thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest
from starlette.responses import StreamingResponse

from cargohold import offload

pytestmark = pytest.mark.anyio


async def test_a_result_comes_back() -> None:
    assert await offload.run_sync(sum, [1, 2, 3]) == 6


async def test_an_exception_comes_back() -> None:
    def fail() -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        await offload.run_sync(fail)


@pytest.mark.parametrize("cancels", [1, 2, 5])
async def test_a_cancelled_caller_returns_only_after_the_thread(cancels: int) -> None:
    """A second cancel used to let the caller go while the thread still ran, so the
    caller's cleanup (closing a descriptor, releasing a lock) raced the write."""
    started, release = threading.Event(), threading.Event()
    finished = threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(10)
        finished.set()

    seen_after: list[bool] = []

    async def caller() -> None:
        try:
            await offload.run_sync(blocking)
        finally:
            seen_after.append(finished.is_set())

    task = asyncio.get_running_loop().create_task(caller())
    while not started.is_set():
        await asyncio.sleep(0.001)
    for _ in range(cancels):
        task.cancel()
        await asyncio.sleep(0.01)
        assert not task.done()  # still waiting for the thread
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen_after == [True]


async def test_a_disconnect_during_a_streamed_read_does_not_spin_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starlette's StreamingResponse, on an ASGI 2.3 server such as granian, cancels
    its body through an anyio cancel scope when the client goes away, and anyio
    cancels the task again at every turn of the loop until it leaves the scope:
    each of those must not become another trip round the loop."""
    shields = 0
    real_shield = asyncio.shield

    def counting_shield(future: asyncio.Future[bytes]) -> asyncio.Future[bytes]:
        nonlocal shields
        shields += 1
        return real_shield(future)

    monkeypatch.setattr(asyncio, "shield", counting_shield)
    reading = threading.Event()

    def slow_read() -> bytes:  # a 1 MiB read from a slow disk
        reading.set()
        time.sleep(0.3)
        return b"x"

    async def blob() -> AsyncIterator[bytes]:
        yield b"first"
        yield await offload.run_sync(slow_read)

    async def receive() -> dict[str, object]:
        while not reading.is_set():
            await asyncio.sleep(0.001)
        return {"type": "http.disconnect"}

    async def send(message: object) -> None:
        pass

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}}
    await StreamingResponse(blob())(scope, receive, send)
    assert reading.is_set()
    assert shields < 10  # thousands when the loop spins
