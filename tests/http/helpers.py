"""Small builders for HTTP-level tests: blobs, images, indexes."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from cargohold.config import Settings
from cargohold.core.registry import Registry
from cargohold.http.app import create_app
from cargohold.services import build_registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def error_codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


async def push_blob(client: httpx.AsyncClient, name: str, data: bytes) -> str:
    digest = sha256(data)
    r = await client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    return digest


def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}


def image_manifest(
    config: bytes,
    layers: list[bytes],
    subject: dict[str, Any] | None = None,
    artifact_type: str | None = None,
    config_type: str = OCI_CONFIG,
) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config_type, config),
        "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
    }
    if subject is not None:
        doc["subject"] = subject
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    return json.dumps(doc).encode()


async def push_image(
    client: httpx.AsyncClient,
    name: str,
    reference: str,
    layers: list[bytes] | None = None,
    config: bytes | None = None,
    **manifest_args: Any,
) -> tuple[str, bytes]:
    """Push config, layers and manifest; return (manifest digest, manifest bytes)."""
    config = config if config is not None else json.dumps({"architecture": "amd64"}).encode()
    layers = layers if layers is not None else [b"layer-" + name.encode()]
    for blob in [config, *layers]:
        await push_blob(client, name, blob)
    manifest = image_manifest(config, layers, **manifest_args)
    r = await client.put(
        f"/v2/{name}/manifests/{reference}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"], manifest


ADMIN = ("root", "root-password")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def admin_client(
    tmp_path: Path, **sections: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Registry]]:
    """The app with these settings sections and an administrator (ADMIN), and a
    client that sends the administrator's credentials."""
    settings = Settings(data_dir=tmp_path / "data", **sections)
    registry = build_registry(settings)
    await registry.open()
    await registry.accounts.create_user(None, *ADMIN, admin=True)
    registry.access._has_users = True  # skip the one-second setup-mode recheck
    transport = httpx.ASGITransport(app=create_app(settings, registry))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://registry", headers=basic(*ADMIN)
        ) as client:
            yield client, registry
    finally:
        await registry.close()


@asynccontextmanager
async def another_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second registry over the same data, as another worker or a
    restarted server would be: nothing it holds in memory comes from the first."""
    registry = build_registry(settings)
    await registry.open()
    try:
        transport = httpx.ASGITransport(app=create_app(settings, registry))
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            yield client
    finally:
        await registry.close()


async def create_package_repository(
    client: httpx.AsyncClient, name: str, fmt: str, **extra: Any
) -> dict[str, Any]:
    """A hosted package repository through the API, as its caller; its document."""
    r = await client.post(
        "/api/v1/package-repositories", json={"name": name, "format": fmt, **extra}
    )
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc
