"""What the command groups share: settings, secrets from the terminal, the API
client and JSON output. Light on imports: `cargohold --help` must stay quick."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from cargohold.config import Settings, load_settings

if TYPE_CHECKING:
    from cargohold.cli.api import Api

server_option = click.option(
    "--server", envvar="CARGOHOLD_SERVER", help="Registry address (default 127.0.0.1:5000)."
)


def cli_settings(config: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except Exception as exc:  # pydantic's message already names the bad field
        raise click.ClickException(f"invalid configuration: {exc}") from exc


def read_secret(from_stdin: bool, prompt: str = "Password", confirm: bool = False) -> str:
    """One line of standard input (as `docker login --password-stdin`), or a prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return value


def api(server: str | None) -> Api:
    # httpx loads only for commands that talk to a server.
    from cargohold.cli.api import Api

    return Api.for_server(server)


def print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2))
