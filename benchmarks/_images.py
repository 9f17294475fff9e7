"""Small OCI images (config + one layer + manifest) and a lean pusher for them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    tag: str
    config: bytes
    layer: bytes
    manifest: bytes

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def layer_digest(self) -> str:
        return sha256(self.layer)


def make_image(tag: str, config_bytes: int = 1024, layer_bytes: int = 4096) -> Image:
    """A unique image: a JSON config padded to ``config_bytes``, a random layer."""
    config_doc = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"bench.tag": tag}},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [{"comment": ""}],
    }
    layer = os.urandom(layer_bytes)
    config_doc["rootfs"]["diff_ids"] = [sha256(layer)]  # type: ignore[index]
    raw = json.dumps(config_doc, separators=(",", ":"))
    pad = max(config_bytes - len(raw), 0)
    config_doc["history"][0]["comment"] = "x" * pad  # type: ignore[index]
    config = json.dumps(config_doc, separators=(",", ":")).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
        },
        separators=(",", ":"),
    ).encode()
    return Image(tag, config, layer, manifest)


class PushError(RuntimeError):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection over asyncio streams.

    aiohttp cost about half as much CPU per image as Cargohold's server, on a
    machine whose two cores the client and the server share; this parses only the
    status line, the headers and a Content-Length or chunked body, for a fraction
    of that.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, base: str) -> Connection:
        parts = urlsplit(base)
        assert parts.hostname is not None and parts.port is not None
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, parts.netloc)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    async def request(
        self, method: str, target: str, headers: tuple[str, ...] = (), body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        head = [f"{method} {target} HTTP/1.1", f"Host: {self.host}", *headers]
        if body or method in ("PUT", "POST", "PATCH"):
            head.append(f"Content-Length: {len(body)}")
        self.writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304):
            return status, fields, b""
        if "content-length" in fields:
            return status, fields, await self.reader.readexactly(int(fields["content-length"]))
        if fields.get("transfer-encoding", "").lower() == "chunked":
            return status, fields, await self._chunked()
        raise PushError(f"{method} {target} -> {status} without a body length")

    async def _chunked(self) -> bytes:
        data = bytearray()
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers sent here
                return bytes(data)
            data += await self.reader.readexactly(size)
            await self.reader.readexactly(2)


def _check(status: int, body: bytes, expect: tuple[int, ...], what: str) -> None:
    if status not in expect:
        raise PushError(f"{what} -> {status}: {body[:300]!r}")


def _target(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def push_blob(conn: Connection, repo: str, data: bytes, digest: str) -> None:
    """What docker/containerd do per blob: HEAD to see if it is there, POST, PUT."""
    status, _, body = await conn.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    if status == 200:
        return
    _check(status, body, (404,), "HEAD blob")
    status, fields, body = await conn.request("POST", f"/v2/{repo}/blobs/uploads/")
    _check(status, body, (202,), "POST upload")
    target = _target(fields["location"])
    target += f"{'&' if '?' in target else '?'}digest={digest}"
    status, _, body = await conn.request(
        "PUT", target, ("Content-Type: application/octet-stream",), data
    )
    _check(status, body, (201,), "PUT upload")


async def push_image(conn: Connection, repo: str, image: Image) -> None:
    await push_blob(conn, repo, image.layer, image.layer_digest)
    await push_blob(conn, repo, image.config, image.config_digest)
    target = f"/v2/{repo}/manifests/{image.tag}"
    media = (f"Content-Type: {OCI_MANIFEST}",)
    status, _, body = await conn.request("PUT", target, media, image.manifest)
    _check(status, body, (201,), "PUT manifest")


async def push_many(
    base: str, repo: str, images: list[Image], concurrency: int, deadline_s: float
) -> tuple[float, int]:
    """Push ``images`` over ``concurrency`` workers, one connection each; (seconds,
    images pushed). Stops early (with fewer images) if ``deadline_s`` passes.
    """
    queue: asyncio.Queue[Image] = asyncio.Queue()
    for image in images:
        queue.put_nowait(image)
    done = 0

    async def worker() -> None:
        nonlocal done
        conn = await Connection.open(base)
        try:
            while True:
                try:
                    image = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await push_image(conn, repo, image)
                done += 1
        finally:
            await conn.close()

    start = time.perf_counter()
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=deadline_s)
    except TimeoutError:
        pass
    finally:
        for task in tasks:
            task.cancel()
    return time.perf_counter() - start, done
