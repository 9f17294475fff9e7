"""The workers' event loop: uvloop, a dependency, wherever it installs."""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import sys
from pathlib import Path
from typing import Any

import granian
import pytest
from granian._loops import loops
from granian.constants import Loops

from cargohold.config import Settings
from cargohold.http import server


def _loop_module(name: str) -> str:
    """The module of the loop granian builds for each worker from ``name``."""
    loop = loops.get(Loops(name))
    try:
        return type(loop).__module__
    finally:
        loop.close()
        asyncio.set_event_loop(None)  # granian made it current: leave none behind


def _served_loop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The loop `_supervise` hands granian, with granian's server replaced by a
    recorder (nothing binds, forks or serves)."""
    seen: dict[str, Any] = {}

    class Recorder:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.update(kwargs)

        def serve(self) -> None:
            pass

    settings = Settings(data_dir=tmp_path)
    monkeypatch.setattr(granian, "Granian", Recorder)
    monkeypatch.setattr(os, "register_at_fork", lambda **_: None)
    monkeypatch.setattr(logging, "basicConfig", lambda **_: None)
    monkeypatch.setattr(server, "_limit_malloc_arenas", lambda: None)
    monkeypatch.delenv(server.SETTINGS_FD_ENV, raising=False)
    monkeypatch.setenv(server.SETTINGS_ENV, settings.model_dump_json())
    server._supervise("error")
    return seen["loop"]


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not support Windows")
def test_workers_are_served_on_uvloop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    loop = _served_loop(monkeypatch, tmp_path)
    assert loop == Loops.uvloop
    assert _loop_module(loop).startswith("uvloop")


def test_without_uvloop_the_workers_use_asyncio(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_import = builtins.__import__

    def no_uvloop(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "uvloop", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert _served_loop(monkeypatch, tmp_path) == Loops.asyncio
