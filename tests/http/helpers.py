"""Small builders for HTTP-level tests: blobs, images, indexes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

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
