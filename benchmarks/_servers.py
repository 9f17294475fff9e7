"""Start, watch and stop the two registries under test (loopback only)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
CARGOHOLD_BIN = REPO_ROOT / ".venv" / "bin" / "cargohold"
DISTRIBUTION_BIN = Path("/usr/bin/docker-registry")

DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: {host}:{port}
health:
  storagedriver:
    enabled: false
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _proc_cpu_ticks(pid: int) -> tuple[int, int] | None:
    """(utime + stime, ppid) of ``pid`` from /proc, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is the state (field 3 of stat), so field N is fields[N - 3].
    return int(fields[11]) + int(fields[12]), int(fields[1])


def tree_pids(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        info = _proc_cpu_ticks(int(entry))
        if info is not None:
            parents.setdefault(info[1], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


class Registry:
    """One registry process (and its worker processes) on a free loopback port."""

    def __init__(self, label: str, work_dir: Path) -> None:
        self.label = label
        self.work_dir = work_dir
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = work_dir / f"{label}.log"
        self._log = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so stop() gets the workers too
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/v2/", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.label} did not answer /v2/ in {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pids(self) -> list[int]:
        return [] if self.proc is None else tree_pids(self.proc.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's live processes."""
        ticks = 0
        for pid in self.pids():
            info = _proc_cpu_ticks(pid)
            if info is not None:
                ticks += info[0]
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None


class Distribution(Registry):
    """CNCF distribution (Debian's docker-registry 2.8.2), the reference."""

    def command(self) -> list[str]:
        root = self.work_dir / "storage"
        root.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "config.yml"
        config.write_text(DISTRIBUTION_CONFIG.format(root=root, host=HOST, port=self.port))
        return [str(DISTRIBUTION_BIN), "serve", str(config)]


class Cargohold(Registry):
    def __init__(self, label: str, work_dir: Path, workers: int) -> None:
        super().__init__(label, work_dir)
        self.workers = workers

    def command(self) -> list[str]:
        return [
            str(CARGOHOLD_BIN),
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.work_dir / "data"),
            "--workers",
            str(self.workers),
            "--log-level",
            "error",
        ]
