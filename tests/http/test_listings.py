from __future__ import annotations

import httpx
import pytest

from tests.http.helpers import error_codes, push_image

pytestmark = pytest.mark.anyio


async def _tags(client: httpx.AsyncClient, name: str, tags: list[str]) -> None:
    _, manifest = await push_image(client, name, tags[0])
    for tag in tags[1:]:
        r = await client.put(
            f"/v2/{name}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert r.status_code == 201


async def test_tags_sorted_and_paginated(client: httpx.AsyncClient) -> None:
    tags = ["v2", "latest", "v10", "V1", "a", "b-rc", "b_1"]
    await _tags(client, "team/app", tags)
    r = await client.get("/v2/team/app/tags/list")
    assert r.json() == {"name": "team/app", "tags": sorted(tags)}
    assert "Link" not in r.headers

    seen: list[str] = []
    url = "/v2/team/app/tags/list?n=3"
    while url:
        r = await client.get(url)
        page = r.json()["tags"]
        assert len(page) <= 3
        seen += page
        link = r.headers.get("Link")
        url = link.split(";")[0].strip("<>") if link else ""
    assert seen == sorted(tags)

    r = await client.get("/v2/team/app/tags/list", params={"n": 2, "last": "b-rc"})
    assert r.json()["tags"] == ["b_1", "latest"]
    assert r.headers["Link"] == '</v2/team/app/tags/list?n=2&last=latest>; rel="next"'
    r = await client.get("/v2/team/app/tags/list", params={"n": 0})
    assert r.json()["tags"] == []


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "1e3"])
async def test_garbage_page_size(client: httpx.AsyncClient, n: str) -> None:
    await push_image(client, "team/app", "v1")
    r = await client.get("/v2/team/app/tags/list", params={"n": n})
    assert r.status_code == 400
    assert error_codes(r) == ["PAGINATION_NUMBER_INVALID"]
    r = await client.get("/v2/_catalog", params={"n": n})
    assert r.status_code == 400


async def test_garbage_last(client: httpx.AsyncClient) -> None:
    await push_image(client, "team/app", "v1")
    r = await client.get("/v2/team/app/tags/list", params={"last": "bad tag!"})
    assert r.status_code == 400
    assert error_codes(r) == ["TAG_INVALID"]
    r = await client.get("/v2/_catalog", params={"last": "Bad/Name"})
    assert error_codes(r) == ["NAME_INVALID"]


async def test_tags_of_unknown_repository(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/nobody/app/tags/list")
    assert r.status_code == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]


async def test_catalog_paginates(client: httpx.AsyncClient) -> None:
    names = ["b/app", "a/app", "c/deep/app", "a/zed"]
    for name in names:
        await push_image(client, name, "v1")
    r = await client.get("/v2/_catalog")
    assert r.json() == {"repositories": sorted(names)}
    r = await client.get("/v2/_catalog", params={"n": 2})
    assert r.json() == {"repositories": ["a/app", "a/zed"]}
    assert r.headers["Link"] == '</v2/_catalog?n=2&last=a%2Fzed>; rel="next"'
    r = await client.get("/v2/_catalog", params={"n": 2, "last": "a/zed"})
    assert r.json() == {"repositories": ["b/app", "c/deep/app"]}


@pytest.mark.parametrize("n", ["\u00b2", "9" * 5000])
async def test_hostile_page_sizes(client: httpx.AsyncClient, n: str) -> None:
    await push_image(client, "team/app", "v1")
    for url in ("/v2/_catalog", "/v2/team/app/tags/list"):
        r = await client.get(url, params={"n": n})
        assert r.status_code == 400
        assert error_codes(r) == ["PAGINATION_NUMBER_INVALID"]


async def test_repeated_parameter_uses_the_first(client: httpx.AsyncClient) -> None:
    await _tags(client, "team/app", ["a", "b", "c"])
    r = await client.get("/v2/team/app/tags/list?n=1&n=2")
    assert r.json()["tags"] == ["a"]
