"""Repository governance over HTTP: explicit creation, tag immutability, the latest
rule, namespace templates, describe/list/delete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.http.helpers import (
    OCI_MANIFEST,
    admin_client,
    error_codes,
    image_manifest,
    push_blob,
    push_image,
)

pytestmark = pytest.mark.anyio


async def make_client(tmp_path: Path, **repositories: object) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(tmp_path, repositories=repositories) as (client, _):
        yield client


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in make_client(tmp_path):
        yield c


@pytest.fixture
async def ecr(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in make_client(tmp_path, create_on_push=False):
        yield c


async def put_manifest(c: httpx.AsyncClient, name: str, ref: str, layer: bytes) -> httpx.Response:
    config = json.dumps({"architecture": "amd64", "layer": layer.decode()}).encode()
    for blob in (config, layer):
        await push_blob(c, name, blob)
    return await c.put(
        f"/v2/{name}/manifests/{ref}",
        content=image_manifest(config, [layer]),
        headers={"Content-Type": OCI_MANIFEST},
    )


async def test_explicit_creation_refuses_pushes_to_unknown_repositories(
    ecr: httpx.AsyncClient,
) -> None:
    r = await ecr.post("/v2/team/app/blobs/uploads/")
    assert r.status_code == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]
    assert "cargohold repo create team/app" in r.json()["errors"][0]["message"]
    r = await ecr.put(
        "/v2/team/app/manifests/v1", content=b"{}", headers={"Content-Type": OCI_MANIFEST}
    )
    assert error_codes(r) == ["NAME_UNKNOWN"]

    r = await ecr.post("/api/v1/repositories", json={"name": "team/app"})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["name"] == "team/app"
    assert doc["tag_mutability"] == "MUTABLE"
    assert doc["manifest_count"] == 0
    await push_image(ecr, "team/app", "v1")
    r = await ecr.get("/api/v1/repositories/team/app")
    assert (r.json()["manifest_count"], r.json()["tag_count"]) == (1, 1)
    r = await ecr.post("/api/v1/repositories", json={"name": "team/app"})
    assert r.status_code == 409


async def test_immutable_tags_cannot_move_or_be_deleted(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/api/v1/repositories", json={"name": "team/app", "tag_mutability": "IMMUTABLE"}
    )
    assert r.status_code == 201, r.text
    first = await put_manifest(api, "team/app", "v1", b"one")
    assert first.status_code == 201
    again = await put_manifest(api, "team/app", "v1", b"one")
    assert again.status_code == 201  # the same digest again is fine
    moved = await put_manifest(api, "team/app", "v1", b"two")
    assert moved.status_code == 403
    assert error_codes(moved) == ["DENIED"]
    assert "tag 'v1' in 'team/app' is immutable" in moved.json()["errors"][0]["message"]
    r = await api.get("/v2/team/app/manifests/v1")
    assert r.headers["docker-content-digest"] == first.headers["docker-content-digest"]
    # The refused manifest left nothing behind in the repository.
    r = await api.get("/api/v1/repositories/team/app")
    assert r.json()["manifest_count"] == 1
    r = await api.delete("/v2/team/app/manifests/v1")
    assert r.status_code == 403
    r = await api.delete(f"/v2/team/app/manifests/{first.headers['docker-content-digest']}")
    assert r.status_code == 403
    assert "cannot be deleted" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("mode", "fixed", "movable"),
    [
        ("IMMUTABLE_WITH_EXCLUSION", "v1", "dev-1"),
        ("MUTABLE_WITH_EXCLUSION", "dev-1", "v1"),
    ],
)
async def test_exclusion_filters(
    api: httpx.AsyncClient, mode: str, fixed: str, movable: str
) -> None:
    r = await api.post(
        "/api/v1/repositories",
        json={"name": "team/app", "tag_mutability": mode, "mutability_filters": ["dev-*"]},
    )
    assert r.status_code == 201, r.text
    for tag in (fixed, movable):
        assert (await put_manifest(api, "team/app", tag, b"one")).status_code == 201
    assert (await put_manifest(api, "team/app", movable, b"two")).status_code == 201
    assert (await put_manifest(api, "team/app", fixed, b"two")).status_code == 403
    assert (await api.delete(f"/v2/team/app/manifests/{movable}")).status_code == 202


async def test_mutability_can_change_and_is_validated(api: httpx.AsyncClient) -> None:
    await put_manifest(api, "team/app", "v1", b"one")
    path = "/api/v1/repositories/team/app/tag-mutability"
    for body, fragment in (
        ({"tag_mutability": "IMMUTABLE", "mutability_filters": ["x"]}, "only go with"),
        ({"tag_mutability": "IMMUTABLE_WITH_EXCLUSION"}, "needs 1 to 5"),
        (
            {"tag_mutability": "IMMUTABLE_WITH_EXCLUSION", "mutability_filters": ["a b"]},
            "invalid filter",
        ),
        ({"tag_mutability": "SOMETIMES"}, "tag_mutability"),
    ):
        r = await api.put(path, json=body)
        assert r.status_code == 400, (body, r.text)
        assert fragment in r.json()["errors"][0]["message"]
    r = await api.put(path, json={"tag_mutability": "IMMUTABLE"})
    assert r.status_code == 200
    assert r.json()["tag_mutability"] == "IMMUTABLE"
    assert (await put_manifest(api, "team/app", "v1", b"two")).status_code == 403


async def test_latest_rule_and_namespace_template(tmp_path: Path) -> None:
    async for api in make_client(tmp_path, latest_tag="warn"):
        r = await put_manifest(api, "team/old", "latest", b"one")
        assert r.status_code == 201
        assert "latest" in r.headers["warning"]
        assert r.headers["warning"].startswith('299 - "')
        # Templates belong to a namespace's owners: make "team" an organisation.
        r = await api.post("/api/v1/orgs", json={"name": "team"})
        assert r.status_code == 201, r.text
        r = await api.put(
            "/api/v1/namespaces/team/template",
            json={"tag_mutability": "IMMUTABLE", "latest_tag": "refuse"},
        )
        assert r.status_code == 200, r.text
        r = await put_manifest(api, "team/new", "latest", b"one")
        assert r.status_code == 403
        assert "the tag 'latest' is not allowed in team/new" in r.json()["errors"][0]["message"]
        assert (await put_manifest(api, "team/new", "v1", b"one")).status_code == 201
        assert (await put_manifest(api, "team/new", "v1", b"two")).status_code == 403
        # A repository created before the template keeps its settings.
        assert (await put_manifest(api, "team/old", "latest", b"two")).status_code == 201
        doc = (await api.get("/api/v1/repositories/team/new")).json()
        assert (doc["tag_mutability"], doc["latest_tag"]) == ("IMMUTABLE", "refuse")
        r = await api.put("/api/v1/namespaces/team/template", json={"latest_tag": "never"})
        assert r.status_code == 400


async def test_describe_list_and_delete(api: httpx.AsyncClient) -> None:
    await push_image(api, "team/a", "v1")
    r = await api.post("/api/v1/repositories", json={"name": "team/empty", "visibility": "private"})
    assert r.status_code == 201
    names = [d["name"] for d in (await api.get("/api/v1/repositories")).json()]
    assert names == ["team/a", "team/empty"]
    assert (await api.get("/api/v1/repositories/team/empty")).json()["visibility"] == "private"
    r = await api.delete("/api/v1/repositories/team/a")
    assert r.status_code == 409
    assert "--force" in r.json()["errors"][0]["message"]
    assert (await api.delete("/api/v1/repositories/team/a?force=true")).status_code == 204
    r = await api.get("/v2/team/a/manifests/v1")
    assert error_codes(r) == ["NAME_UNKNOWN"]
    assert (await api.delete("/api/v1/repositories/team/empty")).status_code == 204
    r = await api.get("/api/v1/repositories/team/empty")
    assert r.status_code == 404
    assert (await api.delete("/api/v1/repositories/team/none")).status_code == 404


async def test_a_namespace_template_carries_a_lifecycle_policy(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/v1/orgs", json={"name": "team"})).status_code == 201
    policy = {
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
    r = await api.put(
        "/api/v1/namespaces/team/template", json={"lifecycle_policy": json.dumps(policy)}
    )
    assert r.status_code == 200, r.text
    r = await api.put("/api/v1/namespaces/team/template", json={"lifecycle_policy": "{}"})
    assert r.status_code == 400
    await put_manifest(api, "team/new", "v1", b"one")
    await put_manifest(api, "team/new", "v2", b"two")
    r = await api.get("/api/v1/repositories/team/new/lifecycle-policy")
    assert json.loads(r.json()["lifecyclePolicyText"]) == policy
    r = await api.post("/api/v1/repositories/team/new/lifecycle-policy/preview")
    assert [x["imageTags"] for x in r.json()["results"]] == [["v1"]]
