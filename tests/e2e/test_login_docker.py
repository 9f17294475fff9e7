"""docker login against a server with accounts: passwords, login passwords, robots,
logout, private repositories and credentials that expire.

Every test has a docker config of its own (logins never leak between tests) and
builds an image with content of its own, so a pull proves what the registry holds.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.accounts import ADMIN, AuthRegistry, account_name, start_registry
from tests.e2e.images import run

if TYPE_CHECKING:
    from tests.e2e.conftest import Docker

pytestmark = pytest.mark.e2e

PUSHED = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: \d+")
# A refusal takes docker well under a second; 10 s is far from that and still short
# of the 5 + 10 s docker spends when it retries a layer upload.
PROMPT_SECONDS = 10


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    reg = start_registry(
        tmp_path_factory.mktemp("login-docker"), CARGOHOLD_AUTH__TOKEN_TTL_SECONDS="60"
    )
    yield reg
    reg.stop()


def own_config(docker: Docker, where: Path) -> Docker:
    """The session's docker CLI with a docker config (logins) of its own."""
    return replace(docker, env={**docker.env, "DOCKER_CONFIG": str(where)})


@pytest.fixture
def client(docker: Docker, tmp_path: Path) -> Docker:
    return own_config(docker, tmp_path / "docker-config")


def docker_login(
    client: Docker, host: str, user: tuple[str, str]
) -> subprocess.CompletedProcess[str]:
    return run(
        client.cli,
        "login",
        host,
        "-u",
        user[0],
        "--password-stdin",
        env=client.env,
        stdin=user[1] + "\n",
        check=False,
        timeout=60,
    )


def logged_in(client: Docker, host: str, user: tuple[str, str]) -> None:
    done = docker_login(client, host, user)
    assert done.returncode == 0, done.stderr
    assert "Login Succeeded" in done.stdout


def build(client: Docker, ref: str, workdir: Path) -> bytes:
    """``docker build`` a FROM scratch image holding /hello.txt; the file's bytes."""
    content = f"{ref} {uuid.uuid4()}\n".encode()
    context = workdir / f"ctx-{uuid.uuid4().hex[:8]}"
    context.mkdir(parents=True)
    (context / "hello.txt").write_bytes(content)
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello.txt"]\n'
    )
    client("build", "-q", "-t", ref, str(context))
    return content


def push(client: Docker, ref: str) -> str:
    out = client("push", ref).stdout
    match = PUSHED.search(out)
    assert match, out
    return match.group(1)


def forget(client: Docker, ref: str) -> None:
    """Remove the local image (every tag of it), so a pull must fetch it."""
    image_id = client("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
    client("image", "rm", "-f", image_id)


def pulled_back(client: Docker, ref: str, digest: str, workdir: Path) -> bytes:
    """Pull ``ref`` into an empty cache; check it is ``digest``; /hello.txt's bytes."""
    forget(client, ref)
    out = client("pull", ref).stdout
    assert f"Digest: {digest}" in out, out
    repo_digests = client("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
    assert f"{ref.rsplit(':', 1)[0]}@{digest}" in json.loads(repo_digests)
    container = client("create", ref).stdout.strip()
    try:
        target = workdir / f"copied-{uuid.uuid4().hex[:8]}"
        client("cp", f"{container}:/hello.txt", str(target))
        return target.read_bytes()
    finally:
        client("rm", container)


def stored_logins(client: Docker) -> dict[str, object]:
    path = Path(client.env["DOCKER_CONFIG"]) / "config.json"
    auths: dict[str, object] = json.loads(path.read_text()).get("auths", {})
    return auths


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The client's complaint, once it is shown to be a refusal."""
    said = result.stdout + result.stderr
    assert result.returncode != 0, said
    assert any(word in said for word in words), said
    return said


# -- passwords and logout ------------------------------------------------------------


def test_password_login_push_pull_then_logout(
    registry: AuthRegistry, client: Docker, docker: Docker, tmp_path: Path
) -> None:
    user = (account_name("dora"), f"pw-{uuid.uuid4().hex}")
    made = registry.cli("user", "create", user[0], "--password-stdin", user=ADMIN, stdin=user[1])
    assert json.loads(made.stdout)["name"] == user[0]
    repo = f"{registry.host}/{user[0]}/app"
    content = build(client, f"{repo}:v1", tmp_path)

    logged_in(client, registry.host, user)
    assert registry.host in stored_logins(client)
    digest = push(client, f"{repo}:v1")
    assert pulled_back(client, f"{repo}:v1", digest, tmp_path) == content

    out = client("logout", registry.host).stdout
    assert f"Removing login credentials for {registry.host}" in out
    assert registry.host not in stored_logins(client)
    client("tag", f"{repo}:v1", f"{repo}:v2")
    said = refused(client("push", f"{repo}:v2", check=False, timeout=60), "unauthorized")
    assert "denied" not in said  # anonymous: asked to log in, not refused outright
    assert registry.manifest_status(user, f"{user[0]}/app", "v2") == 404

    # Logged out, the public repository still pulls (anonymously), and from a docker
    # that never logged in at all.
    stranger = own_config(docker, tmp_path / "never-logged-in")
    assert pulled_back(client, f"{repo}:v1", digest, tmp_path) == content
    assert pulled_back(stranger, f"{repo}:v1", digest, tmp_path) == content


# -- login passwords -----------------------------------------------------------------


def test_login_password_works_until_revoked(
    registry: AuthRegistry, client: Docker, tmp_path: Path
) -> None:
    user = registry.create_user("erin")
    login_password = registry.cli("get-login-password", user=user).stdout.strip()
    assert login_password and login_password != user[1]
    repo = f"{registry.host}/{user[0]}/app"
    content = build(client, f"{repo}:v1", tmp_path)

    logged_in(client, registry.host, (user[0], login_password))
    digest = push(client, f"{repo}:v1")
    assert pulled_back(client, f"{repo}:v1", digest, tmp_path) == content

    listed = json.loads(registry.cli("token", "list", user=user).stdout)
    logins = [t for t in listed if t["kind"] == "login"]
    assert len(logins) == 1, listed
    assert logins[0]["revoked_at"] is None and logins[0]["expires_at"] is not None
    revoked = registry.cli("token", "revoke", logins[0]["id"], user=user)
    assert logins[0]["id"] in revoked.stdout
    listed = json.loads(registry.cli("token", "list", user=user).stdout)
    assert [t["revoked_at"] is not None for t in listed if t["kind"] == "login"] == [True]

    refused(docker_login(client, registry.host, (user[0], login_password)), "unauthorized")
    # What docker kept from the earlier login (an identity token) ends with it too.
    client("tag", f"{repo}:v1", f"{repo}:v2")
    refused(client("push", f"{repo}:v2", check=False, timeout=60), "unauthorized")
    assert registry.manifest_status(user, f"{user[0]}/app", "v2") == 404
    # The account itself is fine.
    logged_in(client, registry.host, user)


# -- robots --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def org(registry: AuthRegistry) -> tuple[str, tuple[str, str]]:
    """An organisation made with the CLI, and its owner."""
    owner = registry.create_user("olga")
    name = account_name("acme")
    made = registry.cli("org", "create", name, user=owner)
    assert json.loads(made.stdout)["kind"] == "org"
    return name, owner


def test_robot_pushes_to_its_org_until_deleted(
    registry: AuthRegistry, client: Docker, org: tuple[str, tuple[str, str]], tmp_path: Path
) -> None:
    namespace, owner = org
    made = json.loads(
        registry.cli(
            "robot", "create", namespace, "ci", "--scope", f"{namespace}/*:pull,push", user=owner
        ).stdout
    )
    robot = (made["name"], made["secret"])
    assert robot[0] == f"{namespace}+ci"
    repo = f"{registry.host}/{namespace}/app"
    content = build(client, f"{repo}:v1", tmp_path)

    logged_in(client, registry.host, robot)
    digest = push(client, f"{repo}:v1")
    assert pulled_back(client, f"{repo}:v1", digest, tmp_path) == content
    # Outside its namespace the token service grants it nothing (the docker push
    # there is the next test).
    assert registry.password_grant(robot, f"repository:{owner[0]}/app:pull,push")["scope"] == ""

    deleted = registry.cli("robot", "delete", robot[0], user=owner)
    assert f"deleted robot {robot[0]}" in deleted.stdout
    refused(docker_login(client, registry.host, robot), "unauthorized")
    client("tag", f"{repo}:v1", f"{repo}:v2")
    refused(client("push", f"{repo}:v2", check=False, timeout=60), "unauthorized")
    assert registry.manifest_status(owner, f"{namespace}/app", "v2") == 404


def test_robot_push_outside_its_namespace_is_refused_at_once(
    registry: AuthRegistry, client: Docker, org: tuple[str, tuple[str, str]], tmp_path: Path
) -> None:
    namespace, owner = org
    robot = registry.create_robot(owner, namespace, "outside", f"{namespace}/*:pull,push")
    ref = f"{registry.host}/{owner[0]}/from-robot:v1"
    build(client, ref, tmp_path)
    logged_in(client, registry.host, robot)
    try:
        said = refused(client("push", ref, check=False, timeout=PROMPT_SECONDS), "denied")
        assert "Retrying" not in said
    finally:
        assert registry.manifest_status(owner, f"{owner[0]}/from-robot", "v1") == 404


# -- private repositories ------------------------------------------------------------


@dataclass(frozen=True)
class Repos:
    owner: tuple[str, str]
    private: str  # repository names
    public: str


@pytest.fixture(scope="module")
def repos(
    registry: AuthRegistry, docker: Docker, tmp_path_factory: pytest.TempPathFactory
) -> Repos:
    """A user's private and public repository, each with tag v1 (no local copies)."""
    workdir = tmp_path_factory.mktemp("private-repos")
    owner = registry.create_user("alice")
    client = own_config(docker, workdir / "docker-config")
    logged_in(client, registry.host, owner)
    found = Repos(owner, f"{owner[0]}/secret", f"{owner[0]}/open")
    for name in (found.private, found.public):
        build(client, f"{registry.host}/{name}:v1", workdir)
        push(client, f"{registry.host}/{name}:v1")
        forget(client, f"{registry.host}/{name}:v1")
    shown = registry.cli("repo", "visibility", found.private, "private", user=owner)
    assert json.loads(shown.stdout) == {"name": found.private, "visibility": "private"}
    return found


def test_private_repository_is_invisible_to_others(
    registry: AuthRegistry, client: Docker, repos: Repos
) -> None:
    bob = registry.create_user("bob")
    logged_in(client, registry.host, bob)
    refused(
        client("pull", f"{registry.host}/{repos.private}:v1", check=False, timeout=60),
        "denied",
        "not found",
    )
    client("pull", f"{registry.host}/{repos.public}:v1")  # bob's login itself works

    def catalog(auth: tuple[str, str] | None) -> list[str]:
        reply = httpx.get(f"{registry.url}/v2/_catalog", params={"n": 1000}, auth=auth)
        assert reply.status_code == 200, reply.text
        names: list[str] = reply.json()["repositories"]
        return names

    for outsider in (bob, None):
        listed = catalog(outsider)
        assert repos.public in listed and repos.private not in listed
    assert repos.private in catalog(repos.owner)

    tags = f"{registry.url}/v2/{repos.private}/tags/list"
    as_bob = httpx.get(tags, auth=bob)
    assert as_bob.status_code == 403
    assert as_bob.json()["errors"][0]["code"] == "DENIED"
    anonymous = httpx.get(tags)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert f'scope="repository:{repos.private}:pull"' in anonymous.headers["WWW-Authenticate"]
    assert httpx.get(tags, auth=repos.owner).json() == {"name": repos.private, "tags": ["v1"]}


def test_push_to_another_users_private_repository_is_refused_at_once(
    registry: AuthRegistry, client: Docker, repos: Repos, tmp_path: Path
) -> None:
    bob = registry.create_user("bob")
    ref = f"{registry.host}/{repos.private}:from-bob"
    build(client, ref, tmp_path)
    logged_in(client, registry.host, bob)
    try:
        said = refused(client("push", ref, check=False, timeout=PROMPT_SECONDS), "denied")
        assert "Retrying" not in said
    finally:
        assert registry.manifest_status(repos.owner, repos.private, "from-bob") == 404


# -- expiry (the suite's one long wait) ----------------------------------------------


@pytest.mark.slow
def test_login_password_and_tokens_expire(
    registry: AuthRegistry, client: Docker, tmp_path: Path
) -> None:
    """A 60-second login password works, then stops: for docker login, for the
    identity token docker kept, and for bearer tokens; so does a 60-second bearer
    token issued for the password itself (the module's server sets that TTL)."""
    user = registry.create_user("frank")
    scope = f"repository:{user[0]}/app:pull"
    by_password = httpx.get(
        f"{registry.url}/token", params={"service": "cargohold", "scope": scope}, auth=user
    ).json()
    assert by_password["expires_in"] == 60
    token_dead_at = time.time() + 60 + 5 + 1  # the server allows 5 s of clock skew

    login_password = registry.cli("get-login-password", "--ttl-seconds", "60", user=user)
    password_dead_at = time.time() + 60 + 1
    temporary = (user[0], login_password.stdout.strip())
    repo = f"{registry.host}/{user[0]}/app"
    content = build(client, f"{repo}:v1", tmp_path)
    logged_in(client, registry.host, temporary)
    digest = push(client, f"{repo}:v1")
    assert pulled_back(client, f"{repo}:v1", digest, tmp_path) == content
    by_login_password = httpx.get(
        f"{registry.url}/token", params={"service": "cargohold", "scope": scope}, auth=temporary
    ).json()

    tags = f"{registry.url}/v2/{user[0]}/app/tags/list"

    def tags_with(token: dict[str, object]) -> httpx.Response:
        return httpx.get(tags, headers={"Authorization": f"Bearer {token['token']}"})

    assert tags_with(by_password).status_code == 200
    assert tags_with(by_login_password).status_code == 200

    wait = max(token_dead_at, password_dead_at) - time.time()
    assert 0 < wait < 70, wait
    time.sleep(wait)

    refused(docker_login(client, registry.host, temporary), "unauthorized")
    client("tag", f"{repo}:v1", f"{repo}:v2")
    refused(client("push", f"{repo}:v2", check=False, timeout=60), "unauthorized")
    for token in (by_password, by_login_password):
        reply = tags_with(token)
        assert reply.status_code == 401, reply.text
        assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]
    assert registry.manifest_status(user, f"{user[0]}/app", "v2") == 404
    logged_in(client, registry.host, user)  # the password itself never expires
