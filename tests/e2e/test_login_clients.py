"""skopeo, podman and curl against a server with accounts: credentials on the command
line, podman's login file, and what a wrong login looks like (the same answer for an
unknown user, and 429 after too many).

Images are umoci layouts built offline; each client reads and writes auth files of
the test's own, so nothing from the machine's home is used.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.accounts import ADMIN, REFUSED, AuthRegistry, account_name, start_registry
from tests.e2e.images import Layout, build_image, init_layout, run
from tests.support import require_program

if TYPE_CHECKING:
    from tests.e2e.conftest import Containers

pytestmark = pytest.mark.e2e

INSECURE = "--tls-verify=false"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    reg = start_registry(tmp_path_factory.mktemp("login-clients"))
    yield reg
    reg.stop()


@dataclass(frozen=True)
class Image:
    """A one-layer OCI image tagged ``v1`` in a layout: its manifest digest and file."""

    layout: Layout
    digest: str
    content: bytes


@pytest.fixture
def image(tmp_path: Path) -> Image:
    layout = init_layout(tmp_path / "image")
    content = f"hello {uuid.uuid4()}\n".encode()
    return Image(layout, build_image(layout, "v1", {"hello.txt": content}), content)


def empty_auth_file(path: Path) -> Path:
    path.write_text('{"auths": {}}')
    return path


def refused(result: subprocess.CompletedProcess[str]) -> str:
    said = result.stdout + result.stderr
    assert result.returncode != 0, said
    assert REFUSED.search(said), said
    return said


# -- skopeo --------------------------------------------------------------------------


class Skopeo:
    """skopeo with no credentials but those given on its command line."""

    def __init__(self, registry: AuthRegistry, workdir: Path) -> None:
        self.path = require_program("skopeo")
        self.host = registry.host
        self.env = {
            "REGISTRY_AUTH_FILE": str(empty_auth_file(workdir / "skopeo-auth.json")),
            "DOCKER_CONFIG": str(workdir / "skopeo-docker-config"),
        }

    def copy(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(self.path, "copy", "-q", *args, env=self.env, check=check, timeout=60)

    def push(
        self, image: Image, repo: str, *creds: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.copy(
            "--dest-tls-verify=false",
            *creds,
            image.layout.ref("v1"),
            f"docker://{self.host}/{repo}:v1",
            check=check,
        )

    def pull(
        self, repo: str, target: Path, *creds: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.copy(
            "--src-tls-verify=false",
            *creds,
            f"docker://{self.host}/{repo}:v1",
            f"oci:{target}:v1",
            check=check,
        )


def creds(flag: str, user: tuple[str, str]) -> str:
    return f"{flag}={user[0]}:{user[1]}"


def test_skopeo_copies_with_user_credentials(
    registry: AuthRegistry, image: Image, tmp_path: Path
) -> None:
    skopeo = Skopeo(registry, tmp_path)
    user = registry.create_user("sam")
    repo = f"{user[0]}/app"

    refused(skopeo.push(image, repo, check=False))
    refused(
        skopeo.push(image, repo, creds("--dest-creds", (user[0], "wrong-password")), check=False)
    )
    skopeo.push(image, repo, creds("--dest-creds", user))
    registry.set_visibility(user, repo, "private")

    refused(skopeo.pull(repo, tmp_path / "anonymous", check=False))
    skopeo.pull(repo, tmp_path / "out", creds("--src-creds", user))
    out = Layout(tmp_path / "out")
    assert out.digest("v1") == image.digest
    assert out.read_file("v1", "/hello.txt", tmp_path) == image.content


def test_skopeo_copies_with_robot_credentials(
    registry: AuthRegistry, image: Image, tmp_path: Path
) -> None:
    skopeo = Skopeo(registry, tmp_path)
    owner = registry.create_user("rita")
    org = registry.create_org(owner)
    robot = registry.create_robot(owner, org, "deploy", f"{org}/*:pull,push")
    repo = f"{org}/tool"

    skopeo.push(image, repo, creds("--dest-creds", robot))
    registry.set_visibility(owner, repo, "private")
    skopeo.pull(repo, tmp_path / "out", creds("--src-creds", robot))
    assert Layout(tmp_path / "out").digest("v1") == image.digest

    # Its scope ends at its organisation.
    refused(skopeo.push(image, f"{owner[0]}/from-robot", creds("--dest-creds", robot), check=False))
    assert registry.manifest_status(owner, f"{owner[0]}/from-robot", "v1") == 404


# -- podman --------------------------------------------------------------------------


@pytest.fixture
def loaded(containers: Containers, image: Image) -> str:
    """The test's image loaded into podman's store; its image ID."""
    return containers.podman("pull", "-q", image.layout.ref("v1")).stdout.strip()


def podman_digest(containers: Containers, ref: str) -> str:
    return containers.podman("image", "inspect", "--format", "{{.Digest}}", ref).stdout.strip()


def test_podman_login_push_pull_logout(
    registry: AuthRegistry, containers: Containers, loaded: str, tmp_path: Path
) -> None:
    user = registry.create_user("pat")
    authfile = str(empty_auth_file(tmp_path / "podman-auth.json"))
    ref = f"{registry.host}/{user[0]}/app"
    containers.podman("tag", loaded, f"{ref}:v1")

    wrong = containers.podman(
        "login",
        INSECURE,
        "--authfile",
        authfile,
        "-u",
        user[0],
        "-p",
        "wrong-password",
        registry.host,
        check=False,
    )
    assert wrong.returncode != 0 and "invalid username/password" in wrong.stderr, wrong.stderr
    done = containers.podman(
        "login", INSECURE, "--authfile", authfile, "-u", user[0], "-p", user[1], registry.host
    )
    assert "Login Succeeded" in done.stdout
    assert registry.host in json.loads(Path(authfile).read_text())["auths"]

    digest_file = tmp_path / "pushed.digest"
    containers.podman(
        "push",
        "-q",
        INSECURE,
        "--authfile",
        authfile,
        "--digestfile",
        str(digest_file),
        f"{ref}:v1",
    )
    digest = digest_file.read_text().strip()
    registry.set_visibility(user, f"{user[0]}/app", "private")
    containers.podman("rmi", "-f", loaded)  # every tag: the pull must download it
    containers.podman("pull", "-q", INSECURE, "--authfile", authfile, f"{ref}:v1")
    assert podman_digest(containers, f"{ref}:v1") == digest

    out = containers.podman("logout", "--authfile", authfile, registry.host).stdout
    assert f"Removed login credentials for {registry.host}" in out
    containers.podman("tag", f"{ref}:v1", f"{ref}:v2")
    refused(containers.podman("push", INSECURE, "--authfile", authfile, f"{ref}:v2", check=False))
    assert registry.manifest_status(user, f"{user[0]}/app", "v2") == 404


def test_podman_creds_option(
    registry: AuthRegistry, containers: Containers, loaded: str, tmp_path: Path
) -> None:
    user = registry.create_user("quinn")
    no_logins = str(empty_auth_file(tmp_path / "podman-auth.json"))
    ref = f"{registry.host}/{user[0]}/app:v1"
    containers.podman("tag", loaded, ref)
    cred = f"--creds={user[0]}:{user[1]}"

    digest_file = tmp_path / "pushed.digest"
    containers.podman(
        "push",
        "-q",
        INSECURE,
        "--authfile",
        no_logins,
        cred,
        "--digestfile",
        str(digest_file),
        ref,
    )
    digest = digest_file.read_text().strip()
    registry.set_visibility(user, f"{user[0]}/app", "private")
    containers.podman("rmi", "-f", loaded)
    refused(containers.podman("pull", "-q", INSECURE, "--authfile", no_logins, ref, check=False))
    containers.podman("pull", "-q", INSECURE, "--authfile", no_logins, cred, ref)
    assert podman_digest(containers, ref) == digest


# -- curl: what a failed login looks like --------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def curl(url: str, user: tuple[str, str], workdir: Path) -> Reply:
    """``curl -u`` once; status, headers (lower-case names, no Date) and body."""
    name = uuid.uuid4().hex[:8]
    head, body = workdir / f"{name}.head", workdir / f"{name}.body"
    done = run(
        require_program("curl"),
        "-s",
        "-u",
        f"{user[0]}:{user[1]}",
        "-D",
        head,
        "-o",
        body,
        "-w",
        "%{http_code}",
        url,
        timeout=30,
    )
    headers = {}
    for line in head.read_text().splitlines()[1:]:
        key, sep, value = line.partition(":")
        if sep and key.lower() != "date":
            headers[key.strip().lower()] = value.strip()
    return Reply(int(done.stdout), headers, body.read_bytes())


def test_wrong_password_and_unknown_user_look_the_same(
    registry: AuthRegistry, tmp_path: Path
) -> None:
    user = registry.create_user("uma")
    for url in (f"{registry.url}/v2/", f"{registry.url}/token?service=cargohold"):
        wrong_password = curl(url, (user[0], "wrong-password"), tmp_path)
        unknown_user = curl(url, (account_name("nobody"), "wrong-password"), tmp_path)
        assert wrong_password.status == 401
        assert json.loads(wrong_password.body)["errors"][0]["code"] == "UNAUTHORIZED"
        assert unknown_user == wrong_password
        assert curl(url, user, tmp_path).status == 200


def test_failed_logins_are_rate_limited(tmp_path: Path) -> None:
    # A long window, so that no window boundary falls inside the test.
    limited = start_registry(
        tmp_path,
        CARGOHOLD_AUTH__FAILURE_LIMIT="3",
        CARGOHOLD_AUTH__FAILURE_WINDOW_SECONDS="1000000",
    )
    try:
        user = limited.create_user("vic")
        v2 = f"{limited.url}/v2/"
        assert curl(v2, user, tmp_path).status == 200
        for _ in range(3):
            assert curl(v2, (user[0], "wrong-password"), tmp_path).status == 401
        blocked = curl(v2, (user[0], "wrong-password"), tmp_path)
        assert blocked.status == 429
        assert json.loads(blocked.body)["errors"][0]["code"] == "TOO_MANY_REQUESTS"
        assert int(blocked.headers["retry-after"]) > 0
        # The right password from the same address waits out the window too...
        right = curl(v2, user, tmp_path)
        assert right.status == 429
        assert json.loads(right.body)["errors"][0]["code"] == "TOO_MANY_REQUESTS"
        # ...while other accounts on that address are not locked out.
        assert curl(v2, ADMIN, tmp_path).status == 200
    finally:
        limited.stop()
