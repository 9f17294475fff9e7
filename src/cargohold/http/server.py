"""Run the ASGI app under granian.

Granian was chosen by measurement on the registry's own workloads (see
benchmarks/README.md): in single-threaded runtime mode it answers small manifest
GETs with about 1.7 times the requests per CPU-second of uvicorn (uvloop +
httptools), and it offers the ASGI ``pathsend`` extension, which small blobs are
sent with (large ones stream faster through the storage driver: see
``http/oci/blobs.py``).

`run` replaces the ``cargohold serve`` process (same pid, so signals and process
supervisors still reach it) with ``python -P -m cargohold.http.server``, which
imports granian and nothing else of ours: that process only supervises the
workers, and without the CLI, settings and validation libraries it carries about
17 MiB less. Each worker imports the application itself.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from cargohold.config import Settings

SETTINGS_ENV = "CARGOHOLD_SETTINGS_JSON"
SETTINGS_FD_ENV = "CARGOHOLD_SETTINGS_FD"
MODULE = "cargohold.http.server"  # not __name__: that is "__main__" under -m
# The most a connection's read buffer may grow to: the largest request-body piece
# handed to the application, and the largest request head. granian's default
# (hyper's, 408 KiB) made a 256 MiB push wait on the body for two thirds of its
# time, a wake-up of the event loop per piece; measured here, 1 MiB pushed at
# 560-621 MiB/s against 421-465 (2 MiB: 615-682, but heads of 2-4 MiB would then
# pass: hyper checks the limit after each read, so a head can overshoot it by up
# to one read; with 1 MiB, near Go net/http's 1 MiB and so the reference's, 2 MiB
# heads were always refused). A buffer grows only while a client sends that fast.
HTTP1_MAX_BUFFER_BYTES = 1024 * 1024 + 8192


def _die_with_parent() -> None:
    """Granian serves from child processes; if the supervisor is killed (even with
    SIGKILL) they must not live on holding the port and the data."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


# glibc gives each thread that allocates its own malloc arena, up to 8 per core, and
# an arena keeps what it freed. Nearly every allocation here happens with the GIL
# held, so extra arenas only hold freed request bodies: with 2 (and a 2 MiB read
# buffer then), the server's peak RSS over a 1 GiB push and pull went from
# 145-150 MiB to 138-139, at the same speed (benchmarks/run.py, alternating runs).
# Set before the workers fork, so they inherit it.
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's malloc.h


def _limit_malloc_arenas() -> None:
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None and sys.platform.startswith("linux"):
        mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def _event_loop() -> str:
    """uvloop where it installs (every platform but Windows), asyncio elsewhere.

    Named, not granian's "auto", which would switch to any other loop that happens
    to be installed. Measured here (400 small image pushes per run, 8 alternating
    pairs): uvloop pushed 11% more images per second with 12% less server CPU per
    image than asyncio's own loop; a push crosses between the loop and worker
    threads several times, and uvloop's wake-ups and callbacks are cheaper.
    """
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def app_factory() -> object:
    """Entry point in each worker process: the settings travel in the environment."""
    _die_with_parent()
    # Imported here, not at the top: the supervisor process never serves requests
    # and should not carry the application's memory.
    from cargohold.config import Settings
    from cargohold.http.app import create_app
    from cargohold.services import build_registry

    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    return create_app(settings, build_registry(settings))


def run(settings: Settings, log_level: str = "info") -> NoReturn:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The settings (which may hold the bootstrap admin's password) cross the exec in
    # an anonymous in-memory file, not in the environment block that
    # /proc/<pid>/environ shows to anyone who can read it.
    env = {k: v for k, v in os.environ.items() if k not in (SETTINGS_ENV, SETTINGS_FD_ENV)}
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("cargohold-settings", 0)  # no CLOEXEC: the exec keeps it
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(settings.model_dump_json().encode())
        os.lseek(fd, 0, os.SEEK_SET)
        env[SETTINGS_FD_ENV] = str(fd)
    else:  # not Linux
        env[SETTINGS_ENV] = settings.model_dump_json()
    address = f"{settings.http.host}:{settings.http.port}"
    sys.stdout.flush()
    sys.stderr.flush()
    # -P: the working directory must not shadow our imports. The arguments after
    # the log level are only there for ps.
    argv = [sys.executable, "-P", "-m", MODULE, log_level, "serve", address, str(settings.data_dir)]
    os.execve(sys.executable, argv, env)


def _take_settings() -> str:
    """The settings JSON from the file `run` handed over; kept for the workers in
    this process's environment, which forked workers inherit but /proc does not show."""
    fd = os.environ.pop(SETTINGS_FD_ENV, None)
    if fd is None:
        return os.environ[SETTINGS_ENV]
    with os.fdopen(int(fd), "rb") as f:
        text = f.read().decode()
    os.environ[SETTINGS_ENV] = text
    return text


def _stop_signals_end_a_starting_worker() -> None:
    """A forked worker inherits the supervisor's handlers for SIGINT and SIGTERM,
    which only set a flag on the worker's copy of granian's server object: a stop
    that came while the worker was still importing the application was lost, and
    the supervisor killed the worker only after ``workers_kill_timeout`` (15 s).
    Until granian installs the worker's own handlers, those signals end it."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _supervise(log_level: str) -> None:
    """The supervisor: granian, bound and forking workers, and no application."""
    os.register_at_fork(after_in_child=_stop_signals_end_a_starting_worker)
    _limit_malloc_arenas()
    from granian import Granian
    from granian.constants import Interfaces, Loops, RuntimeModes
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    http = json.loads(_take_settings())["http"]
    Granian(
        f"{MODULE}:app_factory",
        factory=True,
        address=http["host"],
        port=http["port"],
        interface=Interfaces.ASGI,
        workers=http["workers"],
        runtime_mode=RuntimeModes.st,
        loop=Loops(_event_loop()),
        log_level=LogLevels(log_level),
        log_access=log_level == "debug",
        workers_kill_timeout=15,
        http1_settings=HTTP1Settings(max_buffer_size=HTTP1_MAX_BUFFER_BYTES),
    ).serve()


if __name__ == "__main__":
    _supervise(sys.argv[1])
