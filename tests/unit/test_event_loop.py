"""The workers' event loop: uvloop, a dependency, wherever it installs."""

from __future__ import annotations

import builtins
import sys
from typing import Any

import pytest
from granian._loops import loops
from granian.constants import Loops

from cargohold.http import server


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not support Windows")
def test_workers_run_on_uvloop() -> None:
    name = server._event_loop()
    assert name == "uvloop"
    loop = loops.get(Loops(name))  # what granian builds for each worker from that name
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


def test_without_uvloop_the_workers_use_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_uvloop(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "uvloop", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert server._event_loop() == "asyncio"
    loop = loops.get(Loops(server._event_loop()))
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
