"""Blocking work off the event loop, cheaply.

A registry request hops to a worker thread several times (fsync, rename, SQL on
the push path), and ``anyio.to_thread``'s bookkeeping (capacity limiter, run
variables, backend detection) cost about as much CPU on the loop as the hop
itself. This keeps its one guarantee that matters here: a caller that is
cancelled still waits for the thread to finish, so a half-done write is never
left running behind a released lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio

T = TypeVar("T")

# As many as anyio's default limiter allows: fsyncs wait on the disk, not the CPU.
_MAX_THREADS = 40
_executor: ThreadPoolExecutor | None = None
_owner_pid = 0


def _pool() -> ThreadPoolExecutor:
    """This process's pool: made on first use, and again in a forked worker (threads
    do not survive a fork, so an inherited pool would never run anything)."""
    global _executor, _owner_pid
    if _executor is None or _owner_pid != os.getpid():
        _executor = ThreadPoolExecutor(_MAX_THREADS, thread_name_prefix="cargohold-io")
        _owner_pid = os.getpid()
    return _executor


async def run_sync(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` on a worker thread.

    A cancelled caller still returns only once ``fn`` has finished, however many
    times it is cancelled meanwhile: its ``finally`` blocks may close the very
    descriptors ``fn`` is writing to. While it waits, anyio's cancel scopes are
    kept out: Starlette's streamed responses cancel their task through one when
    the client goes away, and anyio then cancels it again at every turn of the
    event loop, which would spin the loop for as long as ``fn`` runs.
    """
    future = asyncio.get_running_loop().run_in_executor(_pool(), fn, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with anyio.CancelScope(shield=True):
            while not future.done():
                # Cancelled again, or fn failed: either way the caller sees the
                # first cancellation, once fn is done.
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.shield(future)
        raise
