"""Lifecycle policies and the recycle bin over HTTP: put, preview, run, restore."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    admin_client,
    basic,
    error_codes,
    image_manifest,
    push_blob,
    sha256,
)

pytestmark = pytest.mark.anyio

KEEP_TWO = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "keep two release images",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["v*"],
                "countType": "imageCountMoreThan",
                "countNumber": 2,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "no untagged images",
            "selection": {
                "tagStatus": "untagged",
                "countType": "imageCountMoreThan",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
    ]
}


async def make_client(tmp_path: Path, **governance: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(tmp_path, governance=governance) as (client, _):
        yield client


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in make_client(tmp_path):
        yield c


async def push(c: httpx.AsyncClient, name: str, ref: str, label: str) -> str:
    config = json.dumps({"architecture": "amd64", "label": label}).encode()
    layer = f"layer {label}".encode()
    for blob in (config, layer):
        await push_blob(c, name, blob)
    r = await c.put(
        f"/v2/{name}/manifests/{ref}",
        content=image_manifest(config, [layer]),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text
    await asyncio.sleep(0.002)  # distinct push times, so the order is the push order
    return str(r.headers["docker-content-digest"])


async def test_policy_is_validated_and_kept_as_given(api: httpx.AsyncClient) -> None:
    path = "/api/v1/repositories/team/app/lifecycle-policy"
    text = json.dumps(KEEP_TWO, indent=1)
    r = await api.put(path, content=text)
    assert r.status_code == 200, r.text
    r = await api.get(path)
    assert r.json() == {"repository": "team/app", "lifecyclePolicyText": text}
    bad = {"rules": [dict(KEEP_TWO["rules"][0]), dict(KEEP_TWO["rules"][0])]}
    r = await api.put(path, content=json.dumps(bad) + " " * 100)
    assert r.status_code == 400
    assert error_codes(r) == ["INVALID_REQUEST"]
    assert "rulePriority" in r.json()["errors"][0]["message"]
    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404


async def test_preview_then_run_into_the_recycle_bin_then_restore(api: httpx.AsyncClient) -> None:
    name = "team/app"
    v1 = await push(api, name, "v1", "1")
    v2 = await push(api, name, "v2", "2")
    v3 = await push(api, name, "v3", "3")
    old = await push(api, name, "tmp", "untagged-1")
    assert (await api.delete(f"/v2/{name}/manifests/tmp")).status_code == 202  # tag only
    newer = await push(api, name, "tmp", "untagged-2")
    assert (await api.delete(f"/v2/{name}/manifests/tmp")).status_code == 202
    base = f"/api/v1/repositories/{name}/lifecycle-policy"
    assert (await api.put(base, content=json.dumps(KEEP_TWO))).status_code == 200

    r = await api.post(f"{base}/preview")
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["status"] == "COMPLETE"
    assert [(x["imageDigest"], x["appliedRulePriority"]) for x in preview["results"]] == [
        (v1, 1),
        (old, 2),
    ]
    assert preview["summary"] == {"expiringImageTotalCount": 2}
    # Nothing was deleted by the preview.
    assert (await api.get(f"/v2/{name}/manifests/{v1}")).status_code == 200

    r = await api.post(f"{base}/run")
    assert r.status_code == 200, r.text
    run = r.json()
    assert [(e["digest"], e["tags"], e["rulePriority"]) for e in run["expired"]] == [
        (v1, ["v1"], 1),
        (old, [], 2),
    ]
    assert run["trigger"] == "manual"
    assert run["bytes"] > 0
    assert (await api.get(f"/v2/{name}/manifests/v1")).status_code == 404
    for kept in (v2, v3, newer):
        assert (await api.get(f"/v2/{name}/manifests/{kept}")).status_code == 200
    runs = (await api.get(f"/api/v1/repositories/{name}/lifecycle-runs")).json()
    assert [r["id"] for r in runs] == [run["id"]]

    trash = (await api.get("/api/v1/trash", params={"repository": name})).json()
    by_digest = {e["digest"]: e for e in trash if e["kind"] == "manifest"}
    assert by_digest[v1]["reason"] == "lifecycle rule 1"
    assert by_digest[v1]["tags"] == ["v1"]
    r = await api.post(f"/api/v1/trash/{by_digest[v1]['id']}/restore")
    assert r.status_code == 200, r.text
    assert r.json()["restored_tags"] == ["v1"]
    r = await api.get(f"/v2/{name}/manifests/v1")
    assert r.status_code == 200
    assert r.headers["docker-content-digest"] == v1
    # Its blobs are still linked: the image pulls completely.
    manifest = r.json()
    for d in [manifest["config"]["digest"], *(x["digest"] for x in manifest["layers"])]:
        assert (await api.get(f"/v2/{name}/blobs/{d}")).status_code == 200
    r = await api.post(f"/api/v1/trash/{by_digest[v1]['id']}/restore")
    assert r.status_code == 404


async def test_deletes_by_users_go_to_the_recycle_bin(api: httpx.AsyncClient) -> None:
    digest = await push(api, "team/app", "v1", "1")
    assert (await api.delete(f"/v2/team/app/manifests/{digest}")).status_code == 202
    entries = (await api.get("/api/v1/trash")).json()
    assert [(e["kind"], e["digest"], e["tags"], e["deleted_by"]) for e in entries] == [
        ("manifest", digest, ["v1"], "root")
    ]
    # A new manifest took the tag meanwhile: restoring keeps it where it is.
    other = await push(api, "team/app", "v1", "2")
    r = await api.post(f"/api/v1/trash/{entries[0]['id']}/restore")
    assert r.json()["restored_tags"] == []
    assert (await api.get("/v2/team/app/manifests/v1")).headers["docker-content-digest"] == other
    assert (await api.get(f"/v2/team/app/manifests/{digest}")).status_code == 200


async def test_scheduled_runs_are_recorded(tmp_path: Path) -> None:
    async for api in make_client(tmp_path, lifecycle_interval_seconds=0.3):
        for i in range(4):
            await push(api, "team/app", f"v{i}", str(i))
        base = "/api/v1/repositories/team/app/lifecycle-policy"
        assert (await api.put(base, content=json.dumps(KEEP_TWO))).status_code == 200
        for _ in range(50):
            runs = (await api.get("/api/v1/repositories/team/app/lifecycle-runs")).json()
            if runs:
                break
            await asyncio.sleep(0.1)
        assert runs, "no scheduled run within 5 s"
        assert runs[-1]["trigger"] == "schedule"
        assert [e["tags"] for e in runs[-1]["expired"]] == [["v0"], ["v1"]]


async def test_only_maintainers_change_policies(api: httpx.AsyncClient) -> None:
    await push(api, "team/app", "v1", "1")
    r = await api.post("/api/v1/users", json={"name": "carol", "password": "carol-password"})
    assert r.status_code == 201
    carol = basic("carol", "carol-password")
    path = "/api/v1/repositories/team/app/lifecycle-policy"
    r = await api.put(path, content=json.dumps(KEEP_TWO), headers=carol)
    assert r.status_code == 403
    r = await api.post(f"{path}/preview", content=json.dumps(KEEP_TWO), headers=carol)
    assert r.status_code == 200  # the repository is public: anyone may look
    r = await api.post(f"{path}/run", headers=carol)
    assert r.status_code == 403


async def test_an_expired_index_takes_its_children_and_referrers_along(
    api: httpx.AsyncClient,
) -> None:
    name = "team/multi"
    child = await push(api, name, "amd64", "child")
    other_child = await push(api, name, "arm64", "other")
    for tag in ("amd64", "arm64"):
        assert (await api.delete(f"/v2/{name}/manifests/{tag}")).status_code == 202
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": d, "size": 300} for d in (child, other_child)
            ],
        }
    ).encode()
    # The index names the children with their real sizes.
    doc = json.loads(index)
    for m in doc["manifests"]:
        m["size"] = len((await api.get(f"/v2/{name}/manifests/{m['digest']}")).content)
    index = json.dumps(doc).encode()
    r = await api.put(
        f"/v2/{name}/manifests/old", content=index, headers={"Content-Type": OCI_INDEX}
    )
    assert r.status_code == 201, r.text
    old_index = r.headers["docker-content-digest"]
    # A second index keeps the arm64 child alive.
    doc["manifests"] = doc["manifests"][1:]
    keeper = json.dumps(doc).encode()
    r = await api.put(
        f"/v2/{name}/manifests/new", content=keeper, headers={"Content-Type": OCI_INDEX}
    )
    assert r.status_code == 201
    # A signature of the old index.
    config = b'{"artifact": "signature"}'
    await push_blob(api, name, config)
    signature = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [],
            "subject": {"mediaType": OCI_INDEX, "digest": old_index, "size": len(index)},
        }
    ).encode()
    r = await api.put(
        f"/v2/{name}/manifests/{sha256(signature)}",
        content=signature,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text
    # Keep the newest image ("new"); "old" is older, so it expires.
    reg_policy = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    base = f"/api/v1/repositories/{name}/lifecycle-policy"
    assert (await api.put(base, content=json.dumps(reg_policy))).status_code == 200
    run = (await api.post(f"{base}/run")).json()
    gone = {e["digest"]: e.get("followed") for e in run["expired"]}
    assert gone == {old_index: None, child: old_index, sha256(signature): old_index}
    assert (await api.get(f"/v2/{name}/manifests/{other_child}")).status_code == 200
    assert (await api.get(f"/v2/{name}/manifests/new")).status_code == 200
    for digest in gone:
        assert (await api.get(f"/v2/{name}/manifests/{digest}")).status_code == 404
    referrers = (await api.get(f"/v2/{name}/referrers/{old_index}")).json()
    assert referrers["manifests"] == []
