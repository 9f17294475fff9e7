"""Fixtures for the client tests: a private dockerd, private podman/buildah storage,
and unique repository names so tests sharing the session server never collide."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.images import run, unique_name
from tests.support import require_program

# The v28 CLI from docker.com, when present: Debian's 20.10 CLI cannot handle
# OCI manifests in `docker manifest`. Both talk to Debian's dockerd 20.10.
MODERN_DOCKER_CLI = "/usr/local/bin/docker"


def unmount_under(root: Path) -> None:
    """Lazily unmount whatever a daemon or a failed command left mounted below ``root``."""
    prefix = str(root.resolve())
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [
        line.split()[4].replace("\\040", " ")
        for line in lines
        if len(line.split()) > 4 and line.split()[4].startswith(prefix)
    ]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name of this test's own."""
    return unique_name("e2e", request.node.name)


@dataclass(frozen=True)
class Docker:
    """The docker CLI bound to a private daemon."""

    cli: str
    env: dict[str, str]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return run(self.cli, *args, env=self.env, check=check, timeout=timeout)


def _stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docker]:
    """A dockerd of the session's own (no iptables, no bridge) and a CLI that uses it."""
    dockerd = require_program("dockerd")
    cli = MODERN_DOCKER_CLI if os.access(MODERN_DOCKER_CLI, os.X_OK) else require_program("docker")
    base = tmp_path_factory.mktemp("dockerd")
    rundir = base / "run"
    rundir.mkdir()
    (base / "config").mkdir()
    env = {
        "DOCKER_HOST": f"unix://{rundir}/docker.sock",
        "DOCKER_CONFIG": str(base / "config"),
        "DOCKER_BUILDKIT": "0",
        "DOCKER_CLI_HINTS": "false",
    }
    log_path = base / "dockerd.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                dockerd,
                "--data-root",
                str(base / "data"),
                "--exec-root",
                str(base / "exec"),
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--host",
                env["DOCKER_HOST"],
                "--pidfile",
                str(rundir / "docker.pid"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    client = Docker(cli, env)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"dockerd exited early:\n{log_path.read_text(errors='replace')}")
            if client("version", check=False, timeout=10).returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"dockerd did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield client
    finally:
        _stop(process)
        unmount_under(base)


@dataclass(frozen=True)
class Containers:
    """podman and buildah sharing one private image store."""

    podman_cli: str
    buildah_cli: str
    root: Path
    runroot: Path

    def _store(self) -> list[str]:
        # vfs needs no kernel overlay support and leaves no mounts behind.
        return ["--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", "vfs"]

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(self.podman_cli, *self._store(), *args, check=check)

    def buildah(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(self.buildah_cli, *self._store(), *args, check=check)


@pytest.fixture(scope="module")
def containers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containers]:
    podman = require_program("podman")
    buildah = require_program("buildah")
    base = tmp_path_factory.mktemp("containers")
    store = Containers(podman, buildah, base / "root", base / "runroot")
    try:
        yield store
    finally:
        unmount_under(base)
