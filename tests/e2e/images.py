"""Build small test images offline with umoci, and helpers the client tests share.

Every image is an OCI layout on disk: ``build_image`` makes a single-layer image
holding the given files, ``build_index`` wraps several of them in a multi-platform
OCI image index tagged in the same layout. Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import require_program

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
REF_NAME = "org.opencontainers.image.ref.name"


def run(
    *args: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a client program; on failure the assertion shows its output."""
    argv = [os.fspath(a) for a in args]
    full_env = {**os.environ, **env} if env is not None else None
    result = subprocess.run(
        argv,
        env=full_env,
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        input=stdin,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def unique_name(prefix: str, label: str = "") -> str:
    """A repository name no other test uses, valid under the OCI name grammar."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40]
    tail = f"{slug}-{uuid.uuid4().hex[:8]}" if slug else uuid.uuid4().hex[:8]
    return f"{prefix}/{tail}"


@dataclass(frozen=True)
class Layout:
    """An OCI image layout directory (``oci:`` transport in skopeo terms)."""

    path: Path

    def ref(self, tag: str) -> str:
        return f"oci:{self.path}:{tag}"

    def index(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.path / "index.json").read_text())
        return doc

    def descriptor(self, tag: str) -> dict[str, Any]:
        """The top-level descriptor tagged ``tag`` in ``index.json``."""
        for entry in self.index()["manifests"]:
            if entry.get("annotations", {}).get(REF_NAME) == tag:
                return dict(entry)
        raise KeyError(f"no tag {tag!r} in {self.path}")

    def digest(self, tag: str) -> str:
        return str(self.descriptor(tag)["digest"])

    def blob(self, digest: str) -> bytes:
        algorithm, _, hex_ = digest.partition(":")
        return (self.path / "blobs" / algorithm / hex_).read_bytes()

    def manifest(self, tag: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.blob(self.digest(tag)))
        return doc

    def read_file(self, tag: str, path: str, workdir: Path) -> bytes:
        """Unpack image ``tag`` with umoci and return the bytes of ``path`` in its rootfs."""
        bundle = workdir / f"bundle-{uuid.uuid4().hex[:8]}"
        run(
            require_program("umoci"),
            "unpack",
            "--rootless",
            "--image",
            f"{self.path}:{tag}",
            bundle,
        )
        return (bundle / "rootfs" / path.lstrip("/")).read_bytes()


def init_layout(path: Path) -> Layout:
    run(require_program("umoci"), "init", "--layout", path)
    return Layout(path)


def build_image(
    layout: Layout,
    tag: str,
    files: Mapping[str, bytes],
    *,
    arch: str = "amd64",
    os_name: str = "linux",
) -> str:
    """Add a one-layer image with ``files`` to ``layout`` as ``tag``; its manifest digest."""
    umoci = require_program("umoci")
    image = f"{layout.path}:{tag}"
    bundle = layout.path.parent / f"bundle-{tag}-{uuid.uuid4().hex[:8]}"
    run(umoci, "new", "--image", image)
    run(umoci, "unpack", "--rootless", "--image", image, bundle)
    rootfs = bundle / "rootfs"
    for name, content in files.items():
        target = rootfs / name.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    run(umoci, "repack", "--image", image, bundle)
    first = next(iter(files), "/")
    run(
        umoci,
        "config",
        "--image",
        image,
        "--os",
        os_name,
        "--architecture",
        arch,
        "--config.cmd",
        "/" + first.lstrip("/"),
    )
    run(umoci, "gc", "--layout", layout.path)
    return layout.digest(tag)


def build_index(layout: Layout, tag: str, platforms: Sequence[tuple[str, str]]) -> str:
    """Tag an OCI image index over existing images; ``platforms`` is (image tag, arch).

    umoci cannot write indexes itself, so the index blob is written into the
    layout directly, exactly as the image-layout spec describes.
    """
    entries = []
    for image_tag, arch in platforms:
        desc = layout.descriptor(image_tag)
        entries.append(
            {
                "mediaType": desc["mediaType"],
                "digest": desc["digest"],
                "size": desc["size"],
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    data = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries},
        separators=(",", ":"),
    ).encode()
    digest = sha256_digest(data)
    (layout.path / "blobs" / "sha256" / digest.partition(":")[2]).write_bytes(data)
    index = layout.index()
    index["manifests"].append(
        {
            "mediaType": OCI_INDEX,
            "digest": digest,
            "size": len(data),
            "annotations": {REF_NAME: tag},
        }
    )
    (layout.path / "index.json").write_text(json.dumps(index))
    return digest


@dataclass(frozen=True)
class MultiArch:
    """A layout with an ``amd64`` and an ``arm64`` image and an index ``multi`` over both."""

    layout: Layout
    index_digest: str
    digests: dict[str, str]
    contents: dict[str, bytes]


def build_multiarch(path: Path, file_name: str = "hello.txt") -> MultiArch:
    layout = init_layout(path)
    contents = {arch: f"hello from {arch} {uuid.uuid4()}\n".encode() for arch in ("amd64", "arm64")}
    digests = {
        arch: build_image(layout, arch, {file_name: content}, arch=arch)
        for arch, content in contents.items()
    }
    index_digest = build_index(layout, "multi", [(arch, arch) for arch in digests])
    return MultiArch(layout, index_digest, digests, contents)
