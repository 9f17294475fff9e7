"""An append writer must never get hold of a file that was renamed away (an upload
published as a blob) between its open and its lock, as can happen when two worker
processes serve the same upload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cargohold.storage.driver import PathNotFound
from cargohold.storage.drivers import filesystem
from cargohold.storage.drivers.filesystem import FilesystemDriver

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("then", ["published", "replaced"])
async def test_a_file_moved_between_open_and_lock_is_not_appended_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, then: str
) -> None:
    driver = FilesystemDriver(tmp_path)
    await driver.put_content("/uploads/u.data", b"verified blob bytes")
    real_flock = filesystem.fcntl.flock

    def move_then_lock(fd: int, operation: int) -> None:
        # The other worker finishes the upload right after our open(); a new file
        # may even take the old name.
        os.rename(tmp_path / "uploads" / "u.data", tmp_path / "blob")
        if then == "replaced":
            (tmp_path / "uploads" / "u.data").write_bytes(b"new")
        real_flock(fd, operation)

    monkeypatch.setattr(filesystem.fcntl, "flock", move_then_lock)
    with pytest.raises(PathNotFound):
        await driver.writer("/uploads/u.data", append=True)
    assert (tmp_path / "blob").read_bytes() == b"verified blob bytes"


async def test_an_untouched_file_still_opens_for_append(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    await driver.put_content("/uploads/u.data", b"abc")
    writer = await driver.writer("/uploads/u.data", append=True)
    try:
        assert writer.size == 3
    finally:
        await writer.close()
