"""A small closed-loop HTTP/1.1 load generator (uvloop, raw protocol), for HEAD.

wrk 4.1 cannot time HEAD requests: its parser waits for the Content-Length bytes a
HEAD response announces but never sends, so every connection stalls. This fills
that gap with the same model as wrk: ``-c`` keep-alive connections, each sending
its next request as soon as the previous response is complete, for ``-d`` seconds.
It parses only the status line and Content-Length, so it costs a few microseconds
of CPU per request. Run as a separate process; prints one JSON object.

    python _loadgen.py URL [--method HEAD] [-c 32] [-d 10] [-H 'Accept: ...']
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from urllib.parse import urlsplit

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class Stats:
    def __init__(self) -> None:
        self.ok = 0
        self.bad = 0
        self.errors = 0
        self.latencies: list[float] = []


class Connection(asyncio.Protocol):
    def __init__(
        self, request: bytes, head: bool, stats: Stats, deadline: float, done: asyncio.Future
    ) -> None:
        self.request = request
        self.head = head
        self.stats = stats
        self.deadline = deadline
        self.done = done
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[: end + 2])
            length = 0
            if not self.head:
                match = _CONTENT_LENGTH.search(head)
                length = int(match.group(1)) if match else 0
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            now = time.perf_counter()
            self.stats.latencies.append(now - self.sent_at)
            if head[9:10] == b"2":
                self.stats.ok += 1
            else:
                self.stats.bad += 1
            if now >= self.deadline:
                self._finish()
                return
            self._send()

    def _finish(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if time.perf_counter() < self.deadline:
                self.stats.errors += 1
            self.done.set_result(None)


async def run(url: str, method: str, headers: list[str], connections: int, duration: float) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", *headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    stats = Stats()
    start = time.perf_counter()
    deadline = start + duration
    futures = []
    for _ in range(connections):
        done = loop.create_future()
        await loop.create_connection(
            lambda done=done: Connection(request, method == "HEAD", stats, deadline, done),
            host,
            port,
        )
        futures.append(done)
    await asyncio.wait_for(asyncio.gather(*futures), timeout=duration + 30)
    elapsed = time.perf_counter() - start
    lat = sorted(stats.latencies)

    def pct(p: float) -> float:
        return round(lat[min(int(p / 100 * len(lat)), len(lat) - 1)] * 1000, 3) if lat else 0.0

    return {
        "requests_per_s": round((stats.ok + stats.bad) / elapsed, 1),
        "requests": stats.ok + stats.bad,
        "latency_p50_ms": pct(50),
        "latency_p90_ms": pct(90),
        "latency_p99_ms": pct(99),
        "non_2xx": stats.bad,
        "socket_errors": stats.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("-H", "--header", action="append", default=[])
    args = parser.parse_args()
    runner = asyncio.run
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        pass
    started = time.perf_counter()
    result = runner(run(args.url, args.method, args.header, args.connections, args.duration))
    result["wall_s"] = round(time.perf_counter() - started, 3)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
