"""The ``cargohold`` command."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from cargohold import __version__
from cargohold.cli.common import cli_settings


@click.group()
@click.version_option(__version__, prog_name="cargohold")
def main() -> None:
    """Cargohold: a self-hosted container and artifact registry."""


@main.command()
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="CARGOHOLD_CONFIG",
    help="TOML configuration file.",
)
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 5000).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where blobs and the SQLite database live.",
)
@click.option("--workers", type=int, help="Server processes (default 1).")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve(
    config: str | None,
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    workers: int | None,
    log_level: str,
) -> None:
    """Run the registry."""
    http = {
        k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None
    }
    settings = cli_settings(config, data_dir=data_dir, http=http or None)
    from cargohold.http.server import run

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    run(settings, log_level)


@main.command("config")
@click.option("--config", "config", type=click.Path(dir_okay=False), envvar="CARGOHOLD_CONFIG")
def show_config(config: str | None) -> None:
    """Print the effective configuration as JSON."""
    doc = cli_settings(config).model_dump(mode="json")
    if doc["auth"].get("bootstrap_admin"):
        doc["auth"]["bootstrap_admin"] = "(set; not shown)"  # it holds a password
    click.echo(json.dumps(doc, indent=2))


def _register() -> None:
    from cargohold.cli.accounts import COMMANDS as ACCOUNT_COMMANDS
    from cargohold.cli.admin import admin, gc
    from cargohold.cli.pullsecret import pull_secret

    main.add_command(admin)
    main.add_command(gc)
    main.add_command(pull_secret)
    from cargohold.cli.governance import COMMANDS as GOVERNANCE_COMMANDS
    from cargohold.cli.packages import COMMANDS as PACKAGE_COMMANDS

    for command in [*ACCOUNT_COMMANDS, *GOVERNANCE_COMMANDS, *PACKAGE_COMMANDS]:
        main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
