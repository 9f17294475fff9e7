"""Credentials outside the registry: `cargohold login`, `pull-secret` and the docker
credential helper, against a live server (and docker and kubectl for real)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.test_docker import build, push
from tests.support import LiveServer, require_program

if TYPE_CHECKING:
    from tests.e2e.conftest import Docker

pytestmark = pytest.mark.e2e

ADMIN = ("root", "root-password-1")
BOB = ("bob", "bob-password-1")
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("creds") / "data",
        env={"CARGOHOLD_AUTH__BOOTSTRAP_ADMIN": ":".join(ADMIN)},
    ).start()
    r = httpx.post(
        f"{live.url}/api/v1/users", json={"name": BOB[0], "password": BOB[1]}, auth=ADMIN
    )
    assert r.status_code == 201, r.text
    yield live
    live.stop()


def cargohold(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cargohold"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def test_login_then_pull_secret_with_a_minted_password(server: LiveServer, tmp_path: Path) -> None:
    kubectl = require_program("kubectl")
    env = {"DOCKER_CONFIG": str(tmp_path / "docker")}
    done = cargohold("login", server.host, "-u", BOB[0], "--password-stdin", env=env, stdin=BOB[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Login Succeeded"
    stored = json.loads((tmp_path / "docker" / "config.json").read_text())["auths"][server.host]
    assert base64.b64decode(stored["auth"]).decode() == "bob:"  # docker's identity-token form
    assert stored["identitytoken"].startswith("chf_")
    assert BOB[1] not in (tmp_path / "docker" / "config.json").read_text()

    done = cargohold("pull-secret", "regcred", "--server", server.host, env=env)
    assert done.returncode == 0, done.stderr
    encoded = next(
        line.split(":", 1)[1].strip()
        for line in done.stdout.splitlines()
        if line.strip().startswith(".dockerconfigjson:")
    )
    auth = json.loads(base64.b64decode(encoded))["auths"][server.host]
    assert auth["username"] == "bob"
    assert auth["password"].startswith("chl_")  # a 12-hour login password, not bob's own
    # It works for pulling, and the YAML is what kubectl makes of the same inputs.
    assert (
        httpx.get(f"{server.url}/v2/", auth=(auth["username"], auth["password"])).status_code == 200
    )
    expected = subprocess.run(
        [
            kubectl,
            "create",
            "secret",
            "docker-registry",
            "regcred",
            f"--docker-server={server.host}",
            "--docker-username=bob",
            f"--docker-password={auth['password']}",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "KUBECONFIG": "/dev/null"},
    ).stdout
    assert done.stdout == expected
    listed = httpx.get(f"{server.url}/api/v1/tokens", auth=BOB).json()
    assert [t["kind"] for t in listed] == ["login"]

    done = cargohold("logout", server.host, env=env)
    assert done.returncode == 0
    done = cargohold("pull-secret", "regcred", "--server", server.host, env=env)
    assert done.returncode != 0
    assert "not logged in" in done.stderr


def test_docker_uses_the_credential_helper(
    docker: Docker, server: LiveServer, tmp_path: Path
) -> None:
    from tests.e2e.conftest import Docker as DockerCli

    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credsStore": "cargohold"}))
    creds_file = tmp_path / "helper" / "credentials.json"
    env = {
        **docker.env,
        "DOCKER_CONFIG": str(config),
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "CARGOHOLD_CREDENTIALS_FILE": str(creds_file),
    }
    cli = DockerCli(docker.cli, env)
    login = subprocess.run(
        [docker.cli, "login", server.host, "-u", BOB[0], "--password-stdin"],
        input=BOB[1],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert login.returncode == 0, login.stderr
    # docker handed the helper its identity token, not bob's password.
    assert BOB[1] not in creds_file.read_text()
    ref = f"{server.host}/bob/helped"
    build(cli, tmp_path / "ctx", f"{ref}:v1", f"helper {uuid.uuid4()}\n".encode())
    digest = push(cli, f"{ref}:v1")
    r = httpx.get(f"{server.url}/v2/bob/helped/manifests/v1", auth=BOB)
    assert r.headers["docker-content-digest"] == digest
    # The helper minted a short-lived login password and keeps it for reuse.
    minted = [
        t for t in httpx.get(f"{server.url}/api/v1/tokens", auth=BOB).json() if t["kind"] == "login"
    ]
    assert len(minted) >= 1
    got = subprocess.run(
        [str(BIN / "docker-credential-cargohold"), "get"],
        input=server.host,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert got.returncode == 0, got.stdout
    answer = json.loads(got.stdout)
    assert answer["Username"] == "bob"
    assert answer["Secret"].startswith("chl_")
    cli("logout", server.host)
    got = subprocess.run(
        [str(BIN / "docker-credential-cargohold"), "get"],
        input=server.host,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert got.returncode == 1
    assert "credentials not found" in got.stdout
