"""Parse and validate image manifests and indexes (OCI and Docker schema 2). No I/O.

The result says what the manifest must find in its repository (blobs and child
manifests) and what the referrers API needs to know (subject, artifact type).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cargohold.errors import ManifestInvalid
from cargohold.types import Digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})

# Layers that live outside the registry (Windows base layers); they carry URLs and
# are never uploaded, so a manifest may name them without the blob being present.
FOREIGN_LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
# Media types are RFC 6838 names: at most 127 characters each side of the slash.
MAX_MEDIA_TYPE = 255

# Content-Type values clients send when they do not say what the manifest is.
GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream"})


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: Any, where: str) -> Descriptor:
        if not isinstance(value, dict):
            raise ManifestInvalid(f"{where} must be a descriptor object")
        media_type = value.get("mediaType")
        digest = value.get("digest")
        size = value.get("size")
        if not isinstance(media_type, str) or not media_type or len(media_type) > MAX_MEDIA_TYPE:
            raise ManifestInvalid(f"{where}.mediaType must be a string of 1-255 characters")
        if not isinstance(digest, str):
            raise ManifestInvalid(f"{where}.digest must be a string")
        try:
            Digest.parse(digest)
        except Exception:
            raise ManifestInvalid(
                f"{where}.digest {digest[:150]!r} is not a valid digest"
            ) from None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestInvalid(f"{where}.size must be a non-negative integer")
        artifact_type = value.get("artifactType")
        if artifact_type is not None and (
            not isinstance(artifact_type, str) or len(artifact_type) > MAX_MEDIA_TYPE
        ):
            raise ManifestInvalid(
                f"{where}.artifactType must be a string of at most 255 characters"
            )
        urls = value.get("urls") or []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ManifestInvalid(f"{where}.urls must be a list of strings")
        return cls(media_type, digest, size, artifact_type, tuple(urls))


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    blobs: frozenset[str]
    manifests: frozenset[str]
    subject: Descriptor | None
    artifact_type: str | None
    annotations: dict[str, str] | None


def _annotations(doc: dict[str, Any]) -> dict[str, str] | None:
    value = doc.get("annotations")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestInvalid("annotations must map strings to strings")
    return value


def _media_type(content_type: str, doc: dict[str, Any]) -> str:
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    content_type = content_type.split(";", 1)[0].strip().lower()
    if content_type in SCHEMA1_TYPES or declared in SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        raise ManifestInvalid(
            "Docker schema 1 manifests are not supported; push schema 2 or OCI manifests"
        )
    if content_type in GENERIC_TYPES:
        media_type = declared or (OCI_INDEX if "manifests" in doc else OCI_MANIFEST)
    else:
        media_type = content_type
        if declared and declared != media_type:
            raise ManifestInvalid(
                f"Content-Type {content_type!r} does not match mediaType {declared!r}"
            )
    if media_type not in MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type {media_type[:200]!r}")
    return media_type


def parse_manifest(body: bytes, content_type: str) -> ParsedManifest:
    """Validate ``body`` as a manifest; raise `ManifestInvalid` saying what is wrong."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    media_type = _media_type(content_type, doc)
    if doc.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    subject = Descriptor.parse(doc["subject"], "subject") if doc.get("subject") else None
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and (
        not isinstance(artifact_type, str) or len(artifact_type) > MAX_MEDIA_TYPE
    ):
        raise ManifestInvalid("artifactType must be a string of at most 255 characters")
    annotations = _annotations(doc)

    if media_type in INDEX_TYPES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise ManifestInvalid("an index must have a manifests list")
        children = [Descriptor.parse(m, f"manifests[{i}]") for i, m in enumerate(entries)]
        return ParsedManifest(
            media_type,
            frozenset(),
            frozenset(c.digest for c in children),
            subject,
            artifact_type,
            annotations,
        )

    config = Descriptor.parse(doc.get("config"), "config")
    layers_doc = doc.get("layers")
    if not isinstance(layers_doc, list):
        raise ManifestInvalid("an image manifest must have a layers list")
    if media_type == DOCKER_MANIFEST and not layers_doc:
        raise ManifestInvalid("a Docker image manifest needs at least one layer")
    layers = [Descriptor.parse(layer, f"layers[{i}]") for i, layer in enumerate(layers_doc)]
    blobs = {config.digest}
    blobs.update(
        layer.digest
        for layer in layers
        if not (layer.media_type in FOREIGN_LAYER_TYPES and layer.urls)
    )
    if (
        artifact_type is None
        and config.media_type != OCI_IMAGE_CONFIG
        and media_type == OCI_MANIFEST
    ):
        # OCI 1.1: without artifactType, the config media type names the artifact.
        artifact_type = config.media_type
    return ParsedManifest(
        media_type, frozenset(blobs), frozenset(), subject, artifact_type, annotations
    )
