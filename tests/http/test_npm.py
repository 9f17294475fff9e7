"""Hosted npm repositories over HTTP: the documents npm publish sends, packuments
(full and abbreviated), tarballs, dist-tags, deprecation, unpublish, login and logout."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.helpers import admin_client, basic, bearer, create_package_repository
from tests.npm_documents import publish_body

pytestmark = pytest.mark.anyio

BASE = "/repository/npm-hosted"
CORGI = "application/vnd.npm.install-v1+json"


def tarball(name: str, version: str) -> bytes:
    manifest = json.dumps({"name": name, "version": version}).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("package/package.json")
        info.size = len(manifest)
        archive.addfile(info, io.BytesIO(manifest))
    return gzip.compress(buffer.getvalue(), mtime=0)


def publish_doc(name: str, version: str, tag: str = "latest", **fields: Any) -> dict[str, Any]:
    """What `npm publish` PUTs (libnpmpublish's shape)."""
    return publish_body(name, version, tarball(name, version), tag, **fields)


def url_name(name: str) -> str:
    return name.replace("/", "%2f")


async def make_repo(client: httpx.AsyncClient, **extra: Any) -> None:
    await create_package_repository(client, "npm-hosted", "npm", **extra)


@pytest.mark.parametrize("name", ["left-pad", "@team/left-pad"])
async def test_publish_packument_tarball_and_republish(tmp_path: Path, name: str) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        r = await client.put(f"{BASE}/{url_name(name)}", json=publish_doc(name, "1.0.0"))
        assert r.status_code == 201, r.text
        r = await client.put(f"{BASE}/{url_name(name)}", json=publish_doc(name, "1.1.0"))
        assert r.status_code == 201, r.text

        full = (await client.get(f"{BASE}/{url_name(name)}")).json()
        assert full["name"] == name and full["dist-tags"] == {"latest": "1.1.0"}
        assert set(full["versions"]) == {"1.0.0", "1.1.0"} and full["_rev"]
        dist = full["versions"]["1.0.0"]["dist"]
        assert dist["tarball"].startswith(f"http://registry{BASE}/{name}/-/")
        corgi = await client.get(f"{BASE}/{url_name(name)}", headers={"Accept": CORGI})
        assert corgi.headers["content-type"].startswith(CORGI)
        assert "description" not in corgi.json()["versions"]["1.0.0"]

        got = await client.get(dist["tarball"])
        assert got.status_code == 200 and got.content == tarball(name, "1.0.0")
        assert (
            "sha512-" + base64.b64encode(hashlib.sha512(got.content).digest()).decode()
            == (dist["integrity"])
        )

        again = await client.put(f"{BASE}/{url_name(name)}", json=publish_doc(name, "1.0.0"))
        assert again.status_code == 403 and "previously published" in again.json()["error"]


async def test_bad_publishes_store_nothing(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        doc = publish_doc("demo", "1.0.0")
        doc["versions"]["1.0.0"]["dist"]["shasum"] = "0" * 40
        r = await client.put(f"{BASE}/demo", json=doc)
        assert r.status_code == 400 and "error" in r.json()
        r = await client.put(f"{BASE}/Demo", json=publish_doc("Demo", "1.0.0"))
        assert r.status_code == 400
        r = await client.put(f"{BASE}/demo", content=b"{not json")
        assert r.status_code == 400
        assert (await client.get(f"{BASE}/demo")).status_code == 404


async def test_dist_tags_deprecate_unpublish(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        for version in ("1.0.0", "2.0.0"):
            (await client.put(f"{BASE}/demo", json=publish_doc("demo", version))).raise_for_status()
        r = await client.put(f"{BASE}/-/package/demo/dist-tags/beta", json="1.0.0")
        assert r.status_code == 201
        tags = (await client.get(f"{BASE}/-/package/demo/dist-tags")).json()
        assert tags == {"latest": "2.0.0", "beta": "1.0.0"}
        assert (await client.delete(f"{BASE}/-/package/demo/dist-tags/beta")).is_success

        # npm deprecate: the packument comes back with a message on a version.
        doc = (await client.get(f"{BASE}/demo")).json()
        doc["versions"]["1.0.0"]["deprecated"] = "use 2"
        r = await client.put(f"{BASE}/demo", json=doc)
        assert r.status_code == 201, r.text
        full = (await client.get(f"{BASE}/demo")).json()
        assert full["versions"]["1.0.0"]["deprecated"] == "use 2"

        # npm unpublish demo@2.0.0: the packument without it, then the tarball.
        doc = (await client.get(f"{BASE}/demo?write=true")).json()
        del doc["versions"]["2.0.0"]
        doc["dist-tags"] = {"latest": "1.0.0"}
        r = await client.put(f"{BASE}/demo/-rev/{doc['_rev']}", json=doc)
        assert r.status_code == 201, r.text
        r = await client.delete(f"{BASE}/demo/-/demo-2.0.0.tgz/-rev/{doc['_rev']}")
        assert r.is_success
        full = (await client.get(f"{BASE}/demo")).json()
        assert set(full["versions"]) == {"1.0.0"} and full["dist-tags"] == {"latest": "1.0.0"}
        assert (await client.get(f"{BASE}/demo/-/demo-2.0.0.tgz")).status_code == 404

        r = await client.delete(f"{BASE}/demo/-rev/{full['_rev']}")
        assert r.is_success
        assert (await client.get(f"{BASE}/demo")).status_code == 404


async def test_login_token_whoami_and_private_reads(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await make_repo(client, visibility="private")
        await registry.accounts.create_user(None, "dev", "dev-password-1")
        r = await client.put(
            f"{BASE}/-/user/org.couchdb.user:dev",
            json={"name": "dev", "password": "dev-password-1"},
            headers={"Authorization": ""},
        )
        assert r.status_code == 201
        token = r.json()["token"]
        r = await client.get(f"{BASE}/-/whoami", headers=bearer(token))
        assert r.status_code == 404  # dev is not a member: the repository is not there
        await client.put(f"{BASE}/demo", json=publish_doc("demo", "1.0.0"))
        r = await client.get(f"{BASE}/demo", headers={"Authorization": ""})
        assert r.status_code == 401
        r = await client.get(f"{BASE}/demo", headers=bearer("chp_0123456789abcdef_nope"))
        assert r.status_code == 401
        r = await client.put(
            f"{BASE}/-/user/org.couchdb.user:dev",
            json={"name": "dev", "password": "wrong"},
            headers={"Authorization": ""},
        )
        assert r.status_code == 401
        assert (await client.get(f"{BASE}/-/whoami")).json() == {"username": "root"}
        assert (
            await client.get(f"{BASE}/demo", headers=basic("dev", "dev-password-1"))
        ).status_code == 404


async def test_first_publish_with_another_tag_also_gets_latest(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        r = await client.put(f"{BASE}/demo", json=publish_doc("demo", "1.0.0-rc.1", tag="next"))
        assert r.status_code == 201, r.text
        tags = (await client.get(f"{BASE}/-/package/demo/dist-tags")).json()
        assert tags == {"next": "1.0.0-rc.1", "latest": "1.0.0-rc.1"}
        # Once there is a latest, publishing under another tag leaves it alone.
        r = await client.put(f"{BASE}/demo", json=publish_doc("demo", "1.0.0"))
        assert r.status_code == 201, r.text
        r = await client.put(f"{BASE}/demo", json=publish_doc("demo", "2.0.0-rc.1", tag="next"))
        assert r.status_code == 201, r.text
        tags = (await client.get(f"{BASE}/-/package/demo/dist-tags")).json()
        assert tags == {"next": "2.0.0-rc.1", "latest": "1.0.0"}


async def test_logout_revokes_the_token_it_is_sent_with(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await make_repo(client)
        await registry.accounts.create_user(None, "dev", "dev-password-1")
        tokens = []
        for _ in range(2):
            r = await client.put(
                f"{BASE}/-/user/org.couchdb.user:dev",
                json={"name": "dev", "password": "dev-password-1"},
                headers={"Authorization": ""},
            )
            tokens.append(r.json()["token"])
        first, second = tokens
        r = await client.delete(f"{BASE}/-/user/token/{first}", headers={"Authorization": ""})
        assert r.status_code == 401
        # Another token than the one the request is made with is not touched.
        r = await client.delete(f"{BASE}/-/user/token/{second}", headers=bearer(first))
        assert r.status_code == 404
        r = await client.delete(
            f"{BASE}/-/user/token/{first.replace('_', '%5F')}", headers=bearer(first)
        )
        assert r.status_code == 200, r.text
        r = await client.get(f"{BASE}/-/whoami", headers=bearer(first))
        assert r.status_code == 401
        r = await client.get(f"{BASE}/-/whoami", headers=bearer(second))
        assert r.json() == {"username": "dev"}


async def test_an_edit_without_versions_removes_nothing(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        for version in ("1.0.0", "1.1.0"):
            (await client.put(f"{BASE}/demo", json=publish_doc("demo", version))).raise_for_status()
        r = await client.put(f"{BASE}/demo", json={"name": "demo", "description": "x"})
        assert r.is_success
        assert set((await client.get(f"{BASE}/demo")).json()["versions"]) == {"1.0.0", "1.1.0"}
        doc = (await client.get(f"{BASE}/demo?write=true")).json()
        doc["versions"] = {}
        r = await client.put(f"{BASE}/demo/-rev/{doc['_rev']}", json=doc)
        assert r.status_code == 400 and "unpublish the package" in r.json()["error"]


async def test_unpublished_versions_are_never_reused(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        doc = publish_doc("demo", "1.0.0", _npmUser={"name": "someone-else"})
        doc["versions"]["1.0.0"]["dist"]["signatures"] = [{"keyid": "forged", "sig": "x"}]
        (await client.put(f"{BASE}/demo", json=doc)).raise_for_status()
        full = (await client.get(f"{BASE}/demo")).json()
        assert full["versions"]["1.0.0"]["_npmUser"] == {"name": "root"}
        assert "signatures" not in full["versions"]["1.0.0"]["dist"]
        assert (await client.delete(f"{BASE}/demo/-rev/{full['_rev']}")).is_success
        assert (await client.get(f"{BASE}/demo")).status_code == 404
        doc = publish_doc("demo", "1.0.0", description="other bytes")
        r = await client.put(f"{BASE}/demo", json=doc)
        assert r.status_code == 403 and "cannot be reused" in r.json()["error"]
        (await client.put(f"{BASE}/demo", json=publish_doc("demo", "1.0.1"))).raise_for_status()
        assert set((await client.get(f"{BASE}/demo")).json()["versions"]) == {"1.0.1"}


async def test_second_review_regressions(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client, visibility="private")
        (await client.put(f"{BASE}/demo", json=publish_doc("demo", "1.0.0"))).raise_for_status()

        # A packument read before a publish cannot undo that publish.
        stale = (await client.get(f"{BASE}/demo?write=true")).json()
        (await client.put(f"{BASE}/demo", json=publish_doc("demo", "1.1.0"))).raise_for_status()
        stale["versions"]["1.0.0"]["deprecated"] = "old"
        r = await client.put(f"{BASE}/demo", json=stale)
        assert r.status_code == 409 and "_rev" in r.json()["error"]
        r = await client.put(f"{BASE}/demo/-rev/{stale['_rev']}", json=stale)
        assert r.status_code == 409
        assert set((await client.get(f"{BASE}/demo")).json()["versions"]) == {"1.0.0", "1.1.0"}

        # Deleting the tarball of the latest version moves latest to what is left.
        r = await client.delete(f"{BASE}/demo/-/demo-1.1.0.tgz/-rev/any")
        assert r.is_success
        assert (await client.get(f"{BASE}/-/package/demo/dist-tags")).json() == {"latest": "1.0.0"}

        # Anonymous writes are refused before the body is read.
        sent = 0

        async def body():  # type: ignore[no-untyped-def]
            nonlocal sent
            for _ in range(200):
                sent += 65536
                yield b" " * 65536

        r = await client.put(f"{BASE}/demo", content=body(), headers={"Authorization": ""})
        assert r.status_code == 401 and sent < 200 * 65536
        # Nesting too deep to parse is bad JSON, not a server error.
        deep = b"[" * 100_000 + b"]" * 100_000
        assert (await client.put(f"{BASE}/demo", content=deep)).status_code == 400
        r = await client.put(f"{BASE}/-/package/demo/dist-tags/beta", content=b"[" * 4000)
        assert r.status_code == 400
        # Version documents are bounded.
        huge = publish_doc("demo", "2.0.0", readme="x" * (1024 * 1024 + 1))
        r = await client.put(f"{BASE}/demo", json=huge)
        assert r.status_code == 400 and "larger than" in r.json()["error"]


async def test_cleanup_removes_like_an_unpublish(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        for version in ("1.0.0", "1.1.0", "1.2.0"):
            (await client.put(f"{BASE}/demo", json=publish_doc("demo", version))).raise_for_status()
        api = "/api/v1/package-repositories/npm-hosted/cleanup-policy"
        assert (await client.put(api, json={"keep_last_versions": 1})).is_success
        assert (await client.post(f"{api}/run")).json()["files"] == 2
        r = await client.put(f"{BASE}/demo", json=publish_doc("demo", "1.0.0", description="x"))
        assert r.status_code == 403 and "cannot be reused" in r.json()["error"]


async def test_packuments_revalidate_with_etags(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        (await client.put(f"{BASE}/demo", json=publish_doc("demo", "1.0.0"))).raise_for_status()
        first = await client.get(f"{BASE}/demo", headers={"Accept": CORGI})
        etag = first.headers["etag"]
        again = await client.get(f"{BASE}/demo", headers={"Accept": CORGI, "If-None-Match": etag})
        assert again.status_code == 304
        # The full document is another representation, with another tag.
        full = await client.get(f"{BASE}/demo", headers={"If-None-Match": etag})
        assert full.status_code == 200 and full.headers["etag"] != etag
        (await client.put(f"{BASE}/demo", json=publish_doc("demo", "1.1.0"))).raise_for_status()
        changed = await client.get(f"{BASE}/demo", headers={"Accept": CORGI, "If-None-Match": etag})
        assert changed.status_code == 200
