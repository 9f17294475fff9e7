"""Client commands for governance: repositories, tag rules, namespace templates and
quotas, lifecycle policies and the recycle bin. They call the management API like
the account commands do (`cli/accounts.py`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from cargohold.cli.common import api as _api
from cargohold.cli.common import print_json as _print
from cargohold.cli.common import server_option

# -- repositories ---------------------------------------------------------------------


@click.group()
def repo() -> None:
    """Repositories: create, list, describe, delete, visibility, tag mutability."""


MUTABILITY = click.Choice(
    ["MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"]
)


FORMAT = click.Choice(["docker", "maven", "npm", "pypi"])
_FORMAT_HELP = "docker: an image repository under /v2/; maven, npm, pypi: hosted packages."


@repo.command("create")
@click.argument("name")
@click.option("--format", "format_", type=FORMAT, default="docker", help=_FORMAT_HELP)
@click.option("--namespace", help="Package repositories: the owning user or organisation.")
@click.option(
    "--write-policy",
    type=click.Choice(["allow", "deny", "readonly"]),
    help="Package repositories: allow redeploy, deny it (written once), or read-only.",
)
@click.option(
    "--version-policy",
    type=click.Choice(["release", "snapshot", "mixed"]),
    help="Maven repositories: which versions they take (default release).",
)
@click.option("--private/--public", default=None, help="Default: the namespace's.")
@click.option(
    "--visibility", type=click.Choice(["public", "private"]), help="Same as --public/--private."
)
@click.option("--immutable", is_flag=True, help="Same as --tag-mutability IMMUTABLE.")
@click.option("--tag-mutability", type=MUTABILITY)
@click.option("--exclude", "filters", multiple=True, help="Exclusion filter (wildcards), up to 5.")
@server_option
def repo_create(
    name: str,
    format_: str,
    namespace: str | None,
    write_policy: str | None,
    version_policy: str | None,
    private: bool | None,
    visibility: str | None,
    immutable: bool,
    tag_mutability: str | None,
    filters: tuple[str, ...],
    server: str | None,
) -> None:
    """Create a repository (needed first when create-on-push is off, as in ECR), or a
    hosted Maven, npm or PyPI repository served under /repository/NAME/."""
    if visibility is None and private is not None:
        visibility = "private" if private else "public"
    if format_ != "docker":
        doc: dict[str, Any] = {"name": name, "format": format_}
        for key, value in (
            ("namespace", namespace),
            ("visibility", visibility),
            ("write_policy", write_policy),
            ("version_policy", version_policy),
        ):
            if value is not None:
                doc[key] = value
        _print(_api(server).call("POST", "/package-repositories", doc))
        return
    body: dict[str, Any] = {"name": name, "mutability_filters": list(filters)}
    if visibility is not None:
        body["visibility"] = visibility
    if immutable or tag_mutability:
        body["tag_mutability"] = tag_mutability or "IMMUTABLE"
    _print(_api(server).call("POST", "/repositories", body))


@repo.command("list")
@click.option("--packages", is_flag=True, help="Hosted Maven, npm and PyPI repositories.")
@server_option
def repo_list(packages: bool, server: str | None) -> None:
    """Repositories you may pull."""
    _print(_api(server).call("GET", "/package-repositories" if packages else "/repositories"))


def _base(format_: str) -> str:
    return "/repositories" if format_ == "docker" else "/package-repositories"


@repo.command("describe")
@click.argument("name")
@click.option("--format", "format_", type=FORMAT, default="docker", help=_FORMAT_HELP)
@server_option
def repo_describe(name: str, format_: str, server: str | None) -> None:
    _print(_api(server).call("GET", f"{_base(format_)}/{name}"))


@repo.command("delete")
@click.argument("name")
@click.option("--format", "format_", type=FORMAT, default="docker", help=_FORMAT_HELP)
@click.option("--force", is_flag=True, help="Delete even when it holds images.")
@server_option
def repo_delete(name: str, format_: str, force: bool, server: str | None) -> None:
    """Delete a repository (a package repository goes with all its files)."""
    path = f"{_base(format_)}/{name}" + ("?force=true" if force and format_ == "docker" else "")
    _api(server).call("DELETE", path)
    click.echo(f"deleted repository {name}")


@repo.command("write-policy")
@click.argument("name")
@click.argument("policy", type=click.Choice(["allow", "deny", "readonly"]))
@server_option
def repo_write_policy(name: str, policy: str, server: str | None) -> None:
    """Set a package repository's write policy: allow redeploy, deny it, read-only."""
    _print(_api(server).call("PATCH", f"/package-repositories/{name}", {"write_policy": policy}))


@repo.command("visibility")
@click.argument("name")
@click.argument("visibility", type=click.Choice(["public", "private"]), required=False)
@server_option
def repo_visibility(name: str, visibility: str | None, server: str | None) -> None:
    """Show or set whether a repository is public or private."""
    api = _api(server)
    if visibility is None:
        doc = api.call("GET", f"/repositories/{name}")
        _print({"name": doc["name"], "visibility": doc["visibility"]})
    else:
        _print(api.call("PUT", f"/repositories/{name}/visibility", {"visibility": visibility}))


@repo.command("tag-mutability")
@click.argument("name")
@click.argument("mutability", type=MUTABILITY)
@click.option("--exclude", "filters", multiple=True, help="Exclusion filter (wildcards), up to 5.")
@server_option
def repo_tag_mutability(
    name: str, mutability: str, filters: tuple[str, ...], server: str | None
) -> None:
    """Set whether tags may move (ECR's imageTagMutability)."""
    body = {"tag_mutability": mutability, "mutability_filters": list(filters)}
    _print(_api(server).call("PUT", f"/repositories/{name}/tag-mutability", body))


@click.command("namespace-template")
@click.argument("namespace")
@click.option("--tag-mutability", type=MUTABILITY)
@click.option("--exclude", "filters", multiple=True)
@click.option("--latest", "latest", type=click.Choice(["allow", "warn", "refuse"]))
@click.option("--lifecycle-policy", "policy_file", metavar="FILE", help="ECR policy JSON file.")
@server_option
def namespace_template(
    namespace: str,
    tag_mutability: str | None,
    filters: tuple[str, ...],
    latest: str | None,
    policy_file: str | None,
    server: str | None,
) -> None:
    """Settings that repositories created in NAMESPACE start with."""
    body: dict[str, Any] = {
        "tag_mutability": tag_mutability,
        "mutability_filters": list(filters) or None,
        "latest_tag": latest,
        "lifecycle_policy": _read_policy(policy_file) if policy_file else None,
    }
    _print(_api(server).call("PUT", f"/namespaces/{namespace}/template", body))


@click.command("namespace-quota")
@click.argument("namespace")
@click.argument("quota", required=False, metavar="[BYTES|none]")
@server_option
def namespace_quota(namespace: str, quota: str | None, server: str | None) -> None:
    """Show a namespace's usage and quota, or set the quota (administrators)."""
    api = _api(server)
    if quota is None:
        _print(api.call("GET", f"/namespaces/{namespace}/usage"))
        return
    value = None if quota.lower() == "none" else _bytes(quota)
    _print(api.call("PUT", f"/namespaces/{namespace}/quota", {"quota_bytes": value}))


_UNITS = {
    "": 1,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "t": 1000**4,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
}


def _bytes(text: str) -> int:
    """``500``, ``10G``, ``2GiB``: a byte count."""
    raw = text.strip().lower().removesuffix("b")
    number = raw.rstrip("kmgti")
    unit = raw[len(number) :]
    if not number.isdigit() or unit not in _UNITS:
        raise click.BadParameter(f"{text!r} is not a size like 500, 10G or 2GiB")
    return int(number) * _UNITS[unit]


@click.group()
def policy() -> None:
    """ECR lifecycle policies: put, get, delete, preview, run, runs."""


def _read_policy(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        with open(source, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror}") from exc


@policy.command("put")
@click.argument("repository")
@click.argument("source", metavar="FILE")
@server_option
def policy_put(repository: str, source: str, server: str | None) -> None:
    """Set REPOSITORY's policy from FILE (ECR's JSON; - for standard input)."""
    _print(
        _api(server).call(
            "PUT", f"/repositories/{repository}/lifecycle-policy", text=_read_policy(source)
        )
    )


@policy.command("get")
@click.argument("repository")
@server_option
def policy_get(repository: str, server: str | None) -> None:
    doc = _api(server).call("GET", f"/repositories/{repository}/lifecycle-policy")
    click.echo(doc["lifecyclePolicyText"])


@policy.command("delete")
@click.argument("repository")
@server_option
def policy_delete(repository: str, server: str | None) -> None:
    _api(server).call("DELETE", f"/repositories/{repository}/lifecycle-policy")
    click.echo(f"removed the lifecycle policy of {repository}")


@policy.command("preview")
@click.argument("repository")
@click.argument("source", metavar="[FILE]", required=False)
@server_option
def policy_preview(repository: str, source: str | None, server: str | None) -> None:
    """Every image the stored policy (or the one in FILE) would expire now, and the
    rule that selects it. Nothing is deleted."""
    text = _read_policy(source) if source else ""
    doc = _api(server).call(
        "POST", f"/repositories/{repository}/lifecycle-policy/preview", text=text
    )
    _print(doc)


@policy.command("run")
@click.argument("repository")
@server_option
def policy_run(repository: str, server: str | None) -> None:
    """Run the policy now; expired images go to the recycle bin (`trash restore`)."""
    _print(_api(server).call("POST", f"/repositories/{repository}/lifecycle-policy/run", text=""))


@policy.command("runs")
@click.argument("repository")
@server_option
def policy_runs(repository: str, server: str | None) -> None:
    """Recorded runs: when, what expired and by which rule."""
    _print(_api(server).call("GET", f"/repositories/{repository}/lifecycle-runs"))


@click.group()
def trash() -> None:
    """The recycle bin: deleted tags and manifests, restorable until retention ends."""


@trash.command("list")
@click.option("--repository", help="Only this repository.")
@server_option
def trash_list(repository: str | None, server: str | None) -> None:
    path = "/trash" + (f"?repository={repository}" if repository else "")
    _print(_api(server).call("GET", path))


@trash.command("restore")
@click.argument("entry_id", type=int)
@server_option
def trash_restore(entry_id: int, server: str | None) -> None:
    """Put a deleted manifest (with its tags) or tag back."""
    _print(_api(server).call("POST", f"/trash/{entry_id}/restore", text=""))


COMMANDS = [repo, namespace_template, namespace_quota, policy, trash]
