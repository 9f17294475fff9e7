from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cargohold.config import Settings
from cargohold.core.registry import Registry
from cargohold.http.app import create_app
from cargohold.services import build_registry


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
async def registry(settings: Settings) -> AsyncIterator[Registry]:
    reg = build_registry(settings)
    await reg.open()
    yield reg
    await reg.close()


@pytest.fixture
async def client(settings: Settings, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over a filesystem driver and SQLite in the test's own folder."""
    app = create_app(settings, registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as c:
        yield c
