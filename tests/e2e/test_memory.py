"""A 1 GiB blob goes in and out of a live server whose memory stays small.

The blob is streamed from a generator and hashed on the fly on both sides; a
thread samples the server's resident set size (with any child processes) every
50 ms while it runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.test_durability import REPO, Blob, blob_url, start_upload
from tests.support import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MiB = 1024 * 1024
GiB = 1024 * MiB
BLOB_SIZE = GiB
PATCH_SIZE = 256 * MiB
PEAK_RSS_LIMIT = 150 * MiB
FREE_SPACE_NEEDED = 3 * GiB


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from the parent ids in ``/proc/*/stat``."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ")".
        ppid = int(stat.rpartition(")")[2].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found.extend(children)
        todo.extend(children)
    return found


class RssSampler(threading.Thread):
    """Sum of VmRSS over a process and its descendants, every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.max_processes = 1
        self._done = threading.Event()

    def run(self) -> None:
        pids = [self.pid, *_descendants(self.pid)]
        while True:
            if self.samples % 20 == 0:  # look for new children about once a second
                pids = [self.pid, *_descendants(self.pid)]
                self.max_processes = max(self.max_processes, len(pids))
            self.peak = max(self.peak, sum(_rss_bytes(pid) for pid in pids))
            self.samples += 1
            if self._done.wait(self.interval):
                return

    def stop(self) -> int:
        self._done.set()
        self.join(5)
        return self.peak


def hashed(pieces: Iterator[bytes], hasher: hashlib._Hash) -> Iterator[bytes]:
    for piece in pieces:
        hasher.update(piece)
        yield piece


def test_one_gib_push_and_pull_in_bounded_memory(fresh_server: LiveServer) -> None:
    free = shutil.disk_usage(fresh_server.data_dir.parent).free
    if free < FREE_SPACE_NEEDED:
        pytest.skip(
            f"needs {FREE_SPACE_NEEDED // GiB} GiB free under {fresh_server.data_dir.parent}, "
            f"has {free / GiB:.1f} GiB"
        )
    server = fresh_server.start()
    assert server.process is not None
    idle_rss = _rss_bytes(server.process.pid)
    sampler = RssSampler(server.process.pid)
    sampler.start()
    blob = Blob(seed=42, size=BLOB_SIZE)
    try:
        with httpx.Client(base_url=server.url, timeout=httpx.Timeout(300.0)) as client:
            started = time.monotonic()
            location, _ = start_upload(client)
            pushed = hashlib.sha256()
            for start in range(0, blob.size, PATCH_SIZE):
                end = min(start + PATCH_SIZE, blob.size)
                r = client.patch(
                    location,
                    content=hashed(blob.iter(start, end), pushed),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(end - start),
                        "Content-Range": f"{start}-{end - 1}",
                    },
                )
                assert r.status_code == 202, r.text
                assert r.headers["Range"] == f"0-{end - 1}"
                location = r.headers["Location"]
            digest = f"sha256:{pushed.hexdigest()}"
            r = client.put(location, params={"digest": digest}, headers={"Content-Length": "0"})
            assert r.status_code == 201, r.text
            push_seconds = time.monotonic() - started

            started = time.monotonic()
            pulled = hashlib.sha256()
            size = 0
            with client.stream("GET", blob_url(digest)) as r:
                assert r.status_code == 200
                assert int(r.headers["Content-Length"]) == blob.size
                for piece in r.iter_bytes():
                    pulled.update(piece)
                    size += len(piece)
            pull_seconds = time.monotonic() - started
            assert size == blob.size
            assert f"sha256:{pulled.hexdigest()}" == digest

            r = client.get(blob_url(digest), headers={"Range": "bytes=1000-1999"})
            assert r.status_code == 206, r.text
            assert r.headers["Content-Range"] == f"bytes 1000-1999/{blob.size}"
            assert r.content == blob.bytes(1000, 2000)
            last = blob.size - 1
            r = client.get(blob_url(digest), headers={"Range": f"bytes={last - 99}-"})
            assert r.status_code == 206, r.text
            assert r.content == blob.bytes(last - 99, blob.size)
    finally:
        peak = sampler.stop()
        server.stop()
        shutil.rmtree(server.data_dir / "storage", ignore_errors=True)

    print(
        f"\n{REPO}: 1 GiB push {BLOB_SIZE / MiB / push_seconds:.0f} MiB/s "
        f"({push_seconds:.1f}s), pull {BLOB_SIZE / MiB / pull_seconds:.0f} MiB/s "
        f"({pull_seconds:.1f}s); server RSS idle {idle_rss / MiB:.1f} MiB, "
        f"peak {peak / MiB:.1f} MiB over {sampler.samples} samples, "
        f"{sampler.max_processes} process(es)"
    )
    assert sampler.samples > 10
    assert peak < PEAK_RSS_LIMIT, f"server peak RSS {peak / MiB:.1f} MiB"
