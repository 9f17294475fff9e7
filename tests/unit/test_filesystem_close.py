"""A writer's descriptors are closed even when closing it is cancelled."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from cargohold.storage.drivers import filesystem
from cargohold.storage.drivers.filesystem import FilesystemDriver

pytestmark = pytest.mark.anyio


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
async def test_a_close_cancelled_during_write_back_still_closes(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    before = _open_fds()
    writer = await driver.writer("/upload")
    await writer.write(b"x" * filesystem.SMALL_INLINE)  # enough that close starts write-back
    assert _open_fds() != before

    started, release = threading.Event(), threading.Event()

    def slow_write_back() -> None:
        started.set()
        release.wait(10)

    writer._kick_writeback = slow_write_back  # type: ignore[method-assign]
    task = asyncio.get_running_loop().create_task(writer.close())
    while not started.is_set():
        await asyncio.sleep(0.001)
    task.cancel()
    await asyncio.sleep(0.01)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _open_fds() == before
    await writer.close()  # closing again does nothing
    assert (tmp_path / "upload").stat().st_size == filesystem.SMALL_INLINE
