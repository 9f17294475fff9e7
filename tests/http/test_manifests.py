from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from cargohold.config import Settings
from cargohold.core.registry import Registry
from cargohold.storage import layout
from cargohold.types import Digest
from tests.http.helpers import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    another_process,
    descriptor,
    error_codes,
    image_manifest,
    push_blob,
    push_image,
    sha256,
)

pytestmark = pytest.mark.anyio


async def test_push_and_pull_by_tag_and_digest(client: httpx.AsyncClient) -> None:
    digest, manifest = await push_image(client, "team/app", "v1")
    assert digest == sha256(manifest)
    for reference in ("v1", digest):
        r = await client.get(
            f"/v2/team/app/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
        )
        assert r.status_code == 200
        assert r.content == manifest
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == digest
        assert r.headers["Content-Length"] == str(len(manifest))
        h = await client.head(f"/v2/team/app/manifests/{reference}")
        assert h.status_code == 200
        assert h.headers["Docker-Content-Digest"] == digest
        assert h.headers["Content-Length"] == str(len(manifest))
        assert h.content == b""


async def test_put_returns_location_and_digest(client: httpx.AsyncClient) -> None:
    config, layer = b"{}", b"layer"
    for blob in (config, layer):
        await push_blob(client, "team/app", blob)
    manifest = image_manifest(config, [layer])
    r = await client.put(
        "/v2/team/app/manifests/latest", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/team/app/manifests/{sha256(manifest)}"
    assert "OCI-Subject" not in r.headers


async def test_push_by_digest_without_tag(client: httpx.AsyncClient) -> None:
    config, layer = b"{}", b"untagged"
    for blob in (config, layer):
        await push_blob(client, "team/app", blob)
    manifest = image_manifest(config, [layer])
    digest = sha256(manifest)
    r = await client.put(
        f"/v2/team/app/manifests/{digest}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201
    assert (await client.get(f"/v2/team/app/manifests/{digest}")).content == manifest
    assert (await client.get("/v2/team/app/tags/list")).json()["tags"] == []


async def test_push_by_wrong_digest(client: httpx.AsyncClient) -> None:
    config, layer = b"{}", b"x"
    for blob in (config, layer):
        await push_blob(client, "team/app", blob)
    manifest = image_manifest(config, [layer])
    r = await client.put(
        f"/v2/team/app/manifests/{sha256(b'not it')}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


async def test_sha512_manifest_reference(client: httpx.AsyncClient) -> None:
    config, layer = b"{}", b"x512"
    for blob in (config, layer):
        await push_blob(client, "team/app", blob)
    manifest = image_manifest(config, [layer])
    digest = "sha512:" + hashlib.sha512(manifest).hexdigest()
    r = await client.put(
        f"/v2/team/app/manifests/{digest}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == digest
    assert (await client.get(f"/v2/team/app/manifests/{digest}")).content == manifest


async def test_missing_blobs_are_listed(client: httpx.AsyncClient) -> None:
    config, layer = b"{}", b"never uploaded"
    await push_blob(client, "team/app", config)
    r = await client.put(
        "/v2/team/app/manifests/v1",
        content=image_manifest(config, [layer]),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]
    assert r.json()["errors"][0]["detail"]["missing"] == [sha256(layer)]
    r = await client.get("/v2/team/app/manifests/v1")
    assert r.status_code == 404
    assert error_codes(r) == ["MANIFEST_UNKNOWN"]


async def test_blob_from_other_repository_does_not_count(client: httpx.AsyncClient) -> None:
    config, layer = b"{}", b"elsewhere"
    await push_blob(client, "team/app", config)
    await push_blob(client, "team/other", layer)
    r = await client.put(
        "/v2/team/app/manifests/v1",
        content=image_manifest(config, [layer]),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", OCI_MANIFEST),
        (b'{"schemaVersion": 2, "mediaType": "applic', OCI_MANIFEST),
        (b"[]", OCI_MANIFEST),
        (b'{"schemaVersion": 2, "config": {}, "layers": []}', OCI_MANIFEST),
        (b'{"schemaVersion": 3, "config": {}, "layers": []}', OCI_MANIFEST),
        (b'{"schemaVersion": 2, "layers": "nope"}', OCI_MANIFEST),
        (b'{"schemaVersion": 2, "manifests": {}}', OCI_INDEX),
        (
            b'{"schemaVersion": 1, "name": "x", "fsLayers": []}',
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
        (b'{"schemaVersion": 2}', "application/vnd.example.unknown+json"),
        (b'{"schemaVersion": 2, "mediaType": "' + DOCKER_MANIFEST.encode() + b'"}', OCI_MANIFEST),
        (b"\xff\xfe garbage", OCI_MANIFEST),
    ],
)
async def test_invalid_manifests(client: httpx.AsyncClient, body: bytes, content_type: str) -> None:
    r = await client.put(
        "/v2/team/app/manifests/v1", content=body, headers={"Content-Type": content_type}
    )
    assert r.status_code == 400, r.text
    assert error_codes(r) == ["MANIFEST_INVALID"]
    assert (await client.get("/v2/")).status_code == 200


async def test_bad_descriptor_digest_in_manifest(client: httpx.AsyncClient) -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "x/y", "digest": "sha256:zz", "size": 2},
        "layers": [],
    }
    r = await client.put(
        "/v2/team/app/manifests/v1", content=json.dumps(doc), headers={"Content-Type": OCI_MANIFEST}
    )
    assert error_codes(r) == ["MANIFEST_INVALID"]
    assert "config.digest" in r.json()["errors"][0]["message"]


async def test_manifest_over_4_mib_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    r = await client.put(
        "/v2/team/app/manifests/big", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 413
    assert error_codes(r) == ["SIZE_INVALID"]


async def test_invalid_tag_reference(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/team/app/manifests/" + "t" * 129)
    assert r.status_code == 400
    assert error_codes(r) == ["TAG_INVALID"]


async def test_docker_manifest_content_type(client: httpx.AsyncClient) -> None:
    config, layer = b'{"os":"linux"}', b"docker layer"
    for blob in (config, layer):
        await push_blob(client, "team/docker", blob)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": descriptor("application/vnd.docker.container.image.v1+json", config),
            "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", layer)],
        }
    ).encode()
    r = await client.put(
        "/v2/team/docker/manifests/v1", content=manifest, headers={"Content-Type": DOCKER_MANIFEST}
    )
    assert r.status_code == 201
    r = await client.get("/v2/team/docker/manifests/v1", headers={"Accept": DOCKER_MANIFEST})
    assert r.headers["Content-Type"] == DOCKER_MANIFEST


async def test_accept_negotiation(client: httpx.AsyncClient) -> None:
    await push_image(client, "team/app", "v1")
    r = await client.get("/v2/team/app/manifests/v1", headers={"Accept": DOCKER_MANIFEST})
    assert r.status_code == 404
    assert error_codes(r) == ["MANIFEST_UNKNOWN"]
    both = f"{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.9"
    assert (await client.get("/v2/team/app/manifests/v1", headers={"Accept": both})).is_success
    r = await client.get("/v2/team/app/manifests/v1", headers={"Accept": "*/*"})
    assert r.is_success


async def test_index_requires_child_manifests(client: httpx.AsyncClient) -> None:
    child_digest, child = await push_image(client, "team/multi", child_digest_tag := "amd64")
    assert child_digest_tag == "amd64"
    missing = {"mediaType": OCI_MANIFEST, "digest": sha256(b"nope"), "size": 4}
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                **descriptor(OCI_MANIFEST, child),
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            missing,
        ],
    }
    r = await client.put(
        "/v2/team/multi/manifests/latest",
        content=json.dumps(index),
        headers={"Content-Type": OCI_INDEX},
    )
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]
    index["manifests"] = index["manifests"][:1]  # type: ignore[index]
    r = await client.put(
        "/v2/team/multi/manifests/latest",
        content=json.dumps(index),
        headers={"Content-Type": OCI_INDEX},
    )
    assert r.status_code == 201
    r = await client.get("/v2/team/multi/manifests/latest")
    assert r.headers["Content-Type"] == OCI_INDEX
    assert r.json()["manifests"][0]["digest"] == child_digest


async def test_retag_moves_tag(client: httpx.AsyncClient) -> None:
    first, _ = await push_image(client, "team/app", "latest", layers=[b"one"])
    second, _ = await push_image(client, "team/app", "latest", layers=[b"two"])
    assert first != second
    r = await client.head("/v2/team/app/manifests/latest")
    assert r.headers["Docker-Content-Digest"] == second
    assert (await client.head(f"/v2/team/app/manifests/{first}")).status_code == 200


async def test_delete_by_digest_removes_tags(client: httpx.AsyncClient) -> None:
    digest, _ = await push_image(client, "team/app", "v1")
    r = await client.put(
        "/v2/team/app/manifests/v1-alias",
        content=(await client.get("/v2/team/app/manifests/v1")).content,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201
    r = await client.delete(f"/v2/team/app/manifests/{digest}")
    assert r.status_code == 202
    for reference in ("v1", "v1-alias", digest):
        r = await client.get(f"/v2/team/app/manifests/{reference}")
        assert r.status_code == 404
        assert error_codes(r) == ["MANIFEST_UNKNOWN"]
    r = await client.delete(f"/v2/team/app/manifests/{digest}")
    assert r.status_code == 404


async def test_delete_tag_keeps_manifest(client: httpx.AsyncClient) -> None:
    digest, _ = await push_image(client, "team/app", "v1")
    assert (await client.delete("/v2/team/app/manifests/v1")).status_code == 202
    assert (await client.get("/v2/team/app/manifests/v1")).status_code == 404
    assert (await client.get(f"/v2/team/app/manifests/{digest}")).status_code == 200
    assert (await client.delete("/v2/team/app/manifests/v1")).status_code == 404


async def test_unknown_repository(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/nobody/here/manifests/latest")
    assert r.status_code == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]


async def test_pulls_are_counted(client: httpx.AsyncClient, registry: Registry) -> None:
    digest, _ = await push_image(client, "team/app", "v1")
    for _ in range(3):
        await client.get("/v2/team/app/manifests/v1")
    await client.head("/v2/team/app/manifests/v1")  # HEAD is not a pull
    await client.get(f"/v2/team/app/manifests/{digest}")
    await registry.pulls.flush()
    record = await registry.store.get_manifest("team/app", digest)
    assert record is not None
    assert record.pull_count == 4
    assert record.last_pulled_at is not None
    tags = await registry.store.tag_details("team/app")
    assert [(t.name, t.pull_count) for t in tags] == [("v1", 3)]


async def test_accept_split_over_several_header_lines(client: httpx.AsyncClient) -> None:
    """skopeo, podman and docker send one Accept line per media type."""
    await push_image(client, "team/app", "v1")
    headers = [("Accept", DOCKER_MANIFEST), ("Accept", OCI_INDEX), ("Accept", OCI_MANIFEST)]
    r = await client.get("/v2/team/app/manifests/v1", headers=headers)
    assert r.status_code == 200
    r = await client.get("/v2/team/app/manifests/v1", headers=headers[:2])
    assert r.status_code == 404


async def test_over_long_artifact_type_is_invalid(client: httpx.AsyncClient) -> None:
    config, layer = b"{}", b"long type"
    for blob in (config, layer):
        await push_blob(client, "team/app", blob)
    for manifest in (
        image_manifest(config, [layer], artifact_type="a/" + "b" * 300),
        image_manifest(config, [layer], config_type="a/" + "b" * 300),
    ):
        r = await client.put(
            "/v2/team/app/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
        assert r.status_code == 400
        assert error_codes(r) == ["MANIFEST_INVALID"]


async def _get_from_a_fresh_process(settings: Settings, reference: str) -> httpx.Response:
    """GET through a new registry on the same data: no manifest cached in memory."""
    async with another_process(settings) as c:
        return await c.get(f"/v2/team/app/manifests/{reference}", headers={"Accept": OCI_MANIFEST})


async def test_manifest_bytes_live_in_the_database(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    config, layer = b'{"architecture":"amd64"}', b"a layer"
    digest, manifest = await push_image(client, "team/app", "v1", [layer], config)
    # No file in storage for the manifest: its bytes were committed with its row.
    stored = [
        str(layout.blob_digest(info.path))
        async for info in registry.driver.walk(layout.path_for(layout.BlobsRoot()))
    ]
    # (The small config and layer are kept in the database too, as blob rows.)
    rows = [d for d in (sha256(config), sha256(layer)) if await registry.store.blob_content(d)]
    assert sorted(stored + rows) == sorted([sha256(config), sha256(layer)])
    assert digest not in stored
    assert await registry.store.blob_content(digest) is None
    assert await registry.store.manifest_content("team/app", digest) == manifest
    r = await _get_from_a_fresh_process(settings, "v1")
    assert r.status_code == 200
    assert r.content == manifest


async def test_a_manifest_stored_as_a_file_by_an_older_release_is_served(
    client: httpx.AsyncClient, registry: Registry, settings: Settings
) -> None:
    digest, manifest = await push_image(client, "team/app", "v1")
    # What an older release left: the row without bytes, the bytes as a blob file.
    with registry.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql("UPDATE manifests SET content = NULL")
    path = layout.path_for(layout.BlobData(Digest.parse(digest)))
    await registry.driver.put_content(path, manifest)
    r = await _get_from_a_fresh_process(settings, digest)
    assert r.status_code == 200
    assert r.content == manifest
    # Pushed again, the bytes move into the row and the file is no longer needed.
    assert (
        await client.put(
            "/v2/team/app/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
    ).status_code == 201
    await registry.driver.delete(path)
    r = await _get_from_a_fresh_process(settings, "v1")
    assert r.status_code == 200
    assert r.content == manifest
