"""buildah and podman against a live server: build FROM scratch, push as OCI and as
Docker schema 2, and pull each back by digest."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.images import DOCKER_MANIFEST, OCI_MANIFEST, sha256_digest
from tests.support import LiveServer

if TYPE_CHECKING:
    from tests.e2e.conftest import Containers

pytestmark = pytest.mark.e2e

INSECURE = "--tls-verify=false"


def served(server: LiveServer, repo: str, reference: str) -> httpx.Response:
    response = httpx.get(
        f"{server.url}/v2/{repo}/manifests/{reference}",
        headers={"Accept": f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["Docker-Content-Digest"] == sha256_digest(response.content)
    return response


def read_file(containers: Containers, ref: str, path: str, workdir: Path) -> bytes:
    """Copy a file out of an image through a created (never started) container."""
    container = containers.podman("create", ref).stdout.strip()
    try:
        target = workdir / f"copied-{uuid.uuid4().hex[:8]}"
        containers.podman("cp", f"{container}:{path}", str(target))
        return target.read_bytes()
    finally:
        containers.podman("rm", "-f", container)


@pytest.fixture
def built(containers: Containers, live_server: LiveServer, repo: str, tmp_path: Path) -> bytes:
    """``buildah bud`` of a FROM scratch image tagged ``HOST/REPO:built``; the file's bytes."""
    content = f"built by buildah {uuid.uuid4()}\n".encode()
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "hello.txt").write_bytes(content)
    (context / "Containerfile").write_text(
        'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello.txt"]\n'
    )
    containers.buildah(
        "bud", "-q", "--format", "oci", "-t", f"{live_server.host}/{repo}:built", str(context)
    )
    return content


def test_buildah_push_oci_then_podman_pull_by_digest(
    containers: Containers, live_server: LiveServer, repo: str, built: bytes, tmp_path: Path
) -> None:
    ref = f"{live_server.host}/{repo}"
    digest_file = tmp_path / "oci.digest"
    containers.buildah(
        "push",
        INSECURE,
        "--format",
        "oci",
        "--digestfile",
        str(digest_file),
        f"{ref}:built",
        f"docker://{ref}:oci",
    )
    digest = digest_file.read_text().strip()

    response = served(live_server, repo, "oci")
    assert response.headers["Content-Type"] == OCI_MANIFEST
    assert response.headers["Docker-Content-Digest"] == digest

    containers.podman("rmi", "-f", f"{ref}:built")
    containers.podman("pull", "-q", INSECURE, f"{ref}@{digest}")
    assert (
        containers.podman(
            "image", "inspect", "--format", "{{.Digest}}", f"{ref}@{digest}"
        ).stdout.strip()
        == digest
    )
    assert read_file(containers, f"{ref}@{digest}", "/hello.txt", tmp_path) == built


def test_podman_push_v2s2_then_pull_by_digest(
    containers: Containers, live_server: LiveServer, repo: str, built: bytes, tmp_path: Path
) -> None:
    ref = f"{live_server.host}/{repo}"
    oci_file, docker_file = tmp_path / "oci.digest", tmp_path / "v2s2.digest"
    containers.podman(
        "push",
        INSECURE,
        "--format",
        "oci",
        "--digestfile",
        str(oci_file),
        f"{ref}:built",
        f"{ref}:oci",
    )
    containers.podman(
        "push",
        INSECURE,
        "--format",
        "v2s2",
        "--digestfile",
        str(docker_file),
        f"{ref}:built",
        f"{ref}:v2s2",
    )
    oci_digest = oci_file.read_text().strip()
    digest = docker_file.read_text().strip()
    assert digest != oci_digest

    response = served(live_server, repo, "v2s2")
    assert response.headers["Content-Type"] == DOCKER_MANIFEST
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.json()["mediaType"] == DOCKER_MANIFEST
    oci = served(live_server, repo, "oci")
    # Same image, two encodings: the config blob must be shared.
    assert response.json()["config"]["digest"] == oci.json()["config"]["digest"]

    containers.podman("rmi", "-f", f"{ref}:built")
    # podman lists several manifest types, one Accept header line each.
    containers.podman("pull", "-q", INSECURE, f"{ref}@{digest}")
    repo_digests = containers.podman(
        "image", "inspect", "--format", "{{json .RepoDigests}}", f"{ref}@{digest}"
    ).stdout
    assert f"{ref}@{digest}" in repo_digests
    assert read_file(containers, f"{ref}@{digest}", "/hello.txt", tmp_path) == built
