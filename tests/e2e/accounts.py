"""Shared pieces of the login tests: a live server whose administrator was made with
`cargohold admin create`, the `cargohold` CLI bound to it, and accounts made through
the management API.

Account names carry a random suffix, so tests sharing a module's server never
collide and each test starts with accounts (and tokens) of its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.images import run
from tests.support import LiveServer

ADMIN = ("root", "root-password-e2e")

# How a client says "you may not" (docker, skopeo and podman; a HEAD has no body, so
# containers/image can only name the status).
REFUSED = re.compile(r"denied|unauthorized|403 \(Forbidden\)", re.IGNORECASE)


def account_name(label: str) -> str:
    """A user or organisation name no other test uses."""
    return f"{label}-{uuid.uuid4().hex[:8]}"


@dataclass
class AuthRegistry:
    """A live server with accounts, and the means to manage them."""

    server: LiveServer
    workdir: Path  # the CLI's DOCKER_CONFIG lives here, never in the real home

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()

    def cli(
        self,
        *args: str,
        user: tuple[str, str] | None = None,
        stdin: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """``cargohold ARGS`` against this server, as ``user`` (name, password)."""
        name, password = user or ("", "")
        env = {
            "CARGOHOLD_SERVER": self.host,
            "CARGOHOLD_USERNAME": name,
            "CARGOHOLD_PASSWORD": password,
            "DOCKER_CONFIG": str(self.workdir / "cli-docker-config"),
        }
        return run(sys.executable, "-m", "cargohold", *args, env=env, stdin=stdin, check=check)

    def api(self, user: tuple[str, str]) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", auth=user, timeout=30)

    def create_user(self, label: str) -> tuple[str, str]:
        """A new user made by the administrator through the API: (name, password)."""
        user = (account_name(label), f"pw-{uuid.uuid4().hex}")
        with self.api(ADMIN) as api:
            reply = api.post("/users", json={"name": user[0], "password": user[1]})
        assert reply.status_code == 201, reply.text
        return user

    def create_org(self, owner: tuple[str, str], label: str = "org") -> str:
        name = account_name(label)
        with self.api(owner) as api:
            reply = api.post("/orgs", json={"name": name})
        assert reply.status_code == 201, reply.text
        return name

    def create_robot(
        self, owner: tuple[str, str], namespace: str, name: str, *scopes: str
    ) -> tuple[str, str]:
        """A robot made through the API: (its login name, its secret)."""
        with self.api(owner) as api:
            reply = api.post(
                f"/namespaces/{namespace}/robots", json={"name": name, "scopes": list(scopes)}
            )
        assert reply.status_code == 201, reply.text
        doc = reply.json()
        return doc["name"], doc["secret"]

    def set_visibility(self, owner: tuple[str, str], repository: str, visibility: str) -> None:
        with self.api(owner) as api:
            reply = api.put(
                f"/repositories/{repository}/visibility", json={"visibility": visibility}
            )
        assert reply.status_code == 200, reply.text

    def password_grant(self, user: tuple[str, str], scope: str) -> dict[str, Any]:
        """What ``POST /token`` grants ``user`` for ``scope`` (the answer's ``scope`` field
        lists what was granted)."""
        reply = httpx.post(
            f"{self.url}/token",
            data={
                "grant_type": "password",
                "service": "cargohold",
                "client_id": "e2e",
                "username": user[0],
                "password": user[1],
                "scope": scope,
            },
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        doc: dict[str, Any] = reply.json()
        return doc

    def manifest_status(self, user: tuple[str, str], repository: str, reference: str) -> int:
        """The status of a HEAD on a manifest, asked with Basic credentials."""
        return httpx.head(
            f"{self.url}/v2/{repository}/manifests/{reference}",
            auth=user,
            headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json, "
                "application/vnd.docker.distribution.manifest.v2+json"
            },
            timeout=30,
        ).status_code


def start_registry(base: Path, **env: str) -> AuthRegistry:
    """Start a server in setup mode, make its first administrator with the local CLI
    (on the same data directory, while it runs), and wait until it asks for logins."""
    server = LiveServer(base / "data", env=dict(env)).start()
    registry = AuthRegistry(server, base)
    try:
        made = run(
            sys.executable,
            "-m",
            "cargohold",
            "admin",
            "create",
            ADMIN[0],
            "--password-stdin",
            "--data-dir",
            os.fspath(server.data_dir),
            env=dict(env),
            stdin=ADMIN[1] + "\n",
        )
        assert f"created administrator {ADMIN[0]}" in made.stdout
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.url}/v2/", timeout=5).status_code != 401:
            assert time.monotonic() < deadline, "the server never left setup mode"
            time.sleep(0.1)
    except BaseException:
        server.stop()
        raise
    return registry
