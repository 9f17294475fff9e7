"""skopeo against a live server: OCI and Docker pushes, multi-arch copies, tags, deletes
and cross-repository mounts. Images come from umoci layouts built offline."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.images import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Layout,
    build_image,
    build_multiarch,
    init_layout,
    run,
    sha256_digest,
    unique_name,
)
from tests.support import LiveServer, require_program

pytestmark = pytest.mark.e2e

INSECURE = "--tls-verify=false"
ACCEPT_ALL = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST])


class Skopeo:
    def __init__(self, server: LiveServer) -> None:
        self.path = require_program("skopeo")
        self.host = server.host

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(self.path, *args, check=check)

    def ref(self, repo: str, reference: str = "v1") -> str:
        sep = "@" if ":" in reference else ":"
        return f"docker://{self.host}/{repo}{sep}{reference}"

    def push(self, source: str, repo: str, tag: str = "v1", *extra: str) -> None:
        self("copy", "-q", *extra, "--dest-tls-verify=false", source, self.ref(repo, tag))

    def raw_digest(self, repo: str, reference: str = "v1") -> str:
        raw = self("inspect", "--raw", INSECURE, self.ref(repo, reference)).stdout
        return sha256_digest(raw.encode())


@pytest.fixture
def skopeo(live_server: LiveServer) -> Skopeo:
    return Skopeo(live_server)


@pytest.fixture
def image(tmp_path: Path) -> tuple[Layout, str, bytes]:
    """A one-layer OCI image tagged ``v1``: (layout, manifest digest, file content)."""
    layout = init_layout(tmp_path / "src")
    content = f"hello from {tmp_path.name}\n".encode()
    return layout, build_image(layout, "v1", {"hello.txt": content}), content


def manifest_head(server: LiveServer, repo: str, reference: str) -> httpx.Response:
    return httpx.head(
        f"{server.url}/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT_ALL}
    )


def test_oci_image_round_trip(
    skopeo: Skopeo,
    live_server: LiveServer,
    repo: str,
    image: tuple[Layout, str, bytes],
    tmp_path: Path,
) -> None:
    layout, digest, content = image
    skopeo.push(layout.ref("v1"), repo)

    head = manifest_head(live_server, repo, "v1")
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.headers["Content-Type"] == OCI_MANIFEST
    assert skopeo.raw_digest(repo) == digest

    out = Layout(tmp_path / "out")
    skopeo("copy", "-q", "--src-tls-verify=false", skopeo.ref(repo), out.ref("v1"))
    assert out.digest("v1") == digest
    assert out.read_file("v1", "hello.txt", tmp_path) == content


def test_copy_all_preserves_index_digest(
    skopeo: Skopeo, live_server: LiveServer, repo: str, tmp_path: Path
) -> None:
    multi = build_multiarch(tmp_path / "src")
    skopeo.push(multi.layout.ref("multi"), repo, "multi", "--all")

    served = httpx.get(
        f"{live_server.url}/v2/{repo}/manifests/multi", headers={"Accept": OCI_INDEX}
    )
    assert served.status_code == 200
    assert served.headers["Content-Type"] == OCI_INDEX
    assert served.headers["Docker-Content-Digest"] == multi.index_digest
    assert sha256_digest(served.content) == multi.index_digest
    for digest in multi.digests.values():
        assert manifest_head(live_server, repo, digest).status_code == 200

    # skopeo asks with one Accept header line per media type, as every Go client does.
    assert skopeo.raw_digest(repo, "multi") == multi.index_digest
    out = Layout(tmp_path / "out")
    skopeo("copy", "-q", "--all", "--src-tls-verify=false", skopeo.ref(repo, "multi"), out.ref("m"))
    assert out.digest("m") == multi.index_digest
    for digest in multi.digests.values():
        assert sha256_digest(out.blob(digest)) == digest


def test_override_arch_pulls_one_platform(skopeo: Skopeo, repo: str, tmp_path: Path) -> None:
    multi = build_multiarch(tmp_path / "src")
    skopeo.push(multi.layout.ref("multi"), repo, "multi", "--all")

    out = Layout(tmp_path / "out")
    skopeo(
        "copy",
        "-q",
        "--override-arch",
        "arm64",
        "--override-os",
        "linux",
        "--src-tls-verify=false",
        skopeo.ref(repo, "multi"),
        out.ref("arm"),
    )
    assert out.digest("arm") == multi.digests["arm64"]
    assert out.read_file("arm", "hello.txt", tmp_path) == multi.contents["arm64"]


def test_docker_schema2_push_is_served_as_docker(
    skopeo: Skopeo,
    live_server: LiveServer,
    repo: str,
    image: tuple[Layout, str, bytes],
    tmp_path: Path,
) -> None:
    layout, oci_digest, content = image
    skopeo.push(layout.ref("v1"), repo, "v1", "--format", "v2s2")

    served = httpx.get(f"{live_server.url}/v2/{repo}/manifests/v1")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == DOCKER_MANIFEST
    assert json.loads(served.content)["mediaType"] == DOCKER_MANIFEST
    digest = served.headers["Docker-Content-Digest"]
    assert digest == sha256_digest(served.content)
    assert digest != oci_digest
    head = httpx.head(
        f"{live_server.url}/v2/{repo}/manifests/{digest}", headers={"Accept": DOCKER_MANIFEST}
    )
    assert head.status_code == 200
    assert head.headers["Content-Type"] == DOCKER_MANIFEST

    # A Docker manifest must come back to skopeo too (it lists the OCI type first).
    assert skopeo.raw_digest(repo) == digest
    out = Layout(tmp_path / "out")
    skopeo("copy", "-q", "--src-tls-verify=false", skopeo.ref(repo), out.ref("v1"))
    assert out.read_file("v1", "hello.txt", tmp_path) == content


def test_list_tags(
    skopeo: Skopeo, live_server: LiveServer, repo: str, image: tuple[Layout, str, bytes]
) -> None:
    layout, _, _ = image
    for tag in ("v2", "v1", "latest"):
        skopeo.push(layout.ref("v1"), repo, tag)

    listed = json.loads(skopeo("list-tags", INSECURE, f"docker://{live_server.host}/{repo}").stdout)
    assert listed["Repository"] == f"{live_server.host}/{repo}"
    assert sorted(listed["Tags"]) == ["latest", "v1", "v2"]
    assert httpx.get(f"{live_server.url}/v2/{repo}/tags/list").json() == {
        "name": repo,
        "tags": ["latest", "v1", "v2"],
    }


def test_delete_then_inspect_fails(
    skopeo: Skopeo, live_server: LiveServer, repo: str, image: tuple[Layout, str, bytes]
) -> None:
    layout, digest, _ = image
    skopeo.push(layout.ref("v1"), repo)
    assert skopeo.raw_digest(repo, digest) == digest

    skopeo("delete", INSECURE, skopeo.ref(repo, digest))

    for reference in ("v1", digest):
        failed = skopeo("inspect", "--raw", INSECURE, skopeo.ref(repo, reference), check=False)
        assert failed.returncode != 0
        assert "manifest unknown" in failed.stderr.lower()
        response = httpx.get(f"{live_server.url}/v2/{repo}/manifests/{reference}")
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_copy_between_repositories_mounts_blobs(
    skopeo: Skopeo, live_server: LiveServer, repo: str, image: tuple[Layout, str, bytes]
) -> None:
    layout, digest, _ = image
    source, target = f"{repo}/source", f"{repo}/target"
    skopeo.push(layout.ref("v1"), source)

    copied = skopeo(
        "--debug",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        skopeo.ref(source),
        skopeo.ref(target),
    )
    # skopeo remembers where it pushed each blob and asks for a mount, not an upload.
    assert f"from={quote(source, safe='')}" in copied.stderr
    assert "mount OK" in copied.stderr

    manifest = layout.manifest("v1")
    blobs = [manifest["config"], *manifest["layers"]]
    assert manifest_head(live_server, target, "v1").headers["Docker-Content-Digest"] == digest
    for blob in blobs:
        head = httpx.head(f"{live_server.url}/v2/{target}/blobs/{blob['digest']}")
        assert head.status_code == 200
        assert head.headers["Docker-Content-Digest"] == blob["digest"]
        assert int(head.headers["Content-Length"]) == blob["size"]
        body = httpx.get(f"{live_server.url}/v2/{target}/blobs/{blob['digest']}").content
        assert body == layout.blob(blob["digest"])

    # The same mount by hand: no body, 201, and the blob is readable in the new repo.
    other = unique_name("e2e", "mount-by-hand")
    layer = manifest["layers"][0]["digest"]
    assert httpx.head(f"{live_server.url}/v2/{other}/blobs/{layer}").status_code == 404
    mounted = httpx.post(
        f"{live_server.url}/v2/{other}/blobs/uploads/",
        params={"mount": layer, "from": source},
    )
    assert mounted.status_code == 201
    assert mounted.headers["Docker-Content-Digest"] == layer
    assert mounted.headers["Location"].endswith(f"/v2/{other}/blobs/{layer}")
    assert httpx.head(f"{live_server.url}/v2/{other}/blobs/{layer}").status_code == 200
