"""Large writes in the filesystem driver go around the page cache (O_DIRECT) in
whole blocks, and fall back to the cache for good where the system refuses."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from cargohold.storage.drivers import filesystem
from cargohold.storage.drivers.filesystem import FilesystemDriver, FilesystemWriter

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _open_flags(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as info:
        for line in info:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    raise AssertionError("no flags line")


async def _write(writer: FilesystemWriter, pieces: list[bytes]) -> None:
    for piece in pieces:
        await writer.write(piece)


async def test_large_writes_use_a_direct_descriptor_and_keep_every_byte(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path)
    pieces = [os.urandom(n) for n in (100, MIB + 5, 3 * MIB, 300 * 1024 + 1)]
    writer = await driver.writer("/uploads/u.data")
    try:
        await _write(writer, pieces)
        # The driver opened the same file again with O_DIRECT (this filesystem,
        # ext4 or tmpfs on Linux >= 6.6, takes it) and kept using it.
        assert writer._direct and writer._direct_fd >= 0
        assert _open_flags(writer._direct_fd) & os.O_DIRECT
        assert os.fstat(writer._direct_fd).st_ino == os.fstat(writer._fd).st_ino
        await writer.commit(move_to="/blobs/b")
    finally:
        await writer.close()
    assert writer._direct_fd == -1 and writer._aligned is None  # released on close
    assert (tmp_path / "blobs" / "b").read_bytes() == b"".join(pieces)


@pytest.mark.parametrize("refused", ["open", "pwrite"])
async def test_a_system_that_refuses_o_direct_gets_cached_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    """No O_DIRECT on this filesystem (EINVAL at open or at the first write): every
    byte still lands, through the page cache, and no direct write is tried again."""
    real_open, real_pwrite = os.open, os.pwrite
    direct_fds: set[int] = set()
    attempts: list[str] = []

    def open_(path: str, flags: int, *args: int) -> int:
        if flags & os.O_DIRECT:
            attempts.append("open")
            if refused == "open":
                raise OSError(errno.EINVAL, "Invalid argument")
            fd = real_open(path, flags, *args)
            direct_fds.add(fd)
            return fd
        return real_open(path, flags, *args)

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        if fd in direct_fds:
            attempts.append("pwrite")
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(filesystem.os, "open", open_)
    monkeypatch.setattr(filesystem.os, "pwrite", pwrite)
    driver = FilesystemDriver(tmp_path)
    pieces = [os.urandom(n) for n in (7, 2 * MIB + 1, MIB)]
    writer = await driver.writer("/uploads/u.data")
    try:
        await _write(writer, pieces)
        assert not writer._direct
        assert writer.size == sum(map(len, pieces))
        await writer.commit()
    finally:
        await writer.close()
    assert attempts == (["open"] if refused == "open" else ["open", "pwrite"])
    assert (tmp_path / "uploads" / "u.data").read_bytes() == b"".join(pieces)


async def test_other_write_errors_still_fail_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk is not a reason to fall back: the caller sees the error and
    undoes the append, as it does for cached writes."""
    real_pwrite = os.pwrite
    driver = FilesystemDriver(tmp_path)
    writer = await driver.writer("/uploads/u.data")
    await writer.write(b"kept")

    def full(fd: int, data: memoryview, offset: int) -> int:
        if fd == writer._direct_fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(filesystem.os, "pwrite", full)
    try:
        with pytest.raises(OSError) as failed:
            await writer.write(os.urandom(MIB))
        assert failed.value.errno == errno.ENOSPC
        assert writer._direct  # not a refusal of O_DIRECT
        await writer.truncate(4)
        monkeypatch.setattr(filesystem.os, "pwrite", real_pwrite)
        tail = os.urandom(MIB)
        await writer.write(tail)
        await writer.commit()
    finally:
        await writer.close()
    assert (tmp_path / "uploads" / "u.data").read_bytes() == b"kept" + tail
