"""Small OCI images (config + one layer + manifest) and an aiohttp pusher for them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

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


async def _check(resp: aiohttp.ClientResponse, expect: tuple[int, ...], what: str) -> None:
    if resp.status not in expect:
        body = await resp.read()
        raise PushError(f"{what} -> {resp.status}: {body[:300]!r}")
    await resp.read()


async def push_blob(
    session: aiohttp.ClientSession, base: str, repo: str, data: bytes, digest: str
) -> None:
    """What docker/containerd do per blob: HEAD to see if it is there, POST, PUT."""
    async with session.head(f"{base}/v2/{repo}/blobs/{digest}") as resp:
        if resp.status == 200:
            return
        await _check(resp, (404,), "HEAD blob")
    async with session.post(f"{base}/v2/{repo}/blobs/uploads/") as resp:
        await _check(resp, (202,), "POST upload")
        location = resp.headers["Location"]
    url = URL(location, encoded=True)
    if not url.is_absolute():
        url = URL(base + location, encoded=True)
    url = url.update_query({"digest": digest})
    async with session.put(
        url, data=data, headers={"Content-Type": "application/octet-stream"}
    ) as resp:
        await _check(resp, (201,), "PUT upload")


async def push_image(session: aiohttp.ClientSession, base: str, repo: str, image: Image) -> None:
    await push_blob(session, base, repo, image.layer, image.layer_digest)
    await push_blob(session, base, repo, image.config, image.config_digest)
    async with session.put(
        f"{base}/v2/{repo}/manifests/{image.tag}",
        data=image.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    ) as resp:
        await _check(resp, (201,), "PUT manifest")


async def push_many(
    base: str, repo: str, images: list[Image], concurrency: int, deadline_s: float
) -> tuple[float, int]:
    """Push ``images`` over ``concurrency`` workers; (seconds, images pushed).

    Stops early (with fewer images) if ``deadline_s`` passes.
    """
    queue: asyncio.Queue[Image] = asyncio.Queue()
    for image in images:
        queue.put_nowait(image)
    done = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal done
            while True:
                try:
                    image = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await push_image(session, base, repo, image)
                done += 1

        start = time.perf_counter()
        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=deadline_s)
        except TimeoutError:
            pass
        finally:
            for task in tasks:
                task.cancel()
        elapsed = time.perf_counter() - start
    return elapsed, done
