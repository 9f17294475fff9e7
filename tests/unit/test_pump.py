"""`core.streams.pump`: a request body into storage and a hash, in bounded memory."""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargohold.core.streams import pump
from cargohold.storage.drivers.filesystem import FilesystemDriver

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


async def _body(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


class _Recorder:
    """Wraps a real writer and notes where each write starts and how long it is."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.writes: list[tuple[int, int]] = []

    @property
    def size(self) -> int:
        return self.inner.size  # type: ignore[attr-defined, no-any-return]

    async def write(self, data: bytes) -> None:
        self.writes.append((self.size, len(data)))
        await self.inner.write(data)  # type: ignore[attr-defined]


@pytest.mark.parametrize("start", [0, 100, 4096, 12345])
async def test_pieces_of_any_size_land_in_order_in_chunk_sized_writes(
    tmp_path: Path, start: int
) -> None:
    """Tiny and large pieces mixed, appended at ragged and aligned offsets: the
    file and the hash get every byte once, written a chunk or more at a time."""
    rng = random.Random(start)
    driver = FilesystemDriver(tmp_path)
    prefix = rng.randbytes(start)
    await driver.put_content("/u", prefix)
    sizes = [1, 7, 5000, 70_000, 417_792, 2 * MIB + 3]
    pieces = [rng.randbytes(rng.choice(sizes)) for _ in range(40)]
    data = b"".join(pieces)
    writer = await driver.writer("/u", append=True)
    recorder = _Recorder(writer)
    hasher = hashlib.sha256()
    try:
        assert await pump(_body(pieces), recorder, hasher, MIB) == len(data)  # type: ignore[arg-type]
    finally:
        await writer.close()
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert await driver.get_content("/u") == prefix + data
    assert len(recorder.writes) > 3
    assert all(length >= MIB for _, length in recorder.writes[:-1])
    assert [offset for offset, _ in recorder.writes] == [
        start + sum(length for _, length in recorder.writes[:i])
        for i in range(len(recorder.writes))
    ]


async def test_a_body_of_tiny_pieces_stays_in_bounded_memory(tmp_path: Path) -> None:
    """A chunked request may arrive two bytes at a time; held as a list of pieces
    it cost 25 times its size (85 MiB for 8 MiB), gathered it stays within a few
    chunks."""
    driver = FilesystemDriver(tmp_path)
    pieces = [b"ab"] * (MIB // 4)  # 512 KiB, the same object each time: no cost of its own
    writer = await driver.writer("/u")
    tracemalloc.start()
    try:
        await pump(_body(pieces), writer, hashlib.sha256(), MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await writer.close()
    assert (await driver.stat("/u")).size == MIB // 2
    assert peak < 3 * MIB, f"peak {peak / MIB:.1f} MiB"
