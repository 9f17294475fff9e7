"""Large writes in the filesystem driver go around the page cache (O_DIRECT) in
whole blocks, and fall back to the cache for good where the system refuses."""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cargohold.storage.drivers import filesystem
from cargohold.storage.drivers.filesystem import FilesystemDriver, FilesystemWriter

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def o_direct_here(tmp_path: Path) -> None:
    """Every test here needs a filesystem that takes O_DIRECT (ext4, xfs, tmpfs on
    Linux >= 6.6) under the test's folder, the fallback tests too (they refuse it
    on purpose after a real direct open); elsewhere they skip, saying why."""
    try:
        fd = os.open(tmp_path / "probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
    except OSError as error:
        pytest.skip(f"no O_DIRECT under {tmp_path}: {error}")
    os.close(fd)
    os.unlink(tmp_path / "probe")


@pytest.fixture
def direct_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int, int]]]:
    """Every write through a descriptor opened with O_DIRECT, as (offset, length,
    buffer address): tmpfs takes unaligned direct writes, so alignment is checked
    here rather than left to the filesystem to refuse."""
    real_open, real_pwrite = os.open, os.pwrite
    direct_fds: set[int] = set()
    seen: list[tuple[int, int, int]] = []

    def open_(path: str, flags: int, *args: int) -> int:
        fd = real_open(path, flags, *args)
        if flags & os.O_DIRECT:
            direct_fds.add(fd)
        return fd

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        if fd in direct_fds:
            address = ctypes.addressof(ctypes.c_char.from_buffer(data))
            seen.append((offset, len(data), address))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(filesystem.os, "open", open_)
    monkeypatch.setattr(filesystem.os, "pwrite", pwrite)
    yield seen


def _open_flags(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as info:
        for line in info:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    raise AssertionError("no flags line")


async def _write(writer: FilesystemWriter, pieces: list[bytes]) -> None:
    for piece in pieces:
        await writer.write(piece)


async def test_large_writes_use_a_direct_descriptor_and_keep_every_byte(
    tmp_path: Path, direct_writes: list[tuple[int, int, int]]
) -> None:
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
    # Whole blocks at block offsets from page-aligned memory, and most of the bytes.
    assert direct_writes
    for offset, length, address in direct_writes:
        assert offset % 4096 == 0 and length % 4096 == 0 and address % 4096 == 0
    assert sum(length for _, length, _ in direct_writes) > 4 * MIB


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


class _CacheStat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")
    ]


class _CacheStatRange(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint64), ("length", ctypes.c_uint64)]


def _dirty_pages(path: Path, length: int) -> int:
    """Dirty page-cache pages of ``path``'s first ``length`` bytes (cachestat(2),
    Linux >= 6.5)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        stat = _CacheStat()
        span = _CacheStatRange(0, length)
        if libc.syscall(451, fd, ctypes.byref(span), ctypes.byref(stat), 0) != 0:
            pytest.skip(f"no cachestat here: {os.strerror(ctypes.get_errno())}")
        return int(stat.dirty)
    finally:
        os.close(fd)


async def test_cached_bytes_reach_the_disk_before_a_direct_write_lands_after_them(
    tmp_path: Path,
) -> None:
    """A direct write makes the larger size durable at once; bytes before it that
    were still only in the page cache would read as zeros after a power loss (seen
    on ext4: an acknowledged chunk of a resumed upload came back as NULs). So they
    are written back first: nothing before the direct write is left dirty."""
    driver = FilesystemDriver(tmp_path)
    first = await driver.writer("/uploads/u.data")
    await first.write(b"A" * 100)  # an earlier PATCH: cached, not synced
    await first.close()
    path = tmp_path / "uploads" / "u.data"
    assert _dirty_pages(path, 4096) == 1
    second = await driver.writer("/uploads/u.data", append=True)
    try:
        await second.write(b"B" * (MIB + 50))
        assert second._direct  # the bulk went direct...
        assert _dirty_pages(path, MIB) == 0  # ...after the cached bytes were written back
    finally:
        await second.close()
    assert path.read_bytes() == b"A" * 100 + b"B" * (MIB + 50)


@pytest.mark.parametrize("cut", ["short", "einval"])
async def test_a_direct_write_cut_short_finishes_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    """A direct write that lands only part (a short count, or EINVAL after some
    blocks went) leaves the rest to the cache: every byte lands once, in place."""
    real_pwrite = os.pwrite
    driver = FilesystemDriver(tmp_path)
    writer = await driver.writer("/uploads/u.data")
    calls = 0

    def partial(fd: int, data: memoryview, offset: int) -> int:
        nonlocal calls
        if fd != writer._direct_fd:
            return real_pwrite(fd, data, offset)
        calls += 1
        if calls == 1:  # the first call lands 2 blocks and a ragged 100 bytes
            return real_pwrite(fd, data[: 2 * 4096 + (100 if cut == "short" else 0)], offset)
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(filesystem.os, "pwrite", partial)
    data = os.urandom(2 * MIB + 7)
    try:
        await writer.write(data)
        assert writer.size == len(data)
        await writer.write(b"end")
        await writer.commit()
    finally:
        await writer.close()
    assert (tmp_path / "uploads" / "u.data").read_bytes() == data + b"end"
