"""Who may do what in hosted package repositories (the owning namespace's rules,
robots and tokens by scope), and how package files count toward quotas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.helpers import admin_client, basic, bearer, create_package_repository

pytestmark = pytest.mark.anyio

API = "/api/v1"
JAR = "com/example/lib/1.0/lib-1.0.jar"


async def ok(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def test_org_roles_robots_and_scoped_tokens(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        for name in ("owner", "reader", "outsider"):
            await registry.accounts.create_user(None, name, f"{name}-password")
        auth = {n: basic(n, f"{n}-password") for n in ("owner", "reader", "outsider")}
        await ok(await client.post(f"{API}/orgs", json={"name": "acme"}, headers=auth["owner"]))
        await ok(
            await client.put(
                f"{API}/orgs/acme/members/reader", json={"role": "reader"}, headers=auth["owner"]
            ),
            200,
        )
        # The organisation's owner creates repositories in it; others may not.
        create = {"name": "releases", "format": "maven", "namespace": "acme"}
        refused = await client.post(
            f"{API}/package-repositories", json=create, headers=auth["reader"]
        )
        assert refused.status_code == 403
        doc = await ok(
            await client.post(
                f"{API}/package-repositories",
                json={**create, "visibility": "private"},
                headers=auth["owner"],
            )
        )
        assert doc["namespace"] == "acme" and doc["write_policy"] == "deny"
        await ok(
            await client.post(
                f"{API}/package-repositories",
                json={"name": "other", "format": "maven", "namespace": "acme"},
                headers=auth["owner"],
            )
        )

        url = f"/repository/releases/{JAR}"
        await ok(await client.put(url, content=b"jar", headers=auth["owner"]))
        assert (await client.get(url, headers=auth["reader"])).content == b"jar"
        assert (await client.put(url, content=b"x", headers=auth["reader"])).status_code == 403
        assert (await client.get(url, headers=auth["outsider"])).status_code == 404
        listed = await ok(
            await client.get(f"{API}/package-repositories", headers=auth["outsider"]), 200
        )
        assert "releases" not in [r["name"] for r in listed] and "other" in [
            r["name"] for r in listed
        ]

        # A robot's scopes are matched against NAMESPACE/NAME.
        robot = await ok(
            await client.post(
                f"{API}/namespaces/acme/robots",
                json={"name": "ci", "scopes": ["acme/releases:pull,push"]},
                headers=auth["owner"],
            )
        )
        as_robot = basic(robot["name"], robot["secret"])
        jar2 = "/repository/releases/com/example/lib/2.0/lib-2.0.jar"
        await ok(await client.put(jar2, content=b"two", headers=as_robot))
        other = "/repository/other/com/example/lib/2.0/lib-2.0.jar"
        assert (await client.put(other, content=b"two", headers=as_robot)).status_code == 403
        # A bare robot secret as Bearer (how npm sends _authToken) works the same.
        assert (await client.get(jar2, headers=bearer(robot["secret"]))).content == b"two"
        assert (await client.delete(jar2, headers=as_robot)).status_code == 403

        # A personal access token narrowed to pulls cannot write.
        token = await ok(
            await client.post(
                f"{API}/tokens",
                json={"name": "read", "scopes": ["acme/releases:pull"]},
                headers=auth["owner"],
            )
        )
        as_token = basic("owner", token["secret"])
        assert (await client.get(url, headers=as_token)).content == b"jar"
        assert (await client.put(url + ".x", content=b"x", headers=as_token)).status_code in (
            400,
            403,
        )
        jar3 = "/repository/releases/com/example/lib/3.0/lib-3.0.jar"
        assert (await client.put(jar3, content=b"3", headers=as_token)).status_code == 403
        assert (
            await client.put(jar3, content=b"3", headers=bearer(token["secret"]))
        ).status_code == 403


async def test_package_files_count_toward_the_namespace_quota(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await registry.accounts.create_user(None, "team", "team-password")
        await create_package_repository(client, "pypi", "pypi", namespace="team")
        await create_package_repository(client, "maven", "maven", namespace="team")
        await ok(await client.put(f"{API}/namespaces/team/quota", json={"quota_bytes": 5000}), 200)
        await ok(await client.put(f"/repository/maven/{JAR}", content=b"a" * 3000))
        usage = await ok(await client.get(f"{API}/namespaces/team/usage"), 200)
        assert usage["usage_bytes"] == 3000
        big = "/repository/maven/com/example/lib/2.0/lib-2.0.jar"
        refused = await client.put(big, content=b"b" * 2500)
        assert refused.status_code == 403 and "quota" in refused.text
        assert (await client.get(big)).status_code == 404
        assert (await ok(await client.get(f"{API}/namespaces/team/usage"), 200))[
            "usage_bytes"
        ] == 3000
        # Deleting the file frees the space.
        assert (await client.delete(f"/repository/maven/{JAR}")).status_code == 204
        await ok(await client.put(big, content=b"b" * 2500))


async def test_a_redeploy_costs_only_what_it_adds(tmp_path: Path) -> None:
    from tests.http.test_pypi import form

    async with admin_client(tmp_path) as (client, registry):
        await registry.accounts.create_user(None, "team", "team-password")
        await create_package_repository(
            client, "py", "pypi", namespace="team", write_policy="allow"
        )
        await ok(await client.put(f"{API}/namespaces/team/quota", json={"quota_bytes": 5000}), 200)
        for content in (b"a" * 4000, b"b" * 4100):  # the second replaces the first
            fields, files = form("demo", "1.0", "demo-1.0.tar.gz", content)
            await ok(await client.post("/repository/py/", data=fields, files=files), 200)
        usage = await ok(await client.get(f"{API}/namespaces/team/usage"), 200)
        assert usage["usage_bytes"] == 4100
