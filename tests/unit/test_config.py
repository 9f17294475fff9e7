"""Settings sources and precedence: flags > CARGOHOLD_* environment > TOML file > defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cargohold.cli.main import main
from cargohold.config import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("CARGOHOLD_"):
            monkeypatch.delenv(key)


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = load_settings()
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 5000)
    assert settings.data_dir == tmp_path / "cargohold"
    assert settings.storage_root == tmp_path / "cargohold" / "storage"
    assert settings.metadata_url == f"sqlite:///{tmp_path / 'cargohold' / 'metadata.db'}"
    assert settings.limits.max_manifest_bytes == 4 * 1024 * 1024


def test_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "cargohold.toml"
    toml.write_text(
        'data_dir = "/srv/from-toml"\n[http]\nport = 6000\nhost = "0.0.0.0"\n'
        '[metadata]\nurl = "postgresql+psycopg://db/x"\n'
    )
    monkeypatch.setenv("CARGOHOLD_CONFIG", str(toml))
    monkeypatch.setenv("CARGOHOLD_HTTP__PORT", "7000")
    settings = load_settings(http={"host": "127.0.0.2"})
    assert settings.data_dir == Path("/srv/from-toml")
    assert settings.http.port == 7000  # environment beats the file
    assert settings.http.host == "127.0.0.2"  # flags beat both
    assert settings.metadata_url == "postgresql+psycopg://db/x"


def test_cli_config_command_prints_effective_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CARGOHOLD_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["data_dir"] == str(tmp_path)
    assert doc["http"]["port"] == 5000


def test_invalid_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_HTTP__PORT", "not-a-port")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code != 0
    assert "invalid configuration" in result.output
    assert "port" in result.output
