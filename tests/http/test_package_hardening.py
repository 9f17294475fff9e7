"""Regression tests for defects a review found in the package repositories, one
test each: inherited repositories, JWT scope, stored XSS, tokens as PyPI's
__token__, and a file whose content went missing."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.http.helpers import admin_client, basic, bearer

pytestmark = pytest.mark.anyio

API = "/api/v1"


async def test_a_namespace_owning_package_repositories_cannot_be_deleted(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await registry.accounts.create_user(None, "alice", "alice-password")
        alice = basic("alice", "alice-password")
        assert (await client.post(f"{API}/orgs", json={"name": "acme"}, headers=alice)).is_success
        r = await client.post(
            f"{API}/package-repositories",
            json={"name": "acme-private", "format": "maven", "namespace": "acme"},
            headers=alice,
        )
        assert r.status_code == 201
        # Otherwise the next owner of the name "acme" would inherit the repository.
        r = await client.delete(f"{API}/orgs/acme", headers=alice)
        assert r.status_code == 409 and "acme-private" in r.text
        assert (
            await client.delete(f"{API}/package-repositories/acme-private", headers=alice)
        ).status_code == 204
        assert (await client.delete(f"{API}/orgs/acme", headers=alice)).status_code == 204


async def test_a_registry_token_keeps_its_grants_on_package_repositories(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await registry.accounts.create_user(None, "alice", "alice-password")
        r = await client.post(
            f"{API}/package-repositories",
            json={"name": "mvn", "format": "maven", "namespace": "alice"},
        )
        assert r.status_code == 201
        r = await client.get(
            "/token",
            params={"service": "cargohold", "scope": "repository:alice/img:pull"},
            headers=basic("alice", "alice-password"),
        )
        jwt = r.json()["token"]
        path = "/repository/mvn/com/x/lib/1.0/lib-1.0.jar"
        # Outside its grants the token sees nothing (as for images): not found.
        assert (await client.put(path, content=b"x", headers=bearer(jwt))).status_code == 404
        # A token granted the package repository's scope name may write there.
        r = await client.get(
            "/token",
            params={"service": "cargohold", "scope": "repository:alice/mvn:pull,push"},
            headers=basic("alice", "alice-password"),
        )
        assert (
            await client.put(path, content=b"x", headers=bearer(r.json()["token"]))
        ).status_code == 201


async def test_uploaded_html_never_runs_on_the_registry_origin(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await client.post(
            f"{API}/package-repositories",
            json={"name": "mvn", "format": "maven", "write_policy": "allow"},
        )
        path = "/repository/mvn/com/x/lib/1.0/lib-1.0.html"
        assert (await client.put(path, content=b"<script>alert(1)</script>")).status_code == 201
        for response in (await client.get(path), await client.get("/repository/mvn/com/x/")):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in response.headers["content-security-policy"]


async def test_tokens_work_as_pypi_style___token__(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await registry.accounts.create_user(None, "alice", "alice-password")
        r = await client.post(
            f"{API}/tokens", json={"name": "ci"}, headers=basic("alice", "alice-password")
        )
        secret = r.json()["secret"]
        r = await client.post(
            f"{API}/package-repositories",
            json={"name": "py", "format": "pypi", "namespace": "alice", "visibility": "private"},
        )
        assert r.status_code == 201
        as_token = {
            "Authorization": "Basic " + base64.b64encode(f"__token__:{secret}".encode()).decode()
        }
        assert (await client.get("/repository/py/simple/", headers=as_token)).status_code == 200
        wrong = basic("__token__", secret[:-2] + "xx")
        assert (await client.get("/repository/py/simple/", headers=wrong)).status_code == 401


async def test_a_file_whose_content_is_missing_is_not_found_for_head_too(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await client.post(f"{API}/package-repositories", json={"name": "mvn", "format": "maven"})
        path = "/repository/mvn/com/x/lib/1.0/lib-1.0.jar"
        await client.put(path, content=b"jar")
        asset = await registry.package_store.get_asset("mvn", path.removeprefix("/repository/mvn/"))
        assert asset is not None
        local = registry.driver.local_path(
            "/v1/blobs/sha256/" + asset.digest[7:9] + "/" + asset.digest[7:]
        )
        assert local is not None
        Path(local).unlink()
        assert (await client.head(path)).status_code == 404
        assert (await client.get(path)).status_code == 404


async def test_private_repositories_look_like_missing_ones(tmp_path: Path) -> None:
    async with admin_client(tmp_path, http={"base_url": "https://proxy.example/reg"}) as (
        client,
        _,
    ):
        await client.post(
            f"{API}/package-repositories",
            json={"name": "secret-npm", "format": "npm", "visibility": "private"},
        )
        anonymous = {"Authorization": ""}
        for path in ("-/ping", "pkg", "-/whoami"):
            hidden = await client.get(f"/repository/secret-npm/{path}", headers=anonymous)
            missing = await client.get(f"/repository/no-such-repo/{path}", headers=anonymous)
            assert hidden.status_code == missing.status_code == 401
            assert hidden.headers["content-type"] == missing.headers["content-type"]
            assert hidden.text == missing.text
        # The trailing-slash redirect stays under the public base URL.
        r = await client.get("/repository/secret-npm", follow_redirects=False)
        assert r.headers["location"] == "https://proxy.example/reg/repository/secret-npm/"
