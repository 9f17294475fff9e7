"""Run the ASGI app under granian.

Granian was chosen by measurement on the registry's own workloads (see
benchmarks/README.md): in single-threaded runtime mode it answers small manifest
GETs with about 1.7 times the requests per CPU-second of uvicorn (uvloop +
httptools), and it offers the ASGI ``pathsend`` extension, so whole-blob pulls
are sent by the server without copying bytes through Python.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from granian import Granian
from granian.constants import Interfaces, RuntimeModes
from granian.log import LogLevels

from cargohold.config import Settings

SETTINGS_ENV = "CARGOHOLD_SETTINGS_JSON"


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


def app_factory() -> object:
    """Entry point in each worker process: the settings travel in the environment."""
    _die_with_parent()
    # Imported here, not at the top: the supervisor process never serves requests
    # and should not carry the application's memory.
    from cargohold.http.app import create_app
    from cargohold.services import build_registry

    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    return create_app(settings, build_registry(settings))


def run(settings: Settings, log_level: str = "info") -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    Granian(
        "cargohold.http.server:app_factory",
        factory=True,
        address=settings.http.host,
        port=settings.http.port,
        interface=Interfaces.ASGI,
        workers=settings.http.workers,
        runtime_mode=RuntimeModes.st,
        log_level=LogLevels(log_level),
        log_access=log_level == "debug",
        workers_kill_timeout=15,
    ).serve()
