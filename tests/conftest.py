from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import LiveServer


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``pytest.mark.anyio``) run on asyncio only, not also on trio."""
    return "asyncio"


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One registry process shared by the end-to-end tests of a session."""
    server = LiveServer(tmp_path_factory.mktemp("live") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A registry process of the test's own, for tests that restart or kill it."""
    server = LiveServer(tmp_path / "data")
    yield server
    server.stop()
