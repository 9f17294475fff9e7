"""Several server processes on one port: they share storage and the database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support import LiveServer

pytestmark = pytest.mark.e2e

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "data", env={"CARGOHOLD_HTTP__WORKERS": "2"}).start()
    yield server
    server.stop()


def fresh(server: LiveServer) -> httpx.Client:
    """A client whose every request opens a new connection, so requests spread
    over the workers."""
    return httpx.Client(
        base_url=server.url, limits=httpx.Limits(max_keepalive_connections=0), timeout=30
    )


def push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    digest = sha256(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return digest


def push_image(client: httpx.Client, repo: str, tag: str, layer: bytes) -> str:
    config = json.dumps({"tag": tag}).encode()
    for blob in (config, layer):
        push_blob(client, repo, blob)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    r = client.put(
        f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    return str(r.headers["Docker-Content-Digest"])


def test_two_workers_start_on_an_empty_data_dir(tmp_path: Path) -> None:
    for attempt in range(3):
        server = LiveServer(tmp_path / f"data{attempt}", env={"CARGOHOLD_HTTP__WORKERS": "2"})
        server.start()
        try:
            with fresh(server) as client:
                for _ in range(6):
                    assert client.get("/v2/").status_code == 200
        finally:
            server.stop()


def test_chunked_uploads_continue_on_any_worker(workers: LiveServer) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    with fresh(workers) as client:
        for _ in range(8):
            r = client.post("/v2/team/app/blobs/uploads/")
            location = r.headers["Location"]
            for offset in range(0, len(data), 256 * 1024):
                chunk = data[offset : offset + 256 * 1024]
                r = client.patch(
                    location,
                    content=chunk,
                    headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}"},
                )
                assert r.status_code == 202, r.text
                location = r.headers["Location"]
            r = client.put(location, params={"digest": sha256(data)})
            assert r.status_code == 201, r.text
        assert client.get(f"/v2/team/app/blobs/{sha256(data)}").content == data


def test_a_moved_tag_is_seen_by_every_worker(workers: LiveServer) -> None:
    with fresh(workers) as client:
        first = push_image(client, "team/app", "v1", b"first layer")
        second = push_image(client, "team/app", "v1", b"second layer")
        assert first != second
        seen = {
            client.head("/v2/team/app/manifests/v1").headers["Docker-Content-Digest"]
            for _ in range(20)
        }
        assert seen == {second}
        assert client.delete("/v2/team/app/manifests/v1").status_code == 202
        codes = {client.get("/v2/team/app/manifests/v1").status_code for _ in range(20)}
        assert codes == {404}


def test_concurrent_pushes_across_workers(workers: LiveServer) -> None:
    def push(i: int) -> tuple[str, str]:
        with fresh(workers) as client:
            return f"v{i}", push_image(client, "team/many", f"v{i}", f"layer {i}".encode() * 500)

    with ThreadPoolExecutor(max_workers=8) as pool:
        pushed = dict(pool.map(push, range(40)))
    with fresh(workers) as client:
        assert sorted(client.get("/v2/team/many/tags/list").json()["tags"]) == sorted(pushed)
        for tag, digest in pushed.items():
            r = client.get(f"/v2/team/many/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
            assert r.headers["Docker-Content-Digest"] == digest
