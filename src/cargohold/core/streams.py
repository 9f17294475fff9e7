"""Move a request body into storage while hashing it, in large chunks.

Receiving the next chunk overlaps with hashing and writing the previous one on a
worker thread, so a push runs at the speed of the slower of the two rather than
their sum. Memory stays bounded by two chunks whatever the body size.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from cargohold import offload
from cargohold.errors import SizeInvalid
from cargohold.storage.driver import FileWriter

# Below this, hashing inline is cheaper than a hop to a worker thread.
INLINE_HASH_BYTES = 256 * 1024

# A client refused in the middle of its upload may still be sending: curl and
# Maven read the answer only once their send is done, so if the server stops
# reading they get a reset ("Send failure", "Broken pipe") instead of the error.
# `drain` reads and drops the rest of the body first, within these bounds, as HTTP
# servers' lingering close does.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_MAX_SECONDS = 10.0


# A body's pieces: as received, runs of small ones gathered (a chunked request
# can arrive two bytes at a time, and a list entry per piece would cost 25 times
# the bytes).
Piece = bytes | bytearray
SMALL_PIECE = 64 * 1024


async def _consume(chunks: list[Piece], size: int, hasher: Any, writer: FileWriter) -> None:
    if size < INLINE_HASH_BYTES:
        buffer = b"".join(chunks)
        hasher.update(buffer)
        await writer.write(buffer)
        return
    # hashlib and file writes both release the GIL: run them side by side. The
    # hash takes the pieces as they came; only the write needs them joined, and
    # joining that much releases the GIL too, so the loop copies nothing.
    hashing = asyncio.ensure_future(offload.run_sync(_update, hasher, chunks))
    try:
        first = chunks[0]
        if len(chunks) == 1 and isinstance(first, bytes):
            joined = first
        else:
            joined = await offload.run_sync(b"".join, chunks)
        await writer.write(joined)
    finally:
        await hashing


def _update(hasher: Any, chunks: list[Piece]) -> None:
    for chunk in chunks:
        hasher.update(chunk)


async def pump(
    body: AsyncIterator[bytes],
    writer: FileWriter,
    hasher: Any,
    chunk_bytes: int,
    limit: int | None = None,
) -> int:
    """Append ``body`` to ``writer`` and ``hasher``; return the number of bytes.

    Raises `SizeInvalid` as soon as more than ``limit`` bytes arrive.
    """
    total = 0
    chunks: list[Piece] = []
    buffered = 0
    pending: asyncio.Future[None] | None = None
    try:
        async for chunk in body:
            if not chunk:
                continue
            total += len(chunk)
            if limit is not None and total > limit:
                raise SizeInvalid(f"body is longer than the declared {limit} bytes")
            last = chunks[-1] if chunks else None
            if len(chunk) >= SMALL_PIECE:
                chunks.append(chunk)
            elif isinstance(last, bytearray) and len(last) < SMALL_PIECE:
                last += chunk
            else:
                chunks.append(bytearray(chunk))
            buffered += len(chunk)
            if buffered >= chunk_bytes:
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(_consume(chunks, buffered, hasher, writer))
                chunks = []
                buffered = 0
        if pending is not None:
            await pending
            pending = None
        if chunks:
            await _consume(chunks, buffered, hasher, writer)
    finally:
        if pending is not None:
            # Let a started write finish before the caller truncates the file.
            await asyncio.gather(pending, return_exceptions=True)
    return total


async def read_limited(body: AsyncIterator[bytes], limit: int) -> bytes | None:
    """The whole body, or None if it is longer than ``limit`` (for small documents)."""
    data = bytearray()
    async for chunk in body:
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


async def drain(body: AsyncIterator[bytes]) -> None:
    """Read and drop what is left of ``body``, up to the bounds above."""
    left = DRAIN_MAX_BYTES
    try:
        async with asyncio.timeout(DRAIN_MAX_SECONDS):
            async for chunk in body:
                left -= len(chunk)
                if left < 0:
                    return
    except Exception:  # best effort: a client gone or too slow ends it
        return
