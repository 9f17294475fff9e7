"""Run the ASGI app under uvicorn (uvloop + httptools)."""

from __future__ import annotations

import os

import uvicorn

from cargohold.config import Settings
from cargohold.http.app import create_app
from cargohold.services import build_registry


def app_factory() -> object:
    """Entry point for each worker process: settings come from the environment."""
    from cargohold.config import Settings as _Settings

    settings = _Settings.model_validate_json(os.environ["CARGOHOLD_SETTINGS_JSON"])
    return create_app(settings, build_registry(settings))


def run(settings: Settings, log_level: str = "info") -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CARGOHOLD_SETTINGS_JSON"] = settings.model_dump_json()
    uvicorn.run(
        "cargohold.http.server:app_factory",
        factory=True,
        host=settings.http.host,
        port=settings.http.port,
        workers=settings.http.workers,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=10,
        proxy_headers=False,
        server_header=False,
    )
