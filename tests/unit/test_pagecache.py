"""cachestat(2) tells the filesystem driver when a read cannot wait on the disk, so
it may read on the event loop instead of hopping to a worker thread."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cargohold.storage.drivers import pagecache

MiB = 1024 * 1024


@pytest.fixture
def written(tmp_path: Path) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(3 * MiB + 123))
    with open(path, "rb+") as f:
        os.fsync(f.fileno())  # clean pages: the kernel may then drop them on request
    return path


def _require_cachestat(fd: int) -> None:
    pagecache.cached(fd, 0, 1)
    if not pagecache._available:
        pytest.skip("no cachestat(2) here (Linux 6.5 or later)")


def test_a_range_just_read_is_cached_and_a_dropped_one_is_not(written: Path) -> None:
    fd = os.open(written, os.O_RDONLY)
    try:
        _require_cachestat(fd)
        os.read(fd, 4 * MiB)  # the whole file, into the page cache
        assert pagecache.cached(fd, 0, MiB)
        assert pagecache.cached(fd, 5, MiB)  # not page-aligned
        assert pagecache.cached(fd, 3 * MiB, 123)  # the ragged last page
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        if pagecache.cached(fd, 2 * MiB, MiB):
            pytest.skip("the kernel kept the pages after POSIX_FADV_DONTNEED")
        assert not pagecache.cached(fd, 0, MiB)
        os.pread(fd, MiB, 0)  # the first MiB comes back (and a little read-ahead)
        assert pagecache.cached(fd, 0, MiB)
        assert not pagecache.cached(fd, 2 * MiB, MiB)
    finally:
        os.close(fd)


def test_nothing_past_the_end_or_of_no_length_counts_as_cached(written: Path) -> None:
    fd = os.open(written, os.O_RDONLY)
    try:
        _require_cachestat(fd)
        os.read(fd, 4 * MiB)
        assert not pagecache.cached(fd, 3 * MiB, MiB)  # runs past the end of the file
        assert not pagecache.cached(fd, 0, 0)
        assert not pagecache.cached(fd, 10 * MiB, MiB)
    finally:
        os.close(fd)


def test_a_bad_descriptor_is_not_cached_and_does_not_turn_the_check_off(
    written: Path,
) -> None:
    fd = os.open(written, os.O_RDONLY)
    try:
        _require_cachestat(fd)
        assert not pagecache.cached(987654, 0, MiB)  # EBADF
        os.read(fd, 4 * MiB)
        assert pagecache.cached(fd, 0, MiB)
    finally:
        os.close(fd)


@pytest.mark.anyio
async def test_the_driver_reads_cached_chunks_inline_and_the_rest_on_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cargohold import offload
    from cargohold.storage.drivers import filesystem

    driver = filesystem.FilesystemDriver(tmp_path)
    data = os.urandom(3 * MiB + 5)
    await driver.put_content("/v1/blob", data)
    hops = 0
    real = offload.run_sync

    async def counted(fn: object, *args: object) -> object:
        nonlocal hops
        hops += 1
        return await real(fn, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(offload, "run_sync", counted)
    path = tmp_path / "v1" / "blob"
    fd = os.open(path, os.O_RDONLY)
    try:
        _require_cachestat(fd)
        os.read(fd, 4 * MiB)
        assert b"".join([c async for c in driver.reader("/v1/blob")]) == data
        # Four chunks from the page cache (the last one short); only the read that
        # finds the end may hop, since a range past the end never counts as cached.
        assert hops <= 1
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        if pagecache.cached(fd, 0, MiB):
            pytest.skip("the kernel kept the pages after POSIX_FADV_DONTNEED")
        hops = 0
        assert b"".join([c async for c in driver.reader("/v1/blob", 7)]) == data[7:]
        assert hops >= 1  # the first chunk at least came from the disk, on a thread
    finally:
        os.close(fd)
