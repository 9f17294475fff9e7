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


@package.group("cleanup")
def cleanup() -> None:
    """Cleanup policies: keep the last N versions, remove old versions or snapshots."""


@cleanup.command("put")
@click.argument("repository")
@click.option("--keep-last", type=int, help="Keep the newest N release versions of each package.")
@click.option("--max-age-days", type=int, help="Remove versions published more than N days ago.")
@click.option(
    "--snapshot-max-age-days", type=int, help="Maven: remove snapshot builds older than N days."
)
@server_option
def cleanup_put(
    repository: str,
    keep_last: int | None,
    max_age_days: int | None,
    snapshot_max_age_days: int | None,
    server: str | None,
) -> None:
    """Set the policy (both --keep-last and --max-age-days: a version must match both)."""
    doc = {
        "keep_last_versions": keep_last,
        "max_age_days": max_age_days,
        "snapshot_max_age_days": snapshot_max_age_days,
    }
    body = {k: v for k, v in doc.items() if v is not None}
    _print(_api(server).call("PUT", f"/package-repositories/{repository}/cleanup-policy", body))


@cleanup.command("get")
@click.argument("repository")
@server_option
def cleanup_get(repository: str, server: str | None) -> None:
    _print(_api(server).call("GET", f"/package-repositories/{repository}/cleanup-policy"))


@cleanup.command("delete")
@click.argument("repository")
@server_option
def cleanup_delete(repository: str, server: str | None) -> None:
    _api(server).call("DELETE", f"/package-repositories/{repository}/cleanup-policy")
    click.echo(f"removed the cleanup policy of {repository}")


@cleanup.command("preview")
@click.argument("repository")
@server_option
def cleanup_preview(repository: str, server: str | None) -> None:
    """What the policy would remove now."""
    path = f"/package-repositories/{repository}/cleanup-policy/preview"
    _print(_api(server).call("POST", path))


@cleanup.command("run")
@click.argument("repository")
@server_option
def cleanup_run(repository: str, server: str | None) -> None:
    """Remove what the policy selects, now."""
    _print(_api(server).call("POST", f"/package-repositories/{repository}/cleanup-policy/run"))


COMMANDS = [package]
