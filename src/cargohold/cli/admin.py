"""``cargohold admin``: local operator commands that work on the data directly.

They need no running server and no login: whoever can read the registry's data
directory and database is already its operator. This is how the first
administrator is made (there is no default password).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from cargohold.cli.common import cli_settings, read_secret
from cargohold.config import Settings

if TYPE_CHECKING:
    from cargohold.core.registry import Registry

T = TypeVar("T")

config_option = click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="CARGOHOLD_CONFIG",
    help="TOML configuration file.",
)
data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False), help="The registry's data directory."
)


def run_local(settings: Settings, action: Callable[[Registry], Awaitable[T]]) -> T:
    from cargohold.errors import RegistryError
    from cargohold.services import build_registry

    async def main() -> T:
        registry = build_registry(settings)
        await registry.store.create_schema()
        try:
            return await action(registry)
        finally:
            await registry.store.close()

    try:
        return asyncio.run(main())
    except RegistryError as exc:
        raise click.ClickException(exc.text) from exc


@click.group()
def admin() -> None:
    """Operator commands on the local data (no server needed)."""


@admin.command("create")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@config_option
@data_dir_option
def create(username: str, password_stdin: bool, config: str | None, data_dir: str | None) -> None:
    """Create an administrator."""
    settings = cli_settings(config, data_dir=data_dir)
    password = read_secret(password_stdin, confirm=not password_stdin)
    run_local(settings, lambda reg: reg.accounts.create_user(None, username, password, admin=True))
    click.echo(f"created administrator {username}")


@admin.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@config_option
@data_dir_option
def set_password(
    username: str, password_stdin: bool, config: str | None, data_dir: str | None
) -> None:
    """Reset a user's password (every token issued from the old one stops working)."""
    settings = cli_settings(config, data_dir=data_dir)
    password = read_secret(password_stdin, confirm=not password_stdin)
    run_local(settings, lambda reg: reg.accounts.set_password(None, username, password))
    click.echo(f"password changed for {username}")


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
@click.option(
    "--grace-seconds",
    type=float,
    help="Keep blobs and links younger than this (default: gc.grace_seconds).",
)
@config_option
@data_dir_option
def gc(
    dry_run: bool, grace_seconds: float | None, config: str | None, data_dir: str | None
) -> None:
    """Collect garbage now, on the local data; the server may keep running."""
    import json
    from datetime import timedelta

    settings = cli_settings(config, data_dir=data_dir)
    grace = None if grace_seconds is None else timedelta(seconds=grace_seconds)
    report = run_local(settings, lambda reg: reg.gc.run(dry_run=dry_run, grace=grace))
    doc = {k: v for k, v in vars(report).items() if k != "deleted"}
    click.echo(json.dumps(doc, indent=2))
