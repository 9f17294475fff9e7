"""A minimal blocking HTTP client for large blob transfers.

Bodies go out with ``socket.sendfile`` straight from the page cache, and responses
are read with ``readinto`` into one reused 1 MiB buffer, so the client spends almost
no CPU per byte: on a 2-core machine whatever the client burns is taken from the
server, and that should be as little as possible.
"""

from __future__ import annotations

import contextlib
import http.client
import time
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

READ_BUFFER = 1024 * 1024


class HttpError(RuntimeError):
    pass


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def _path(location: str) -> str:
    """Path and query of a Location header, absolute or relative."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _with_query(path: str, key: str, value: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{key}={value}"


class BlobClient:
    """One keep-alive connection to one registry."""

    def __init__(self, host: str, port: int, timeout: float = 300.0) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def close(self) -> None:
        self.conn.close()

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        file: tuple[BinaryIO, int, int] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> Reply:
        """Send a request; ``file`` is (file object, offset, count) to send as the body."""
        self.conn.putrequest(method, path, skip_accept_encoding=True)
        length = file[2] if file is not None else len(body)
        for key, value in (headers or {}).items():
            self.conn.putheader(key, value)
        self.conn.putheader("Content-Length", str(length))
        self.conn.endheaders(body if body else None)
        if file is not None:
            fileobj, offset, count = file
            sock = self.conn.sock
            assert sock is not None
            # If the server answers early (an error), the answer is read below.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendfile(fileobj, offset, count)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status not in expect:
            raise HttpError(f"{method} {path[:80]} -> {resp.status}: {data[:300]!r}")
        return Reply(resp.status, resp.headers, data)

    def start_upload(self, repo: str) -> str:
        reply = self.request("POST", f"/v2/{repo}/blobs/uploads/", expect=(202,))
        return _path(reply.headers["Location"])

    def push_monolithic(self, repo: str, f: BinaryIO, size: int, digest: str) -> None:
        """POST to open an upload, then one PUT ?digest= carrying the whole blob."""
        location = self.start_upload(repo)
        self.request(
            "PUT",
            _with_query(location, "digest", digest),
            headers={"Content-Type": "application/octet-stream"},
            file=(f, 0, size),
            expect=(201,),
        )

    def push_chunked(self, repo: str, f: BinaryIO, size: int, digest: str, chunk: int) -> None:
        """POST, one PATCH per ``chunk`` bytes with Content-Range, then an empty PUT."""
        location = self.start_upload(repo)
        offset = 0
        while offset < size:
            count = min(chunk, size - offset)
            reply = self.request(
                "PATCH",
                location,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + count - 1}",
                },
                file=(f, offset, count),
                expect=(202,),
            )
            location = _path(reply.headers["Location"])
            offset += count
        self.request("PUT", _with_query(location, "digest", digest), expect=(201,))

    def pull(self, repo: str, digest: str, hasher: object | None = None) -> int:
        """GET a blob, stream it into a reused buffer and drop it; bytes read."""
        self.conn.putrequest("GET", f"/v2/{repo}/blobs/{digest}", skip_accept_encoding=True)
        self.conn.endheaders()
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise HttpError(f"GET blob -> {resp.status}: {resp.read()[:300]!r}")
        buf = bytearray(READ_BUFFER)
        view = memoryview(buf)
        total = 0
        while True:
            n = resp.readinto(view)
            if not n:
                break
            if hasher is not None:
                hasher.update(view[:n])  # type: ignore[attr-defined]
            total += n
        return total


def timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start
