"""Hosted PyPI repositories over HTTP: twine's upload form, the simple index in
both PEP 503 HTML and PEP 691 JSON, PEP 658 metadata, yanks, and refusals."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.http.packages import pypi as pypi_handlers
from tests.http.helpers import admin_client, basic, create_package_repository

pytestmark = pytest.mark.anyio

JSON = "application/vnd.pypi.simple.v1+json"


def wheel(name: str, version: str, requires_python: str | None = None) -> tuple[str, bytes]:
    dist = f"{name.replace('-', '_')}-{version}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    members = {
        f"{name.replace('-', '_')}/__init__.py": "VALUE = 1\n",
        f"{dist}.dist-info/METADATA": metadata,
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
        f"{dist}.dist-info/RECORD": "",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, text in members.items():
            # A fixed time: the same wheel built twice must be the same bytes (the
            # current time would differ across a two-second boundary).
            archive.writestr(zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0)), text)
    return f"{dist}-py3-none-any.whl", buffer.getvalue()


def form(
    name: str, version: str, filename: str, data: bytes, **extra: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel" if filename.endswith(".whl") else "sdist",
        "pyversion": "py3" if filename.endswith(".whl") else "source",
        "metadata_version": "2.1",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "md5_digest": hashlib.md5(data).hexdigest(),
        **extra,
    }
    return fields, {"content": (filename, data, "application/octet-stream")}


async def make_repo(client: httpx.AsyncClient, name: str = "pypi-hosted", **extra: Any) -> None:
    doc = await create_package_repository(client, name, "pypi", **extra)
    assert doc["url"].endswith(f"/repository/{name}/")


async def upload(client: httpx.AsyncClient, repo: str, name: str, version: str, **extra: str):  # type: ignore[no-untyped-def]
    filename, data = wheel(name, version, extra.get("requires_python"))
    fields, files = form(name, version, filename, data, **extra)
    return await client.post(f"/repository/{repo}/", data=fields, files=files), filename, data


async def test_upload_then_index_html_json_metadata_and_file(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        r, filename, data = await upload(
            client, "pypi-hosted", "Demo.Pkg", "1.0", requires_python=">=3.8"
        )
        assert r.status_code == 200, r.text
        (await upload(client, "pypi-hosted", "Demo.Pkg", "1.1"))[0].raise_for_status()

        root = await client.get("/repository/pypi-hosted/simple/")
        assert root.status_code == 200 and 'href="demo-pkg/"' in root.text

        # Non-normalised names redirect to the normalised page (PEP 503).
        moved = await client.get("/repository/pypi-hosted/simple/Demo.Pkg/")
        assert moved.status_code == 301
        assert moved.headers["location"].endswith("/repository/pypi-hosted/simple/demo-pkg/")

        page = await client.get("/repository/pypi-hosted/simple/demo-pkg/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        sha = hashlib.sha256(data).hexdigest()
        href = f"../../packages/demo-pkg/{filename}#sha256={sha}"
        assert href in page.text
        assert 'data-requires-python="&gt;=3.8"' in page.text
        assert "data-core-metadata=" in page.text

        doc = await client.get("/repository/pypi-hosted/simple/demo-pkg/", headers={"Accept": JSON})
        assert doc.headers["content-type"].startswith(JSON)
        body = doc.json()
        assert body["versions"] == ["1.0", "1.1"]
        first = next(f for f in body["files"] if f["filename"] == filename)
        assert first["hashes"] == {"sha256": sha} and first["size"] == len(data)

        url = httpx.URL(str(page.url)).join(href.split("#")[0])
        got = await client.get(url)
        assert got.status_code == 200 and got.content == data
        meta = await client.get(str(url) + ".metadata")
        assert meta.status_code == 200 and b"Name: Demo.Pkg" in meta.content
        expected = hashlib.sha256(meta.content).hexdigest()
        assert first["core-metadata"] == {"sha256": expected}


async def test_refusals_leave_nothing_behind(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        filename, data = wheel("demo", "1.0")
        fields, files = form("demo", "1.0", filename, data, sha256_digest="0" * 64)
        r = await client.post("/repository/pypi-hosted/", data=fields, files=files)
        assert r.status_code == 400 and "sha256_digest" in r.text
        fields, files = form("other", "1.0", filename, data)
        r = await client.post("/repository/pypi-hosted/", data=fields, files=files)
        assert r.status_code == 400
        r = await client.post("/repository/pypi-hosted/", content=b"not a form")
        assert r.status_code == 400
        assert (await client.get("/repository/pypi-hosted/simple/demo/")).status_code == 404

        assert (await upload(client, "pypi-hosted", "demo", "1.0"))[0].status_code == 200
        # The same file again is accepted (as PyPI does); other bytes are not.
        assert (await upload(client, "pypi-hosted", "demo", "1.0"))[0].status_code == 200
        filename, data = wheel("demo", "1.0", ">=3.9")
        fields, files = form("demo", "1.0", filename, data)
        again = await client.post("/repository/pypi-hosted/", data=fields, files=files)
        assert again.status_code == 409 and "File already exists" in again.text
        assert (
            await client.get(f"/repository/pypi-hosted/packages/demo/{filename}")
        ).content != data


async def test_yank_shows_in_both_index_forms(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        (await upload(client, "pypi-hosted", "demo", "1.0"))[0].raise_for_status()
        r = await client.post(
            "/api/v1/package-repositories/pypi-hosted/pypi/demo/1.0/yank",
            json={"reason": "broken build"},
        )
        assert r.status_code == 200 and r.json() == {"files": 1}
        page = await client.get("/repository/pypi-hosted/simple/demo/")
        assert 'data-yanked="broken build"' in page.text
        doc = await client.get("/repository/pypi-hosted/simple/demo/", headers={"Accept": JSON})
        assert doc.json()["files"][0]["yanked"] == "broken build"
        r = await client.delete("/api/v1/package-repositories/pypi-hosted/pypi/demo/1.0/yank")
        assert r.status_code == 200
        doc = await client.get("/repository/pypi-hosted/simple/demo/", headers={"Accept": JSON})
        assert doc.json()["files"][0]["yanked"] is False


async def test_private_repository_needs_credentials(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, registry):
        await make_repo(client, "private-py", visibility="private")
        await make_repo(client, "public-py", visibility="public")
        for repo in ("private-py", "public-py"):
            (await upload(client, repo, "demo", "1.0"))[0].raise_for_status()
        anonymous = {"Authorization": ""}
        r = await client.get("/repository/private-py/simple/demo/", headers=anonymous)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        r = await client.get("/repository/public-py/simple/demo/", headers=anonymous)
        assert r.status_code == 200
        # Anonymous uploads are asked to log in; a stranger does not learn the
        # private repository exists; a reader of a public one may not upload.
        filename, data = wheel("demo", "2.0")
        fields, files = form("demo", "2.0", filename, data)
        r = await client.post("/repository/public-py/", data=fields, files=files, headers=anonymous)
        assert r.status_code == 401
        await registry.accounts.create_user(None, "stranger", "stranger-password")
        stranger = basic("stranger", "stranger-password")
        r = await client.get("/repository/private-py/simple/demo/", headers=stranger)
        assert r.status_code == 404
        r = await client.post("/repository/public-py/", data=fields, files=files, headers=stranger)
        assert r.status_code == 403


async def test_a_field_per_metadata_line_is_fine_but_fields_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        # twine and uv send each Requires-Dist, Provides-Extra and Classifier as a
        # field of its own; wheels with hundreds of extras are common.
        filename, data = wheel("demo", "1.0")
        fields, files = form("demo", "1.0", filename, data)
        fields["provides_extra"] = [f"x{i}" for i in range(600)]
        fields["requires_dist"] = [f"dep{i}>=1; extra == 'x{i}'" for i in range(600)]
        r = await client.post("/repository/pypi-hosted/", data=fields, files=files)
        assert r.status_code == 200, r.text

        # What bounds memory is the fields' total size.
        monkeypatch.setattr(pypi_handlers, "_MAX_FORM_FIELD_BYTES", 100_000)
        filename, data = wheel("demo", "2.0")
        fields, files = form("demo", "2.0", filename, data)
        fields["classifiers"] = ["x" * 40_000] * 3
        r = await client.post("/repository/pypi-hosted/", data=fields, files=files)
        assert r.status_code == 400 and "larger than 100000 bytes together" in r.text
        r = await client.post(
            "/repository/pypi-hosted/",
            content=b"--x\r\n",
            headers={"Content-Type": "multipart/form-data"},  # no boundary
        )
        assert r.status_code == 400 and "not a valid multipart form" in r.text
        doc = await client.get("/repository/pypi-hosted/simple/demo/", headers={"Accept": JSON})
        assert doc.json()["versions"] == ["1.0"]


async def test_simultaneous_uploads_of_one_file_all_succeed(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)
        filename, data = wheel("demo", "1.0")
        fields, files = form("demo", "1.0", filename, data)
        replies = await asyncio.gather(
            *(client.post("/repository/pypi-hosted/", data=fields, files=files) for _ in range(4))
        )
        assert [r.status_code for r in replies] == [200] * 4, [r.text for r in replies]
        other_name, other = wheel("demo", "1.0", ">=3.9")
        fields, files = form("demo", "1.0", other_name, other)
        replies = await asyncio.gather(
            *(client.post("/repository/pypi-hosted/", data=fields, files=files) for _ in range(2))
        )
        assert [r.status_code for r in replies] == [409, 409]
        doc = await client.get("/repository/pypi-hosted/simple/demo/", headers={"Accept": JSON})
        assert [f["hashes"]["sha256"] for f in doc.json()["files"]] == [
            hashlib.sha256(data).hexdigest()
        ]


async def test_review_regressions(tmp_path: Path) -> None:
    from datetime import timedelta

    async with admin_client(tmp_path, packages={"max_file_bytes": 100_000}) as (client, registry):
        await make_repo(client)
        # The bare repository URL takes uploads (twine and uv refuse redirects).
        filename, data = wheel("demo", "1.0")
        fields, files = form("demo", "1.0", filename, data)
        r = await client.post("/repository/pypi-hosted", data=fields, files=files)
        assert r.status_code == 200, r.text

        # A wheel's METADATA survives garbage collection while the wheel lives.
        await registry.gc.run(grace=timedelta(0))
        url = f"/repository/pypi-hosted/packages/demo/{filename}"
        assert (await client.get(url + ".metadata")).status_code == 200

        # One file name, one content, however the version is spelt.
        sdist = b"sdist-bytes"
        fields, files = form("demo", "1.0", "demo-1.0.tar.gz", sdist)
        assert (await client.post("/repository/pypi-hosted/", data=fields, files=files)).is_success
        fields, files = form("demo", "1.0.0", "demo-1.0.tar.gz", b"other-bytes")
        r = await client.post("/repository/pypi-hosted/", data=fields, files=files)
        assert r.status_code == 409
        page = await client.get("/repository/pypi-hosted/simple/demo/")
        assert page.text.count("demo-1.0.tar.gz#") == 1

        # A body with no Content-Length is cut off at the limit, not spooled whole.
        boundary = "b0undary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\n'
            f'file_upload\r\n--{boundary}\r\nContent-Disposition: form-data; name="content";'
            f' filename="demo-2.0.tar.gz"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        sent = 0

        async def body():  # type: ignore[no-untyped-def]
            nonlocal sent
            yield head
            for _ in range(100):
                sent += 65536
                yield b"x" * 65536

        r = await client.post(
            "/repository/pypi-hosted/",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.status_code == 400 and "100000-byte limit" in r.text
        assert sent < 100 * 65536  # refused while the body was still arriving

        # Read-only repositories refuse yanks too.
        r = await client.patch(
            "/api/v1/package-repositories/pypi-hosted", json={"write_policy": "readonly"}
        )
        assert r.status_code == 200
        r = await client.post(
            "/api/v1/package-repositories/pypi-hosted/pypi/demo/1.0/yank", json={"reason": "x"}
        )
        assert r.status_code == 403


async def test_one_file_name_one_content_even_when_racing(tmp_path: Path) -> None:
    import asyncio

    async with admin_client(tmp_path) as (client, _):
        await make_repo(client)

        async def send(version: str, data: bytes) -> int:
            fields, files = form("demo", version, "demo-1.0.tar.gz", data)
            r = await client.post("/repository/pypi-hosted/", data=fields, files=files)
            return r.status_code

        statuses = await asyncio.gather(send("1.0", b"first"), send("1.0.0", b"second"))
        assert sorted(statuses) == [200, 409]
        page = await client.get("/repository/pypi-hosted/simple/demo/")
        assert page.text.count("demo-1.0.tar.gz#") == 1
