"""The docker CLI and a private dockerd against a live server: build, push, pull by tag
and by digest, and manifest lists made with ``docker manifest``."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.images import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, sha256_digest
from tests.support import LiveServer

if TYPE_CHECKING:
    from tests.e2e.conftest import Docker

pytestmark = pytest.mark.e2e

PUSHED = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")
ACCEPT_LISTS = f"{DOCKER_LIST}, {OCI_INDEX}"


def build(docker: Docker, context: Path, tag: str, content: bytes, *extra: str) -> None:
    context.mkdir(parents=True)
    (context / "hello.txt").write_bytes(content)
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello.txt"]\n'
    )
    docker("build", "-q", *extra, "-t", tag, str(context))


def push(docker: Docker, ref: str) -> str:
    """``docker push``; the manifest digest it reports."""
    out = docker("push", ref).stdout
    match = PUSHED.search(out)
    assert match, out
    return match.group(1)


def read_file(docker: Docker, ref: str, path: str, workdir: Path) -> bytes:
    """Copy one file out of an image through a created (never started) container."""
    container = docker("create", ref).stdout.strip()
    try:
        target = workdir / f"copied-{uuid.uuid4().hex[:8]}"
        docker("cp", f"{container}:{path}", str(target))
        return target.read_bytes()
    finally:
        docker("rm", container)


def test_push_then_pull_by_tag_and_digest(
    docker: Docker, live_server: LiveServer, repo: str, tmp_path: Path
) -> None:
    ref = f"{live_server.host}/{repo}"
    content = f"built by docker {uuid.uuid4()}\n".encode()
    build(docker, tmp_path / "ctx", f"{ref}:v1", content)
    image_id = docker("image", "inspect", "--format", "{{.Id}}", f"{ref}:v1").stdout.strip()

    digest = push(docker, f"{ref}:v1")
    served = httpx.get(
        f"{live_server.url}/v2/{repo}/manifests/v1", headers={"Accept": DOCKER_MANIFEST}
    )
    assert served.status_code == 200
    assert served.headers["Content-Type"] == DOCKER_MANIFEST
    assert served.headers["Docker-Content-Digest"] == digest == sha256_digest(served.content)
    # The image ID is the config digest; the registry must hand back that config.
    assert json.loads(served.content)["config"]["digest"] == image_id

    docker("image", "rm", "-f", image_id)
    pulled = docker("pull", f"{ref}:v1").stdout
    assert f"Digest: {digest}" in pulled
    repo_digests = json.loads(
        docker("image", "inspect", "--format", "{{json .RepoDigests}}", f"{ref}:v1").stdout
    )
    assert repo_digests == [f"{ref}@{digest}"]
    assert read_file(docker, f"{ref}:v1", "/hello.txt", tmp_path) == content

    docker("image", "rm", "-f", image_id)
    docker("pull", f"{ref}@{digest}")
    inspected = docker("image", "inspect", "--format", "{{.Id}}", f"{ref}@{digest}").stdout
    assert inspected.strip() == image_id
    assert read_file(docker, f"{ref}@{digest}", "/hello.txt", tmp_path) == content


def test_pull_of_unknown_tag_fails(docker: Docker, live_server: LiveServer, repo: str) -> None:
    failed = docker("pull", f"{live_server.host}/{repo}:missing", check=False)
    assert failed.returncode != 0
    assert "not found" in failed.stderr or "manifest unknown" in failed.stderr


def test_manifest_list_push_and_inspect(
    docker: Docker, live_server: LiveServer, repo: str, tmp_path: Path
) -> None:
    ref = f"{live_server.host}/{repo}"
    children: dict[str, str] = {}
    for arch in ("amd64", "arm64"):
        content = f"{arch} {uuid.uuid4()}\n".encode()
        build(docker, tmp_path / arch, f"{ref}:{arch}", content, "--platform", f"linux/{arch}")
        children[arch] = push(docker, f"{ref}:{arch}")

    docker("manifest", "create", "--insecure", f"{ref}:multi", f"{ref}:amd64", f"{ref}:arm64")
    # --purge drops the local copy, so the inspect below must ask the registry.
    out = docker("manifest", "push", "--purge", "--insecure", f"{ref}:multi").stdout
    match = re.search(r"sha256:[0-9a-f]{64}", out)
    assert match, out
    list_digest = match.group(0)

    served = httpx.get(
        f"{live_server.url}/v2/{repo}/manifests/multi", headers={"Accept": ACCEPT_LISTS}
    )
    assert served.status_code == 200
    assert served.headers["Docker-Content-Digest"] == list_digest == sha256_digest(served.content)
    assert served.headers["Content-Type"] in (DOCKER_LIST, OCI_INDEX)

    inspected = json.loads(docker("manifest", "inspect", "--insecure", f"{ref}:multi").stdout)
    assert inspected["mediaType"] == served.headers["Content-Type"]
    platforms = {
        m["platform"]["architecture"]: m["digest"]
        for m in inspected["manifests"]
        if m["platform"]["os"] == "linux"
    }
    assert platforms == children
