"""One suite for every storage driver: the contract in `cargohold.storage.driver`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargohold.storage.driver import (
    FileWriter,
    InvalidPath,
    PathBusy,
    PathNotFound,
    StorageDriver,
)
from cargohold.storage.drivers.filesystem import FilesystemDriver
from cargohold.storage.drivers.inmemory import InMemoryDriver

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["inmemory", "filesystem"])
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    d: StorageDriver
    d = InMemoryDriver() if request.param == "inmemory" else FilesystemDriver(tmp_path / "root")
    yield d
    # Every test cleans up after itself: a driver that leaks files fails here.
    leftovers = [f.path async for f in d.walk("/")]
    assert leftovers == [], leftovers


async def _read_all(driver: StorageDriver, path: str, offset: int = 0) -> bytes:
    return b"".join([chunk async for chunk in driver.reader(path, offset)])


async def test_put_get_and_replace(driver: StorageDriver) -> None:
    await driver.put_content("/a/b/file", b"one")
    assert await driver.get_content("/a/b/file") == b"one"
    await driver.put_content("/a/b/file", b"two")
    assert await driver.get_content("/a/b/file") == b"two"
    info = await driver.stat("/a/b/file")
    assert (info.size, info.is_dir) == (3, False)
    assert (await driver.stat("/a/b")).is_dir
    await driver.delete("/a")


async def test_missing_paths(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.get_content("/missing")
    with pytest.raises(PathNotFound):
        await driver.stat("/missing")
    with pytest.raises(PathNotFound):
        await driver.list("/missing")
    with pytest.raises(PathNotFound):
        await driver.delete("/missing")
    with pytest.raises(PathNotFound):
        await driver.move("/missing", "/elsewhere")
    with pytest.raises(PathNotFound):
        await _read_all(driver, "/missing")


@pytest.mark.parametrize("path", ["relative", "/a/../b", "/a//b", "/a/./b", ""])
async def test_invalid_paths(driver: StorageDriver, path: str) -> None:
    with pytest.raises(InvalidPath):
        await driver.put_content(path, b"x")


async def test_reader_offsets_and_large_files(driver: StorageDriver) -> None:
    data = bytes(range(256)) * 20_000  # ~5 MiB, several read chunks
    await driver.put_content("/big", data)
    assert await _read_all(driver, "/big") == data
    assert await _read_all(driver, "/big", 4_000_000) == data[4_000_000:]
    assert await _read_all(driver, "/big", len(data)) == b""
    await driver.delete("/big")


async def test_writer_append_truncate_commit(driver: StorageDriver) -> None:
    writer = await driver.writer("/up/data")
    assert isinstance(writer, FileWriter)
    await writer.write(b"hello ")
    await writer.write(b"world")
    assert writer.size == 11
    await writer.commit()
    await writer.close()
    appender = await driver.writer("/up/data", append=True)
    assert appender.size == 11
    await appender.write(b" and more")
    await appender.truncate(11)
    assert appender.size == 11
    await appender.write(b"!")
    await appender.commit()
    await appender.close()
    assert await driver.get_content("/up/data") == b"hello world!"
    fresh = await driver.writer("/up/data")
    assert fresh.size == 0
    await fresh.close()
    assert await driver.get_content("/up/data") == b""
    await driver.delete("/up")


async def test_large_writes_at_ragged_offsets(driver: StorageDriver) -> None:
    """Large writes that start and end off any block boundary, across reopening,
    truncation and publishing, keep every byte in its place (the filesystem driver
    writes their whole blocks around the page cache and the rest through it)."""
    pieces = [os.urandom(n) for n in (5, 300 * 1024 + 7, 3, 1024 * 1024, 4096 * 70, 1)]
    writer = await driver.writer("/up/ragged")
    for piece in pieces[:3]:
        await writer.write(piece)
    await writer.close()
    expected = b"".join(pieces[:3])
    appender = await driver.writer("/up/ragged", append=True)
    assert appender.size == len(expected)
    await appender.write(pieces[3])
    await appender.truncate(len(expected) + 123)  # undo part of a large write
    expected += pieces[3][:123]
    for piece in pieces[4:]:
        await appender.write(piece)
    expected += b"".join(pieces[4:])
    assert appender.size == len(expected)
    await appender.commit(move_to="/done/ragged")
    await appender.close()
    assert await _read_all(driver, "/done/ragged") == expected
    assert await _read_all(driver, "/done/ragged", 300 * 1024) == expected[300 * 1024 :]
    with contextlib.suppress(PathNotFound):  # a directory only where there are any
        await driver.delete("/up")
    await driver.delete("/done")


async def test_list_children(driver: StorageDriver) -> None:
    for path in ("/d/x", "/d/y/z", "/d/y/w", "/e"):
        await driver.put_content(path, b".")
    assert await driver.list("/d") == ["/d/x", "/d/y"]
    assert await driver.list("/") == ["/d", "/e"]
    assert sorted([f.path async for f in driver.walk("/d")]) == ["/d/x", "/d/y/w", "/d/y/z"]
    assert [f.path async for f in driver.walk("/nothing")] == []
    await driver.delete("/d")
    await driver.delete("/e")


async def test_move_replaces_destination(driver: StorageDriver) -> None:
    await driver.put_content("/src", b"new")
    await driver.put_content("/dst/file", b"old")
    await driver.move("/src", "/dst/file")
    assert await driver.get_content("/dst/file") == b"new"
    with pytest.raises(PathNotFound):
        await driver.stat("/src")
    await driver.move("/dst/file", "/deeper/still/file")
    assert await driver.get_content("/deeper/still/file") == b"new"
    await driver.delete("/deeper")


async def test_delete_is_recursive(driver: StorageDriver) -> None:
    await driver.put_content("/tree/a/b/c", b"1")
    await driver.put_content("/tree/d", b"2")
    await driver.put_content("/treehouse", b"3")
    await driver.delete("/tree")
    with pytest.raises(PathNotFound):
        await driver.stat("/tree/a/b/c")
    # A sibling sharing the prefix is not part of the tree.
    assert await driver.get_content("/treehouse") == b"3"
    await driver.delete("/treehouse")


async def test_local_path_points_at_the_bytes(driver: StorageDriver) -> None:
    await driver.put_content("/f", b"bytes")
    local = driver.local_path("/f")
    if local is not None:
        assert Path(local).read_bytes() == b"bytes"
    await driver.delete("/f")


async def test_append_needs_an_existing_file(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.writer("/gone/data", append=True)


async def test_append_with_create_makes_a_missing_file(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.stat("/new")
    writer = await driver.writer("/new/deeper/data", append=True, create=True)
    assert writer.size == 0
    info = await driver.stat("/new/deeper/data")  # there as soon as the writer is
    assert (info.size, info.is_dir) == (0, False)
    assert (await driver.stat("/new/deeper")).is_dir
    await writer.write(b"first ")
    await writer.write(b"bytes")
    assert writer.size == 11
    await writer.commit()
    await writer.close()
    assert await driver.get_content("/new/deeper/data") == b"first bytes"
    # Made empty, nothing written: the file stays, empty.
    empty = await driver.writer("/new/empty", append=True, create=True)
    await empty.close()
    assert await driver.get_content("/new/empty") == b""
    await driver.delete("/new")


async def test_append_with_create_keeps_an_existing_file(driver: StorageDriver) -> None:
    await driver.put_content("/up/data", b"already here")
    writer = await driver.writer("/up/data", append=True, create=True)
    assert writer.size == 12
    await writer.write(b", and more")
    await writer.commit()
    await writer.close()
    assert await driver.get_content("/up/data") == b"already here, and more"
    again = await driver.writer("/up/data", append=True, create=True)
    assert again.size == 22
    await again.close()
    assert await driver.get_content("/up/data") == b"already here, and more"
    await driver.delete("/up")


async def test_a_writer_knows_which_file_it_holds(driver: StorageDriver) -> None:
    """Same file, same identity, even renamed; made again at the same path (same
    size), another one: an upload's cached hash must not be trusted for it."""
    first = await driver.writer("/up/data", append=True, create=True)
    await first.write(b"1234")
    await first.close()
    again = await driver.writer("/up/data", append=True)
    assert again.identity == first.identity
    await again.close()
    await driver.move("/up/data", "/up/moved")
    moved = await driver.writer("/up/moved", append=True)
    assert moved.identity == first.identity
    await moved.close()
    other = await driver.writer("/up/data", append=True, create=True)
    await other.write(b"5678")
    await other.close()
    assert other.identity != first.identity
    await driver.delete("/up")


async def test_append_with_create_is_one_appender_at_a_time(driver: StorageDriver) -> None:
    first = await driver.writer("/up/data", append=True, create=True)
    with pytest.raises(PathBusy):
        await driver.writer("/up/data", append=True, create=True)
    with pytest.raises(PathBusy):
        await driver.writer("/up/data", append=True)
    await first.write(b"mine")
    await first.close()
    second = await driver.writer("/up/data", append=True, create=True)
    assert second.size == 4
    await second.write(b", then yours")
    await second.close()
    assert await driver.get_content("/up/data") == b"mine, then yours"
    await driver.delete("/up")


async def test_append_without_create_still_needs_the_file(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.writer("/up/data", append=True, create=False)
    # Not even where the directory exists.
    await driver.put_content("/up/other", b"x")
    with pytest.raises(PathNotFound):
        await driver.writer("/up/data", append=True)
    with pytest.raises(PathNotFound):
        await driver.stat("/up/data")  # and the failed attempt made nothing
    # A file where a directory should be is "not found" too, with or without create.
    with pytest.raises(PathNotFound):
        await driver.writer("/up/other/data", append=True)
    await driver.delete("/up")


async def test_one_appender_at_a_time(driver: StorageDriver) -> None:
    created = await driver.writer("/up/data")
    await created.close()
    first = await driver.writer("/up/data", append=True)
    with pytest.raises(PathBusy):
        await driver.writer("/up/data", append=True)
    await first.write(b"mine")
    await first.close()
    second = await driver.writer("/up/data", append=True)
    assert second.size == 4
    await second.close()
    await driver.delete("/up")


async def test_commit_can_publish_the_file(driver: StorageDriver) -> None:
    await driver.put_content("/pub/final", b"old copy")
    writer = await driver.writer("/stage/data")
    await writer.write(b"verified bytes")
    await writer.commit(move_to="/pub/final")
    await writer.close()
    assert await driver.get_content("/pub/final") == b"verified bytes"
    with pytest.raises(PathNotFound):
        await driver.stat("/stage/data")
    writer = await driver.writer("/stage/other")
    await writer.write(b"x")
    with pytest.raises(InvalidPath):
        await writer.commit(move_to="/pub/../escape")
    await writer.close()
    await driver.delete("/stage")
    await driver.delete("/pub")
