from __future__ import annotations

import httpx
import pytest

from tests.http.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    image_manifest,
    push_blob,
    push_image,
    sha256,
)

pytestmark = pytest.mark.anyio

SIGNATURE = "application/vnd.example.signature.v1+json"
SBOM = "application/vnd.example.sbom.v1+json"


async def test_referrers_listed_and_filtered(client: httpx.AsyncClient) -> None:
    subject_digest, subject = await push_image(client, "team/app", "v1")
    subject_desc = {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": len(subject)}
    r = await client.put(
        "/v2/team/app/manifests/sig",
        content=b"",
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 400
    sig_digest, _ = await push_image(
        client,
        "team/app",
        "sig",
        layers=[b"signature bytes"],
        config=b"{}",
        subject=subject_desc,
        artifact_type=SIGNATURE,
    )
    sbom_digest, _ = await push_image(
        client,
        "team/app",
        "sbom",
        layers=[b"sbom bytes"],
        config=b"{}",
        config_type=SBOM,
        subject=subject_desc,
    )
    r = await client.get(f"/v2/team/app/referrers/{subject_digest}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    index = r.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    by_digest = {m["digest"]: m for m in index["manifests"]}
    assert set(by_digest) == {sig_digest, sbom_digest}
    assert by_digest[sig_digest]["artifactType"] == SIGNATURE
    # Without artifactType, the config media type names the artifact (OCI 1.1).
    assert by_digest[sbom_digest]["artifactType"] == SBOM
    assert "OCI-Filters-Applied" not in r.headers

    r = await client.get(f"/v2/team/app/referrers/{subject_digest}", params={"artifactType": SBOM})
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom_digest]
    assert r.headers["OCI-Filters-Applied"] == "artifactType"


async def test_subject_header_on_push(client: httpx.AsyncClient) -> None:
    subject_digest, subject = await push_image(client, "team/app", "v1")
    config, layer = b"{}", b"sig"
    subject_desc = {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": len(subject)}
    for blob in (config, layer):
        await push_blob(client, "team/app", blob)
    manifest = image_manifest(config, [layer], subject=subject_desc, artifact_type=SIGNATURE)
    r = await client.put(
        f"/v2/team/app/manifests/{sha256(manifest)}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201
    assert r.headers["OCI-Subject"] == subject_digest


async def test_referrer_pushed_before_subject(client: httpx.AsyncClient) -> None:
    future = sha256(b"not yet pushed")
    ref_digest, _ = await push_image(
        client,
        "team/app",
        "early",
        layers=[b"early sig"],
        config=b"{}",
        subject={"mediaType": OCI_MANIFEST, "digest": future, "size": 10},
        artifact_type=SIGNATURE,
    )
    r = await client.get(f"/v2/team/app/referrers/{future}")
    assert [m["digest"] for m in r.json()["manifests"]] == [ref_digest]


async def test_no_referrers_is_empty_index(client: httpx.AsyncClient) -> None:
    digest, _ = await push_image(client, "team/app", "v1")
    r = await client.get(f"/v2/team/app/referrers/{digest}")
    assert r.status_code == 200
    assert r.json()["manifests"] == []
    r = await client.get("/v2/team/app/referrers/sha256:bad")
    assert r.status_code == 400


async def test_empty_artifact_type_is_no_filter(client: httpx.AsyncClient) -> None:
    digest, _ = await push_image(client, "team/app", "v1")
    r = await client.get(f"/v2/team/app/referrers/{digest}", params={"artifactType": ""})
    assert r.status_code == 200
    assert "OCI-Filters-Applied" not in r.headers
