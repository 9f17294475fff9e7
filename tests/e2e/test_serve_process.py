"""What ``cargohold serve`` becomes: a supervisor that imports only granian (it
execs ``python -P -m cargohold.http.server``) and workers that import the app."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_memory import _descendants
from tests.support import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def shadowed(tmp_path: Path) -> Iterator[LiveServer]:
    """A server started from a directory holding modules named like its own imports."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    # granian only: the test launches the CLI itself with `python -m`, which puts the
    # working directory first for the CLI process (the console script does not).
    for name in ("granian",):
        (cwd / f"{name}.py").write_text("raise SystemExit('imported from the working directory')\n")
    server = LiveServer(tmp_path / "data", cwd=cwd, env={"CARGOHOLD_HTTP__WORKERS": "2"})
    server.start()
    yield server
    server.stop()


def test_the_working_directory_cannot_shadow_the_servers_imports(shadowed: LiveServer) -> None:
    r = httpx.get(f"{shadowed.url}/v2/", timeout=10)
    assert r.status_code == 200
    assert "imported from the working directory" not in shadowed.log()


def test_settings_do_not_sit_in_any_process_environment(shadowed: LiveServer) -> None:
    """The settings may hold the bootstrap admin's password: /proc/<pid>/environ,
    readable by the same user and by tools that collect it, must not show them."""
    assert shadowed.process is not None
    pids = [shadowed.process.pid, *_descendants(shadowed.process.pid)]
    assert len(pids) >= 3  # the supervisor and two workers
    for pid in pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert b"CARGOHOLD_SETTINGS_JSON" not in environ
        assert str(shadowed.data_dir).encode() + b'"' not in environ
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"cargohold.http.server" in cmdline
    # The settings did arrive: both workers serve this data folder.
    assert (shadowed.data_dir / "metadata.db").exists()
    with httpx.Client(base_url=shadowed.url, timeout=10) as client:
        for _ in range(4):
            assert client.get("/v2/_catalog").status_code == 200
    assert os.path.exists(shadowed.data_dir)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_while_workers_start_ends_the_server_at_once(tmp_path: Path, sig: int) -> None:
    """Stopped while its workers are still importing the application (as when a
    test or a service manager stops a server it just started), the server exits
    at once; the workers used to miss the signal and be killed after 15 s."""
    server = LiveServer(tmp_path / "data", env={"CARGOHOLD_HTTP__WORKERS": "2"})
    server.data_dir.mkdir(parents=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cargohold",
            "serve",
            "--port",
            str(server.port),
            "--data-dir",
            str(server.data_dir),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **server.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while len(_descendants(process.pid)) < 2:  # both workers forked, not yet serving
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        workers = _descendants(process.pid)
        started = time.monotonic()
        process.send_signal(sig)
        process.wait(timeout=30)
        assert time.monotonic() - started < 5
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(request)
        with contextlib.suppress(ConnectionResetError):
            return conn.recv(4096)
    return b""


def test_headers_of_megabytes_are_refused_and_the_server_keeps_serving(
    live_server: LiveServer,
) -> None:
    """The connection's read buffer (1 MiB; 2 MiB would have served large bodies a
    little faster) also bounds the request head. hyper checks it after each read,
    so a head may overshoot it by up to one read: measured here, 1.1-1.5 MiB heads
    were sometimes answered, 2 MiB and more never (with a 2 MiB buffer, 3 MiB
    heads were)."""
    within = b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (900 * 1024) + b"\r\n\r\n"
    assert _raw_request(live_server.port, within).startswith(b"HTTP/1.1 200")
    over = b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (3 * 1024 * 1024) + b"\r\n\r\n"
    for _ in range(5):
        assert _raw_request(live_server.port, over).startswith(b"HTTP/1.1 431")
    assert httpx.get(f"{live_server.url}/v2/").status_code == 200
