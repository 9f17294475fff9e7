"""Hosted Maven repositories over HTTP: the PUTs mvn and Jenkins' uploader send,
server-computed checksums and maven-metadata.xml, browsing, and refusals."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.core import streams
from tests.http.helpers import admin_client, basic, create_package_repository

pytestmark = pytest.mark.anyio

BASE = "/repository/maven-releases"
JAR_PATH = "com/example/lib/1.0/lib-1.0.jar"


async def make_repo(client: httpx.AsyncClient, name: str = "maven-releases", **extra: Any) -> None:
    await create_package_repository(client, name, "maven", **extra)


async def test_put_get_checksums_metadata_and_listing(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        jar = b"PK\x03\x04 a jar"
        r = await client.put(f"{BASE}/{JAR_PATH}", content=jar)
        assert r.status_code == 201, r.text
        for algorithm in ("md5", "sha1", "sha256", "sha512"):
            digest = hashlib.new(algorithm, jar).hexdigest()
            # An uploaded checksum that matches is accepted; the server's own is served.
            assert (await client.put(f"{BASE}/{JAR_PATH}.{algorithm}", content=digest)).is_success
            got = await client.get(f"{BASE}/{JAR_PATH}.{algorithm}")
            assert got.status_code == 200 and got.text == digest
        wrong = await client.put(f"{BASE}/{JAR_PATH}.sha1", content="0" * 40)
        assert wrong.status_code == 400 and "mismatch" in wrong.text

        got = await client.get(f"{BASE}/{JAR_PATH}")
        assert got.status_code == 200 and got.content == jar
        head = await client.head(f"{BASE}/{JAR_PATH}")
        assert head.status_code == 200 and head.headers["content-length"] == str(len(jar))

        await client.put(f"{BASE}/com/example/lib/1.10/lib-1.10.jar", content=b"later")
        await client.put(f"{BASE}/com/example/lib/1.9/lib-1.9.jar", content=b"earlier")
        meta = await client.get(f"{BASE}/com/example/lib/maven-metadata.xml")
        assert meta.status_code == 200
        text = meta.text
        assert "<latest>1.10</latest>" in text and "<release>1.10</release>" in text
        assert text.index("<version>1.9</version>") < text.index("<version>1.10</version>")
        sha1 = await client.get(f"{BASE}/com/example/lib/maven-metadata.xml.sha1")
        assert sha1.text == hashlib.sha1(meta.content).hexdigest()

        listing = await client.get(f"{BASE}/com/example/lib/1.0/")
        assert listing.status_code == 200 and "lib-1.0.jar" in listing.text
        moved = await client.get(f"{BASE}/com/example/lib", follow_redirects=False)
        assert moved.status_code == 301 and moved.headers["location"].endswith("/lib/")


async def test_release_rules_redeploy_and_bad_paths(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        await make_repo(client, "maven-snapshots", version_policy="snapshot")
        assert (await client.put(f"{BASE}/{JAR_PATH}", content=b"one")).status_code == 201
        # The same bytes again are fine; other bytes are refused (redeploy disabled).
        assert (await client.put(f"{BASE}/{JAR_PATH}", content=b"one")).status_code == 201
        again = await client.put(f"{BASE}/{JAR_PATH}", content=b"two")
        assert again.status_code == 403 and "does not allow updating" in again.text
        assert (await client.get(f"{BASE}/{JAR_PATH}")).content == b"one"

        snap = "com/example/lib/1.1-SNAPSHOT/lib-1.1-20261127.120000-1.jar"
        refused = await client.put(f"{BASE}/{snap}", content=b"s")
        assert refused.status_code == 400 and "SNAPSHOT" in refused.text
        ok = await client.put(f"/repository/maven-snapshots/{snap}", content=b"s")
        assert ok.status_code == 201
        meta = await client.get(
            "/repository/maven-snapshots/com/example/lib/1.1-SNAPSHOT/maven-metadata.xml"
        )
        assert "<value>1.1-20261127.120000-1</value>" in meta.text
        release = await client.put(f"/repository/maven-snapshots/{JAR_PATH}", content=b"r")
        assert release.status_code == 400

        for bad in ("com/../../etc/passwd", "com/example/lib/1.0/other-1.0.jar", "a//b/c.jar"):
            r = await client.put(f"{BASE}/{bad}", content=b"x")
            assert r.status_code in (400, 404), (bad, r.status_code)
        assert (await client.get(f"{BASE}/com/example/lib/1.0/other-1.0.jar")).status_code == 404


async def test_chunked_put_and_permissions(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await make_repo(client, visibility="private")

        async def body() -> Any:
            for part in (b"chunk-1 ", b"chunk-2"):
                yield part

        r = await client.put(f"{BASE}/{JAR_PATH}", content=body())
        assert r.status_code == 201
        assert (await client.get(f"{BASE}/{JAR_PATH}")).content == b"chunk-1 chunk-2"
        anonymous = {"Authorization": ""}
        r = await client.get(f"{BASE}/{JAR_PATH}", headers=anonymous)
        assert r.status_code == 401 and r.headers["www-authenticate"] == 'Basic realm="cargohold"'
        await registry.accounts.create_user(None, "stranger", "stranger-password")
        r = await client.get(f"{BASE}/{JAR_PATH}", headers=basic("stranger", "stranger-password"))
        assert r.status_code == 404
        wrong = basic("root", "wrong")
        assert (await client.get(f"{BASE}/{JAR_PATH}", headers=wrong)).status_code == 401


async def test_plugin_group_metadata_is_served(tmp_path: Path) -> None:
    """What Maven 3.9 deploys with a plugin: group-level metadata mapping a prefix
    to the plugin, which `mvn PREFIX:goal` reads from the plugin groups."""
    group = f"{BASE}/com/example/tools/maven-metadata.xml"
    plugin = (
        b"<metadata><plugins><plugin><name>Hello</name><prefix>hello</prefix>"
        b"<artifactId>hello-maven-plugin</artifactId></plugin></plugins></metadata>"
    )
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        assert (await client.get(group)).status_code == 404
        assert (await client.put(group, content=plugin)).status_code == 201
        assert (
            await client.put(f"{group}.sha1", content=hashlib.sha1(plugin).hexdigest())
        ).is_success
        served = await client.get(group)
        assert served.status_code == 200
        assert b"<prefix>hello</prefix>" in served.content
        assert b"<artifactId>hello-maven-plugin</artifactId>" in served.content
        sha1 = await client.get(f"{group}.sha1")
        assert sha1.text == hashlib.sha1(served.content).hexdigest()

        # The same directory is also the artifact com.example:tools: one document.
        await client.put(f"{BASE}/com/example/tools/1.0/tools-1.0.jar", content=b"jar")
        both = (await client.get(group)).text
        assert "<version>1.0</version>" in both and "<prefix>hello</prefix>" in both

        bad = plugin.replace(b"hello-maven-plugin", b"hello maven plugin")
        refused = await client.put(group, content=bad)
        assert refused.status_code == 400 and "plugin artifactId" in refused.text


async def test_review_regressions_groups_metadata_quota_and_types(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await registry.accounts.create_user(None, "team", "team-password")
        r = await client.post(
            "/api/v1/package-repositories",
            json={"name": "maven-releases", "format": "maven", "namespace": "team"},
        )
        assert r.status_code == 201
        # com.example/lib would be the same artifact as com/example/lib.
        dotted = await client.put(f"{BASE}/com.example/lib/9.0/lib-9.0.jar", content=b"x")
        assert dotted.status_code == 400 and "com.example is com/example" in dotted.text
        # Uploaded metadata is checked, not stored: it costs no quota.
        await client.put("/api/v1/namespaces/team/quota", json={"quota_bytes": 10_000})
        filler = b"<!--" + b"x" * 900_000 + b"-->"
        meta = (
            b"<metadata><groupId>com.example</groupId><artifactId>lib</artifactId>"
            + filler
            + b"</metadata>"
        )
        r = await client.put(f"{BASE}/com/example/lib/maven-metadata.xml", content=meta)
        assert r.status_code == 201
        usage = (await client.get("/api/v1/namespaces/team/usage")).json()["usage_bytes"]
        assert usage == 0
        # The same bytes again near the quota are fine; only growth counts.
        assert (await client.put(f"{BASE}/{JAR_PATH}", content=b"j" * 9000)).status_code == 201
        assert (await client.put(f"{BASE}/{JAR_PATH}", content=b"j" * 9000)).status_code == 201
        # Whatever a file claims to be, only known Maven types are served as such.
        page = f"{BASE}/com/example/lib/1.0/lib-1.0-javadoc.html"
        assert (await client.put(page, content=b"<script>1</script>")).status_code == 201
        got = await client.get(page)
        assert got.headers["content-type"] == "application/octet-stream"
        assert (await client.get(f"{BASE}/{JAR_PATH}")).headers["content-type"] == (
            "application/java-archive"
        )


async def test_conditional_get_answers_304(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        await client.put(f"{BASE}/{JAR_PATH}", content=b"jar-bytes")
        first = await client.get(f"{BASE}/{JAR_PATH}")
        etag = first.headers["etag"]
        assert etag == f'"{hashlib.sha1(b"jar-bytes").hexdigest()}"'
        again = await client.get(f"{BASE}/{JAR_PATH}", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        other = await client.get(f"{BASE}/{JAR_PATH}", headers={"If-None-Match": '"nope"'})
        assert other.status_code == 200


async def test_identical_racing_uploads_both_succeed(tmp_path: Path) -> None:
    import asyncio

    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        results = await asyncio.gather(
            *(client.put(f"{BASE}/{JAR_PATH}", content=b"same-bytes") for _ in range(4))
        )
        assert [r.status_code for r in results] == [201] * 4
        different = await asyncio.gather(
            client.put(f"{BASE}/com/example/lib/2.0/lib-2.0.jar", content=b"a"),
            client.put(f"{BASE}/com/example/lib/2.0/lib-2.0.jar", content=b"b"),
        )
        assert sorted(r.status_code for r in different) == [201, 403]


async def test_a_chunked_upload_over_the_limit_is_read_to_its_end_then_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no size declared, the limit is found mid-body; the client, still
    sending, reads the refusal only once its send is done, so the rest of the body
    is read (and dropped) before the answer, up to a bound."""
    limit = 1000
    async with admin_client(tmp_path, packages={"max_file_bytes": limit}) as (client, _):
        await make_repo(client)
        sent: list[int] = []

        def body(chunks: int) -> AsyncIterator[bytes]:
            async def gen() -> AsyncIterator[bytes]:
                for _ in range(chunks):
                    sent.append(500)
                    yield b"x" * 500

            return gen()

        r = await client.put(f"{BASE}/{JAR_PATH}", content=body(10))  # chunked
        assert r.status_code in (400, 413), r.text
        assert f"larger than the {limit}-byte limit" in r.text
        assert len(sent) == 10  # every chunk was taken
        assert (await client.get(f"{BASE}/{JAR_PATH}")).status_code == 404

        # Past the bound, the server stops reading and answers anyway.
        monkeypatch.setattr(streams, "DRAIN_MAX_BYTES", 2000)
        sent.clear()
        r = await client.put(f"{BASE}/{JAR_PATH}", content=body(1000))
        assert r.status_code in (400, 413), r.text
        assert 4 < len(sent) < 20  # the limit, then the bound, then it stopped
        assert (await client.get(f"{BASE}/{JAR_PATH}")).status_code == 404


async def test_a_declared_size_over_the_limit_is_refused_before_the_body(
    tmp_path: Path,
) -> None:
    """A client that says how much it will send hears at once that it is too much,
    without the body being read (so ``Expect: 100-continue`` spares the upload)."""
    limit = 1000
    async with admin_client(tmp_path, packages={"max_file_bytes": limit}) as (client, _):
        await make_repo(client)
        read: list[bytes] = []

        async def body() -> AsyncIterator[bytes]:
            for _ in range(4):
                read.append(b"x" * 500)
                yield b"x" * 500

        r = await client.put(
            f"{BASE}/{JAR_PATH}", content=body(), headers={"Content-Length": "2000"}
        )
        assert r.status_code in (400, 413), r.text
        assert f"larger than the {limit}-byte limit" in r.text
        assert read == []
        assert (await client.get(f"{BASE}/{JAR_PATH}")).status_code == 404
