"""The real npm CLI (npm 11, node 20) against a live server's hosted npm repositories.

One server for the module, with one publisher who logs in with ``npm login`` (legacy,
through a pseudo-terminal) to a public repository in their own namespace, and who also
owns the private and organisation repositories made here. Each test publishes packages
of its own (names carry a random suffix), so tests do not depend on each other's order.
Consumers install from projects whose HOME, cache and user config are their own, so
nothing comes from the publisher's cache. Other users get their tokens from the legacy
login request itself (`npm_couch_login`), which is what ``npm login`` sends.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.accounts import ADMIN, AuthRegistry, start_registry
from tests.e2e.packages import npm, npm_couch_login, npm_login, npm_project, npmrc_auth_key
from tests.npm_documents import publish_body

pytestmark = pytest.mark.e2e


def unique(label: str) -> str:
    return f"e2e-{label}-{uuid.uuid4().hex[:8]}"


def stored_token(home: Path) -> str | None:
    """The ``_authToken`` npm keeps in the user config under ``home``, if any."""
    npmrc = home / ".npmrc"
    text = npmrc.read_text() if npmrc.exists() else ""
    tokens = [line.partition(":_authToken=")[2] for line in text.splitlines()]
    return next((t.strip() for t in tokens if t.strip()), None)


def package_name(label: str, scoped: bool) -> str:
    return f"@{unique('scope')}/{label}" if scoped else unique(label)


def bare(name: str) -> str:
    """The name a tarball file is named after (a scoped package's, without its scope)."""
    return name.rpartition("/")[2]


SCOPES = pytest.mark.parametrize("scoped", [False, True], ids=["unscoped", "scoped"])


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def said(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def failed(result: subprocess.CompletedProcess[str]) -> str:
    text = said(result)
    assert result.returncode != 0, text
    return text


def create_repo(
    registry: AuthRegistry, namespace: str, visibility: str = "public", label: str = "npm"
) -> str:
    """A hosted npm repository owned by ``namespace``, made by the administrator."""
    name = unique(label)
    with registry.api(ADMIN) as api:
        reply = api.post(
            "/package-repositories",
            json={"name": name, "format": "npm", "namespace": namespace, "visibility": visibility},
        )
    assert reply.status_code == 201, reply.text
    assert reply.json()["visibility"] == visibility
    return name


@dataclass
class Publisher:
    """A user logged in with ``npm login``: the token lives in ``home``'s ``.npmrc``."""

    user: tuple[str, str]
    home: Path
    workdir: Path
    login_url: str
    login: subprocess.CompletedProcess[str]

    @property
    def token(self) -> str:
        token = stored_token(self.home)
        assert token is not None, "npm login wrote no _authToken"
        return token

    def project(self, url: str, name: str, version: str, **fields: Any) -> Path:
        project = npm_project(self.workdir, name, version, url)
        if fields:
            manifest = json.loads((project / "package.json").read_text())
            manifest.update(fields)
            (project / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        return project

    def npm(self, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return npm(cwd, *args, home=self.home, check=check)

    def authorize(self, url: str) -> None:
        """Use the login's token for another repository too: it is the user's token, and
        npm looks credentials up by the registry URL."""
        npmrc = self.home / ".npmrc"
        npmrc.write_text(npmrc.read_text() + f"{npmrc_auth_key(url)}:_authToken={self.token}\n")

    def publish(self, url: str, name: str, version: str, **fields: Any) -> Path:
        project = self.project(url, name, version, **fields)
        result = self.npm(project, "publish")
        assert f"+ {name}@{version}" in result.stdout, said(result)
        return project


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    reg = start_registry(tmp_path_factory.mktemp("npm"))
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def publisher(registry: AuthRegistry, tmp_path_factory: pytest.TempPathFactory) -> Publisher:
    """The owner of the public repository's namespace, logged in to it by ``npm login``."""
    user = registry.create_user("npm-pub")
    workdir = tmp_path_factory.mktemp("npm-publisher")
    home = workdir / "home"
    url = f"{registry.url}/repository/{create_repo(registry, user[0], label='public')}/"
    login = npm_login(workdir, user[0], user[1], f"--registry={url}", home=home)
    assert login.returncode == 0, login.stdout
    return Publisher(user, home, workdir, url, login)


@pytest.fixture(scope="module")
def public_url(publisher: Publisher) -> str:
    """The public repository the publisher logged in to."""
    return publisher.login_url


@dataclass
class Consumer:
    """A project with its own HOME and cache, and no credentials unless given."""

    project: Path

    def npm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return npm(self.project, *args, check=check)

    def installed(self, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(
            (self.project / "node_modules" / name / "package.json").read_text()
        )
        return doc

    def lock(self, name: str) -> dict[str, Any]:
        doc = json.loads((self.project / "package-lock.json").read_text())
        entry: dict[str, Any] = doc["packages"][f"node_modules/{name}"]
        return entry


def consumer(tmp_path: Path, url: str, token: str | None = None) -> Consumer:
    project = tmp_path / f"consumer-{uuid.uuid4().hex[:6]}"
    project.mkdir()
    manifest = {"name": "consumer", "version": "0.0.0", "private": True}
    (project / "package.json").write_text(json.dumps(manifest) + "\n")
    lines = [f"registry={url}", "update-notifier=false", "audit=false", "fund=false"]
    if token is not None:
        lines.append(f"{npmrc_auth_key(url)}:_authToken={token}")
    (project / ".npmrc").write_text("\n".join(lines) + "\n")
    return Consumer(project)


def packed_file(tarball: bytes, member: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        found = archive.extractfile(f"package/{member}")
        assert found is not None
        return found.read()


# --------------------------------------------------------------------------- login, publish


def test_npm_login_whoami_publish_and_view(publisher: Publisher, public_url: str) -> None:
    assert f"Logged in on {publisher.login_url}" in publisher.login.stdout
    npmrc = (publisher.home / ".npmrc").read_text()
    assert f"{npmrc_auth_key(publisher.login_url)}:_authToken={publisher.token}" in npmrc

    plain, scoped = unique("plain"), f"@{unique('scope')}/widget"
    first = publisher.project(public_url, plain, "1.0.0")
    whoami = publisher.npm(first, "whoami")
    assert whoami.stdout.strip() == publisher.user[0]

    publisher.publish(public_url, plain, "1.0.0")
    publisher.publish(public_url, scoped, "1.0.0")
    publisher.publish(public_url, scoped, "1.1.0")

    view = publisher.npm(first, "view", plain, "versions", "--json")
    assert json.loads(view.stdout) == ["1.0.0"]
    view = publisher.npm(first, "view", scoped, "versions", "--json")
    assert json.loads(view.stdout) == ["1.0.0", "1.1.0"]
    tags = publisher.npm(first, "view", scoped, "dist-tags", "--json")
    assert json.loads(tags.stdout) == {"latest": "1.1.0"}
    description = publisher.npm(first, "view", scoped, "description")
    assert description.stdout.strip() == f"test package {scoped}"


def test_npm_login_refuses_a_wrong_password_and_logout_revokes(
    registry: AuthRegistry, public_url: str, tmp_path: Path
) -> None:
    user = registry.create_user("npm-session")
    home = tmp_path / "home"
    project = npm_project(tmp_path, unique("session"), "1.0.0", public_url)

    wrong = npm_login(project, user[0], "not-the-password", f"--registry={public_url}", home=home)
    assert wrong.returncode != 0 and "E401" in wrong.stdout, wrong.stdout
    assert stored_token(home) is None

    login = npm_login(project, user[0], user[1], f"--registry={public_url}", home=home)
    assert login.returncode == 0, login.stdout
    token = stored_token(home)
    assert token is not None
    assert npm(project, "whoami", home=home).stdout.strip() == user[0]

    # npm logout asks the registry to revoke the token, then forgets it.
    npm(project, "logout", home=home)
    assert stored_token(home) is None
    text = failed(npm(project, "whoami", home=home, check=False))
    assert "ENEEDAUTH" in text, text
    revoked = httpx.get(
        f"{public_url}-/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert revoked.status_code == 401, revoked.text


# --------------------------------------------------------------------------- install


def test_install_from_clean_project_checks_lockfile(
    publisher: Publisher, public_url: str, tmp_path: Path
) -> None:
    plain, scoped = unique("dep"), f"@{unique('scope')}/dep"
    sources = {
        plain: publisher.publish(public_url, plain, "1.0.0"),
        scoped: publisher.publish(public_url, scoped, "1.0.0"),
    }
    publisher.publish(public_url, plain, "1.1.0")  # latest is not what is asked for

    anonymous = consumer(tmp_path, public_url)  # a public repository needs no login
    anonymous.npm("install", f"{plain}@1.0.0", f"{scoped}@1.0.0")

    for name, source in sources.items():
        entry = anonymous.lock(name)
        assert entry["version"] == "1.0.0"
        assert entry["resolved"] == f"{public_url}{name}/-/{bare(name)}-1.0.0.tgz"
        served = httpx.get(entry["resolved"], timeout=30)
        assert served.status_code == 200
        assert entry["integrity"] == sri(served.content)
        installed = anonymous.project / "node_modules" / name / "index.js"
        assert installed.read_bytes() == (source / "index.js").read_bytes()
        assert packed_file(served.content, "index.js") == installed.read_bytes()
        assert anonymous.installed(name)["version"] == "1.0.0"


# --------------------------------------------------------------------------- republish


def test_publishing_a_version_twice_is_refused(
    publisher: Publisher, public_url: str, tmp_path: Path
) -> None:
    name = unique("twice")
    first = publisher.publish(public_url, name, "1.0.0")
    original = httpx.get(f"{public_url}{name}/-/{name}-1.0.0.tgz", timeout=30).content

    # npm 11 looks the version up first and refuses without sending anything ...
    again = publisher.project(public_url, name, "1.0.0")
    text = failed(publisher.npm(again, "publish", check=False))
    assert "cannot publish over the previously published versions: 1.0.0" in text
    # ... and with --force it sends the PUT, which the server refuses.
    text = failed(publisher.npm(again, "publish", "--force", check=False))
    assert "E403" in text and "previously published versions: 1.0.0" in text, text

    # A hand-made publish of other content under the same version.
    doc = publish_document(name, "1.0.0", b"different content")
    reply = httpx.put(
        f"{public_url}{name}",
        json=doc,
        headers={"Authorization": f"Bearer {publisher.token}"},
        timeout=30,
    )
    assert reply.status_code == 403, reply.text
    assert "previously published" in reply.json()["error"]

    served = httpx.get(f"{public_url}{name}/-/{name}-1.0.0.tgz", timeout=30).content
    assert served == original
    assert packed_file(served, "index.js") == (first / "index.js").read_bytes()


# --------------------------------------------------------------------------- dist-tags


@SCOPES
def test_dist_tags_add_ls_rm_and_install_by_tag(
    publisher: Publisher, public_url: str, tmp_path: Path, scoped: bool
) -> None:
    name = package_name("tags", scoped)
    project = publisher.publish(public_url, name, "1.0.0")
    publisher.publish(public_url, name, "2.0.0")

    added = publisher.npm(project, "dist-tag", "add", f"{name}@1.0.0", "beta")
    assert f"+beta: {name}@1.0.0" in added.stdout
    listed = publisher.npm(project, "dist-tag", "ls", name)
    assert sorted(listed.stdout.split("\n")) == ["", "beta: 1.0.0", "latest: 2.0.0"]

    tagged = consumer(tmp_path, public_url)
    tagged.npm("install", f"{name}@beta")
    assert tagged.installed(name)["version"] == "1.0.0"
    assert tagged.lock(name)["resolved"] == f"{public_url}{name}/-/{bare(name)}-1.0.0.tgz"

    removed = publisher.npm(project, "dist-tag", "rm", name, "beta")
    assert f"-beta: {name}@1.0.0" in removed.stdout
    listed = publisher.npm(project, "dist-tag", "ls", name)
    assert listed.stdout.strip() == "latest: 2.0.0"
    text = failed(consumer(tmp_path, public_url).npm("install", f"{name}@beta", check=False))
    assert "ETARGET" in text and f"No matching version found for {name}@beta" in text, text

    # The latest tag cannot go: the server refuses a hand-made DELETE of it.
    reply = httpx.delete(
        f"{public_url}-/package/{name.replace('/', '%2f')}/dist-tags/latest",
        headers={"Authorization": f"Bearer {publisher.token}"},
        timeout=30,
    )
    assert reply.status_code == 400, reply.text
    listed = publisher.npm(project, "dist-tag", "ls", name)
    assert listed.stdout.strip() == "latest: 2.0.0"


def test_first_publish_with_a_tag_also_gets_latest(
    publisher: Publisher, public_url: str, tmp_path: Path
) -> None:
    name = unique("prerelease")
    project = publisher.project(public_url, name, "1.0.0-rc.1")
    # npm 11 will not publish a prerelease under latest without being told a tag.
    text = failed(publisher.npm(project, "publish", check=False))
    assert "You must specify a tag using --tag when publishing a prerelease version" in text
    publisher.npm(project, "publish", "--tag", "next")
    tags = publisher.npm(project, "view", name, "dist-tags", "--json")
    assert json.loads(tags.stdout) == {"latest": "1.0.0-rc.1", "next": "1.0.0-rc.1"}
    assert publisher.npm(project, "view", name, "version").stdout.strip() == "1.0.0-rc.1"

    publisher.publish(public_url, name, "1.0.0")
    later = publisher.project(public_url, name, "2.0.0-rc.1")
    publisher.npm(later, "publish", "--tag", "next")
    tags = publisher.npm(project, "view", name, "dist-tags", "--json")
    assert json.loads(tags.stdout) == {"latest": "1.0.0", "next": "2.0.0-rc.1"}

    installing = consumer(tmp_path, public_url)
    installing.npm("install", name)
    assert installing.installed(name)["version"] == "1.0.0"
    installing.npm("install", f"{name}@next")
    assert installing.installed(name)["version"] == "2.0.0-rc.1"


# --------------------------------------------------------------------------- deprecate


@SCOPES
def test_deprecate_and_undeprecate(
    publisher: Publisher, public_url: str, tmp_path: Path, scoped: bool
) -> None:
    name = package_name("old", scoped)
    project = publisher.publish(public_url, name, "1.0.0")
    publisher.publish(public_url, name, "2.0.0")
    message = f"use 2.x instead {uuid.uuid4().hex[:6]}"

    deprecating = publisher.npm(project, "deprecate", f"{name}@1.0.0", message)
    assert f'deprecating {name}@1.0.0 with message "{message}"' in said(deprecating)
    view = publisher.npm(project, "view", f"{name}@1.0.0", "deprecated")
    assert view.stdout.strip() == message
    view = publisher.npm(project, "view", f"{name}@2.0.0", "deprecated")
    assert view.stdout.strip() == ""
    installing = consumer(tmp_path, public_url).npm("install", f"{name}@1.0.0")
    assert f"npm warn deprecated {name}@1.0.0: {message}" in said(installing)

    publisher.npm(project, "deprecate", f"{name}@1.0.0", "")
    view = publisher.npm(project, "view", f"{name}@1.0.0", "deprecated")
    assert view.stdout.strip() == ""
    installing = consumer(tmp_path, public_url).npm("install", f"{name}@1.0.0")
    assert "deprecated" not in said(installing)


# --------------------------------------------------------------------------- unpublish


@SCOPES
def test_unpublish_a_version_then_the_package(
    publisher: Publisher, public_url: str, tmp_path: Path, scoped: bool
) -> None:
    name = package_name("gone", scoped)
    project = publisher.publish(public_url, name, "1.0.0")
    publisher.publish(public_url, name, "1.0.1")
    kept = f"{public_url}{name}/-/{bare(name)}-1.0.0.tgz"
    tarball = f"{public_url}{name}/-/{bare(name)}-1.0.1.tgz"
    assert httpx.get(tarball, timeout=30).status_code == 200

    removed = publisher.npm(project, "unpublish", f"{name}@1.0.1")
    assert f"- {name}@1.0.1" in removed.stdout
    view = publisher.npm(project, "view", name, "versions", "--json")
    assert json.loads(view.stdout) == ["1.0.0"]
    tags = publisher.npm(project, "view", name, "dist-tags", "--json")
    assert json.loads(tags.stdout) == {"latest": "1.0.0"}
    assert httpx.get(tarball, timeout=30).status_code == 404
    assert httpx.get(kept, timeout=30).status_code == 200

    # npm refuses to remove a whole package (or its last version) without --force.
    text = failed(publisher.npm(project, "unpublish", name, check=False))
    assert "--force" in text
    removed = publisher.npm(project, "unpublish", name, "--force")
    assert f"- {name}" in removed.stdout
    text = failed(publisher.npm(project, "view", name, check=False))
    assert "E404" in text, text
    assert httpx.get(kept, timeout=30).status_code == 404
    text = failed(consumer(tmp_path, public_url).npm("install", name, check=False))
    assert "E404" in text, text


# --------------------------------------------------------------------------- search


def test_search_by_keyword_and_description(publisher: Publisher, public_url: str) -> None:
    keyword = f"kw{uuid.uuid4().hex[:10]}"
    word = f"descr{uuid.uuid4().hex[:10]}"
    name = unique("findme")
    project = publisher.publish(
        public_url,
        name,
        "1.0.0",
        keywords=[keyword, "e2e"],
        description=f"a package whose description says {word}",
    )
    publisher.publish(public_url, unique("other"), "1.0.0", keywords=["e2e"])

    for text in (keyword, word):
        found = publisher.npm(project, "search", "--json", text)
        results = json.loads(found.stdout)
        assert [r["name"] for r in results] == [name], found.stdout
        assert results[0]["version"] == "1.0.0"
    table = publisher.npm(project, "search", keyword)
    assert name in table.stdout
    nothing = publisher.npm(project, "search", "--json", f"absent{uuid.uuid4().hex}")
    assert json.loads(nothing.stdout or "[]") == []


# --------------------------------------------------------------------------- access


def test_private_repository_needs_a_login(
    registry: AuthRegistry, publisher: Publisher, tmp_path: Path
) -> None:
    private_url = f"{registry.url}/repository/"
    private_url += f"{create_repo(registry, publisher.user[0], 'private', 'private')}/"
    publisher.authorize(private_url)
    name = unique("secret")
    project = publisher.publish(private_url, name, "1.0.0")
    tarball = f"{private_url}{name}/-/{name}-1.0.0.tgz"

    anonymous = consumer(tmp_path, private_url)
    text = failed(anonymous.npm("view", name, check=False))
    assert "E401" in text, text
    text = failed(anonymous.npm("install", f"{name}@1.0.0", check=False))
    assert "E401" in text, text
    assert not (anonymous.project / "node_modules" / name).exists()
    assert httpx.get(tarball, timeout=30).status_code == 401

    # The owner's token installs, and so do the owner's name and password as _auth.
    with_token = consumer(tmp_path, private_url, publisher.token)
    with_token.npm("install", f"{name}@1.0.0")
    assert with_token.lock(name)["resolved"] == tarball
    installed = with_token.project / "node_modules" / name / "index.js"
    assert installed.read_bytes() == (project / "index.js").read_bytes()
    with_password = npm_project(
        tmp_path, unique("basic"), "1.0.0", private_url, basic=publisher.user
    )
    npm(with_password, "install", f"{name}@1.0.0")
    assert (with_password / "node_modules" / name / "index.js").read_bytes() == (
        project / "index.js"
    ).read_bytes()

    # Another user logs in the legacy way (the request npm login sends): for them the
    # private repository is not there at all.
    outsider = registry.create_user("npm-outsider")
    token = npm_couch_login(private_url, *outsider)
    stranger = npm_project(tmp_path, unique("intruder"), "1.0.0", private_url, token=token)
    for args in (("whoami",), ("view", name), ("publish",)):
        text = failed(npm(stranger, *args, check=False))
        assert "E404" in text, (args, text)
    reply = httpx.get(tarball, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert reply.status_code == 404


def test_only_owners_and_maintainers_change_packages(
    registry: AuthRegistry, publisher: Publisher, public_url: str, tmp_path: Path
) -> None:
    org = registry.create_org(publisher.user, "npm-org")
    org_url = f"{registry.url}/repository/{create_repo(registry, org, 'private', 'org')}/"
    people = {role: registry.create_user(f"npm-{role}") for role in ("maintainer", "reader")}
    with registry.api(publisher.user) as api:
        for role, user in people.items():
            reply = api.put(f"/orgs/{org}/members/{user[0]}", json={"role": role})
            assert reply.status_code == 200, reply.text
    tokens = {role: npm_couch_login(org_url, *user) for role, user in people.items()}
    publisher.authorize(org_url)

    name = unique("team")
    maintainer = npm_project(tmp_path, name, "1.0.0", org_url, token=tokens["maintainer"])
    assert f"+ {name}@1.0.0" in npm(maintainer, "publish").stdout
    reading = consumer(tmp_path, org_url, tokens["reader"])
    reading.npm("install", f"{name}@1.0.0")
    assert reading.installed(name)["version"] == "1.0.0"
    reader = npm_project(tmp_path, name, "2.0.0", org_url, token=tokens["reader"])
    assert npm(reader, "whoami").stdout.strip() == people["reader"][0]
    for args in (
        ("publish",),
        ("dist-tag", "add", f"{name}@1.0.0", "beta"),
        ("deprecate", f"{name}@1.0.0", "taken over"),
        ("unpublish", f"{name}@1.0.0", "--force"),
    ):
        text = failed(npm(reader, *args, check=False))
        assert "E403" in text, (args, text)

    # On a public repository any user reads, and still only the owner writes.
    theirs = publisher.publish(public_url, unique("mine"), "1.0.0")
    mine = json.loads((theirs / "package.json").read_text())["name"]
    outsider = npm_project(tmp_path, mine, "2.0.0", public_url, token=tokens["maintainer"])
    for args in (("publish",), ("unpublish", f"{mine}@1.0.0", "--force")):
        text = failed(npm(outsider, *args, check=False))
        assert "E403" in text, (args, text)

    for url, package in ((org_url, name), (public_url, mine)):
        view = publisher.npm(theirs, "view", f"--registry={url}", package, "--json")
        doc = json.loads(view.stdout)
        assert doc["versions"] == ["1.0.0"] and doc["dist-tags"] == {"latest": "1.0.0"}
        assert "deprecated" not in doc


# --------------------------------------------------------------------------- bad input


def make_tarball(name: str, version: str, content: bytes) -> bytes:
    files = {
        "package/package.json": json.dumps({"name": name, "version": version}).encode(),
        "package/index.js": content,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def publish_document(name: str, version: str, content: bytes) -> dict[str, Any]:
    """What ``npm publish`` PUTs (libnpmpublish's shape), with correct checksums."""
    return publish_body(
        name, version, make_tarball(name, version, content), description="hand-made"
    )


def test_bad_publish_documents_are_refused(publisher: Publisher, public_url: str) -> None:
    auth = {"Authorization": f"Bearer {publisher.token}"}
    name = unique("bad")

    def put(package: str, doc: Any) -> httpx.Response:
        url = f"{public_url}{package.replace('/', '%2f')}"
        return httpx.put(url, json=doc, headers=auth, timeout=30)

    wrong_integrity = publish_document(name, "1.0.0", b"one")
    other = make_tarball(name, "1.0.0", b"two")
    wrong_integrity["versions"]["1.0.0"]["dist"]["integrity"] = sri(other)
    wrong_shasum = publish_document(name, "1.0.0", b"one")
    wrong_shasum["versions"]["1.0.0"]["dist"]["shasum"] = hashlib.sha1(other).hexdigest()
    for doc, field in ((wrong_integrity, "integrity"), (wrong_shasum, "shasum")):
        reply = put(name, doc)
        assert reply.status_code == 400, reply.text
        assert f"dist.{field}" in reply.json()["error"], reply.text
    assert httpx.get(f"{public_url}{name}", timeout=30).status_code == 404
    assert httpx.get(f"{public_url}{name}/-/{name}-1.0.0.tgz", timeout=30).status_code == 404

    for bad in ("Upper-Case", ".hidden", "_under", "a b", "node_modules", "@scope/.dot"):
        reply = put(bad, publish_document(bad, "1.0.0", b"x"))
        assert reply.status_code == 400, (bad, reply.text)
        assert "invalid package name" in reply.json()["error"], reply.text

    # A document naming another package than the URL, and a version that is not semver.
    reply = put(name, publish_document(unique("elsewhere"), "1.0.0", b"x"))
    assert reply.status_code == 400, reply.text
    reply = put(name, publish_document(name, "1.0", b"x"))
    assert reply.status_code == 400, reply.text
    assert httpx.get(f"{public_url}{name}", timeout=30).status_code == 404

    # The good document still publishes, so the refusals above were about the content.
    good = publish_document(name, "1.0.0", b"one")
    assert put(name, good).status_code == 201
    data = base64.b64decode(good["_attachments"][f"{name}-1.0.0.tgz"]["data"])
    served = httpx.get(f"{public_url}{name}/-/{name}-1.0.0.tgz", timeout=30)
    assert served.content == data
    packument = httpx.get(f"{public_url}{name}", timeout=30).json()
    assert packument["versions"]["1.0.0"]["dist"]["integrity"] == sri(data)
    assert packument["versions"]["1.0.0"]["dist"]["tarball"] == str(served.url)
