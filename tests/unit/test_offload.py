"""Blocking work on worker threads: a cancelled caller waits for the thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from cargohold import offload

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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


async def test_a_failure_after_a_cancel_is_not_left_unretrieved() -> None:
    started, release = threading.Event(), threading.Event()

    def fail_later() -> None:
        started.set()
        release.wait(10)
        raise OSError(5, "Input/output error")

    loop = asyncio.get_running_loop()
    unretrieved: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    try:
        task = loop.create_task(offload.run_sync(fail_later))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        await asyncio.sleep(0.01)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        import gc

        gc.collect()
        await asyncio.sleep(0.01)
    finally:
        loop.set_exception_handler(None)
    assert unretrieved == []
