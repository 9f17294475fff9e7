"""Client commands for hosted package repositories beyond create/list/delete
(those are `repo ... --format`): PyPI yanks, cleanup policies."""

from __future__ import annotations

import click

from cargohold.cli.common import api as _api
from cargohold.cli.common import print_json as _print
from cargohold.cli.common import server_option


@click.group()
def package() -> None:
    """Hosted Maven, npm and PyPI packages: yank releases, cleanup policies."""


@package.command("yank")
@click.argument("repository")
@click.argument("project")
@click.argument("version")
@click.option("--reason", default="", help="Shown by pip when it installs a pinned yanked file.")
@server_option
def yank(repository: str, project: str, version: str, reason: str, server: str | None) -> None:
    """Yank a PyPI release (PEP 592): installers skip it unless asked for exactly."""
    path = f"/package-repositories/{repository}/pypi/{project}/{version}/yank"
    _print(_api(server).call("POST", path, {"reason": reason}))


@package.command("unyank")
@click.argument("repository")
@click.argument("project")
@click.argument("version")
@server_option
def unyank(repository: str, project: str, version: str, server: str | None) -> None:
    """Take back a yank."""
    path = f"/package-repositories/{repository}/pypi/{project}/{version}/yank"
    _print(_api(server).call("DELETE", path))


COMMANDS = [package]
