"""Whether a range of a file is in the page cache, so reading it cannot wait on the disk.

A read from the page cache is a memory copy, cheaper on the event loop than the
wake-ups of a hop to a worker thread and back: measured here (8 pulls of 256 MiB
in a row, 10 alternating rounds), reading cached 1 MiB chunks inline pulled 12%
faster (median; ahead in 9 of 10). A read that may go to the disk must stay off
the loop, so the loop asks first with cachestat(2) (Linux 6.5 and later, one
syscall of about 3 us, made with the GIL held: releasing it for so short a call
cost more in thread switches, and the gain was gone); where cachestat is missing
every read goes to a worker thread, as before.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import sys

# cachestat has this number on every architecture (syscalls added since 2019 share
# one table).
_CACHESTAT = 451


class _CacheStat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")
    ]


class _Range(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint64), ("length", ctypes.c_uint64)]


_syscall = ctypes.PyDLL(None, use_errno=True).syscall if sys.platform == "linux" else None
_available = _syscall is not None


def cached(fd: int, offset: int, length: int) -> bool:
    """True when every page of ``length`` bytes at ``offset`` is in the page cache;
    False when some are not, or when the system cannot tell."""
    global _available
    if not _available or length <= 0:
        return False
    first = offset - offset % mmap.PAGESIZE
    pages = -(-(offset + length - first) // mmap.PAGESIZE)
    stat, span = _CacheStat(), _Range(first, pages * mmap.PAGESIZE)
    assert _syscall is not None
    args = (ctypes.c_long(_CACHESTAT), ctypes.c_long(fd), ctypes.byref(span))
    if _syscall(*args, ctypes.byref(stat), ctypes.c_long(0)) != 0:
        if ctypes.get_errno() in (errno.ENOSYS, errno.EPERM):
            _available = False  # an older kernel, or a sandbox that forbids it
        return False
    return int(stat.cache) >= pages
