"""The oras Python SDK against a live server: artifacts, referrers with a subject, the
referrers API and its artifactType filter, and a referrer pushed before its subject."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import oras.client  # type: ignore[import-untyped]
import oras.oci  # type: ignore[import-untyped]
import pytest

from tests.e2e.images import OCI_INDEX, OCI_MANIFEST, sha256_digest
from tests.support import LiveServer

pytestmark = pytest.mark.e2e

ARTIFACT_TYPE = "application/vnd.example.artifact.v1+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1+json"
SBOM_TYPE = "application/vnd.example.sbom.v1+json"


class Oras:
    """An oras client working in ``workdir`` (oras wants file paths relative to cwd)."""

    def __init__(self, server: LiveServer, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self.client = oras.client.OrasClient(hostname=server.host, insecure=True)

    def write(self, name: str, content: bytes) -> str:
        (self.workdir / name).write_bytes(content)
        return name

    def push(
        self,
        repo: str,
        tag: str,
        file: str,
        artifact_type: str,
        subject: oras.oci.Subject | None = None,
    ) -> httpx.Headers:
        response = self.client.push(
            files=[file],
            target=f"{self.server.host}/{repo}:{tag}",
            manifest_config=f"/dev/null:{artifact_type}",
            subject=subject,
            quiet=True,
        )
        assert response.status_code == 201, response.text
        return httpx.Headers(dict(response.headers))

    def pull(self, repo: str, reference: str, outdir: str) -> dict[str, bytes]:
        sep = "@" if ":" in reference else ":"
        files = self.client.pull(target=f"{self.server.host}/{repo}{sep}{reference}", outdir=outdir)
        return {Path(f).name: Path(f).read_bytes() for f in files}

    def subject(self, repo: str, reference: str) -> oras.oci.Subject:
        """A subject descriptor built from what the registry says about the manifest."""
        head = httpx.head(
            f"{self.server.url}/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
        )
        assert head.status_code == 200
        return oras.oci.Subject(
            mediaType=head.headers["Content-Type"],
            digest=head.headers["Docker-Content-Digest"],
            size=int(head.headers["Content-Length"]),
        )

    def referrers(self, repo: str, digest: str, artifact_type: str | None = None) -> httpx.Response:
        params = {"artifactType": artifact_type} if artifact_type else None
        response = httpx.get(f"{self.server.url}/v2/{repo}/referrers/{digest}", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == OCI_INDEX
        body = response.json()
        assert body["schemaVersion"] == 2
        assert body["mediaType"] == OCI_INDEX
        return response


@pytest.fixture
def client(live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Oras:
    monkeypatch.chdir(tmp_path)
    return Oras(live_server, tmp_path)


def manifest_bytes(server: LiveServer, repo: str, digest: str) -> bytes:
    response = httpx.get(
        f"{server.url}/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}
    )
    assert response.status_code == 200
    return response.content


def test_artifact_with_referrers(client: Oras, live_server: LiveServer, repo: str) -> None:
    payload = os.urandom(3000)
    signature = b'{"signed": true}\n'
    sbom = b'{"packages": []}\n'
    pushed = client.push(repo, "v1", client.write("payload.bin", payload), ARTIFACT_TYPE)
    digest = pushed["Docker-Content-Digest"]
    assert pushed["Location"].endswith(f"/v2/{repo}/manifests/{digest}")
    assert sha256_digest(manifest_bytes(live_server, repo, digest)) == digest

    subject = client.subject(repo, "v1")
    assert subject.digest == digest
    assert subject.mediaType == OCI_MANIFEST
    sig = client.push(repo, "sig", client.write("sig.json", signature), SIGNATURE_TYPE, subject)
    assert sig["OCI-Subject"] == digest
    bom = client.push(repo, "sbom", client.write("sbom.json", sbom), SBOM_TYPE, subject)
    assert bom["OCI-Subject"] == digest
    sig_digest, bom_digest = sig["Docker-Content-Digest"], bom["Docker-Content-Digest"]

    listing = client.referrers(repo, digest)
    assert "OCI-Filters-Applied" not in listing.headers
    entries = {m["digest"]: m for m in listing.json()["manifests"]}
    assert set(entries) == {sig_digest, bom_digest}
    for ref_digest, artifact_type in ((sig_digest, SIGNATURE_TYPE), (bom_digest, SBOM_TYPE)):
        entry = entries[ref_digest]
        assert entry["artifactType"] == artifact_type
        assert entry["mediaType"] == OCI_MANIFEST
        assert entry["size"] == len(manifest_bytes(live_server, repo, ref_digest))

    filtered = client.referrers(repo, digest, SIGNATURE_TYPE)
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [sig_digest]
    nothing = client.referrers(repo, digest, "application/vnd.example.none")
    assert nothing.headers["OCI-Filters-Applied"] == "artifactType"
    assert nothing.json()["manifests"] == []
    # The artifact itself has no subject, so nothing refers to the signature.
    assert client.referrers(repo, sig_digest).json()["manifests"] == []

    assert client.pull(repo, "v1", "out-artifact") == {"payload.bin": payload}
    assert client.pull(repo, sig_digest, "out-sig") == {"sig.json": signature}
    assert client.pull(repo, "sbom", "out-sbom") == {"sbom.json": sbom}


def test_referrer_pushed_before_its_subject(
    client: Oras, live_server: LiveServer, repo: str
) -> None:
    payload = os.urandom(1000)
    signature = b'{"signed": "early"}\n'
    payload_file = client.write("payload.bin", payload)
    # Push the subject elsewhere first, only to learn its exact descriptor.
    staging = f"{repo}-staging"
    client.push(staging, "v1", payload_file, ARTIFACT_TYPE)
    subject = client.subject(staging, "v1")
    digest: str = subject.digest
    missing = httpx.head(f"{live_server.url}/v2/{repo}/manifests/{digest}")
    assert missing.status_code == 404

    sig = client.push(repo, "sig", client.write("sig.json", signature), SIGNATURE_TYPE, subject)
    assert sig["OCI-Subject"] == digest
    sig_digest = sig["Docker-Content-Digest"]

    before = client.referrers(repo, digest).json()["manifests"]
    assert [(m["digest"], m.get("artifactType")) for m in before] == [(sig_digest, SIGNATURE_TYPE)]

    pushed = client.push(repo, "v1", payload_file, ARTIFACT_TYPE)
    assert pushed["Docker-Content-Digest"] == digest
    assert httpx.head(f"{live_server.url}/v2/{repo}/manifests/{digest}").status_code == 200

    after = client.referrers(repo, digest).json()["manifests"]
    assert [(m["digest"], m.get("artifactType")) for m in after] == [(sig_digest, SIGNATURE_TYPE)]
    filtered = client.referrers(repo, digest, SIGNATURE_TYPE)
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [sig_digest]

    assert client.pull(repo, "v1", "out-subject") == {"payload.bin": payload}
    assert client.pull(repo, "sig", "out-sig") == {"sig.json": signature}
