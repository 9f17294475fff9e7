"""Client commands for logins, users, organisations, robots, tokens and visibility.

They call the management API of a running registry, with the credentials given in
options or environment, or stored by `cargohold login`.
"""

from __future__ import annotations

import click

from cargohold.cli import dockerconfig
from cargohold.cli.common import api as _api
from cargohold.cli.common import print_json as _print
from cargohold.cli.common import read_secret as _secret_input
from cargohold.cli.common import server_option

# -- login ----------------------------------------------------------------------------


@click.command()
@click.argument("server", required=False)
@click.option("-u", "--username", help="User or robot name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def login(server: str | None, username: str | None, password_stdin: bool) -> None:
    """Log in and store the credentials where docker keeps them."""
    import httpx

    from cargohold.cli.api import base_url, server_host

    server = server or DEFAULT
    username = username or click.prompt("Username")
    password = _secret_input(password_stdin)
    reply = httpx.get(
        f"{base_url(server)}/token",
        params={"offline_token": "true", "client_id": "cargohold-cli", "account": username},
        auth=httpx.BasicAuth(username, password),
        timeout=60,
    )
    if reply.status_code != 200:
        try:
            message = reply.json()["errors"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            message = reply.reason_phrase
        raise click.ClickException(f"login failed: {message}")
    refresh = reply.json().get("refresh_token")
    host = server_host(server)
    dockerconfig.store(host, dockerconfig.StoredLogin(username, password, refresh))
    click.echo("Login Succeeded")


DEFAULT = "127.0.0.1:5000"


@click.command()
@click.argument("server", required=False)
def logout(server: str | None) -> None:
    """Forget the stored credentials for a registry."""
    from cargohold.cli.api import server_host

    host = server_host(server or DEFAULT)
    if dockerconfig.erase(host):
        click.echo(f"Removing login credentials for {host}")
    else:
        click.echo(f"Not logged in to {host}")


@click.command()
@server_option
def whoami(server: str | None) -> None:
    """Show who the stored credentials belong to."""
    _print(_api(server).call("GET", "/me"))


@click.command("get-login-password")
@server_option
@click.option("--ttl-seconds", type=int, help="Shorter than the 12-hour default.")
def get_login_password(server: str | None, ttl_seconds: int | None) -> None:
    """Print a password for `docker login --password-stdin` that expires (12 h)."""
    body = {} if ttl_seconds is None else {"ttl_seconds": ttl_seconds}
    click.echo(_api(server).call("POST", "/login-password", body)["password"])


# -- users ----------------------------------------------------------------------------


@click.group()
def user() -> None:
    """Manage users (administrators)."""


@user.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--password-stdin", is_flag=True)
@server_option
def user_create(name: str, admin: bool, password_stdin: bool, server: str | None) -> None:
    password = _secret_input(password_stdin, confirm=not password_stdin)
    _print(
        _api(server).call("POST", "/users", {"name": name, "password": password, "admin": admin})
    )


@user.command("list")
@server_option
def user_list(server: str | None) -> None:
    _print(_api(server).call("GET", "/users"))


@user.command("delete")
@click.argument("name")
@server_option
def user_delete(name: str, server: str | None) -> None:
    _api(server).call("DELETE", f"/users/{name}")
    click.echo(f"deleted user {name}")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True)
@server_option
def user_passwd(name: str, password_stdin: bool, server: str | None) -> None:
    """Change a password; tokens issued from the old one stop working."""
    password = _secret_input(password_stdin, "New password", confirm=not password_stdin)
    _api(server).call("PUT", f"/users/{name}/password", {"password": password})
    click.echo(f"password changed for {name}")


# -- organisations ----------------------------------------------------------------------


@click.group()
def org() -> None:
    """Manage organisations and their members."""


@org.command("create")
@click.argument("name")
@click.option("--private", is_flag=True, help="New repositories are private by default.")
@server_option
def org_create(name: str, private: bool, server: str | None) -> None:
    body = {"name": name, "default_visibility": "private" if private else "public"}
    _print(_api(server).call("POST", "/orgs", body))


@org.command("list")
@server_option
def org_list(server: str | None) -> None:
    _print(_api(server).call("GET", "/orgs"))


@org.command("delete")
@click.argument("name")
@server_option
def org_delete(name: str, server: str | None) -> None:
    _api(server).call("DELETE", f"/orgs/{name}")
    click.echo(f"deleted organisation {name}")


@org.command("members")
@click.argument("name")
@server_option
def org_members(name: str, server: str | None) -> None:
    _print(_api(server).call("GET", f"/orgs/{name}/members"))


@org.command("add-member")
@click.argument("name")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["owner", "maintainer", "reader"]),
    default="reader",
    show_default=True,
)
@server_option
def org_add_member(name: str, username: str, role: str, server: str | None) -> None:
    _print(_api(server).call("PUT", f"/orgs/{name}/members/{username}", {"role": role}))


@org.command("remove-member")
@click.argument("name")
@click.argument("username")
@server_option
def org_remove_member(name: str, username: str, server: str | None) -> None:
    _api(server).call("DELETE", f"/orgs/{name}/members/{username}")
    click.echo(f"removed {username} from {name}")


@click.command("namespace-default")
@click.argument("namespace")
@click.argument("visibility", type=click.Choice(["public", "private"]))
@server_option
def namespace_default(namespace: str, visibility: str, server: str | None) -> None:
    """Set the visibility that new repositories in a namespace get."""
    _api(server).call("PATCH", f"/namespaces/{namespace}", {"default_visibility": visibility})
    click.echo(f"new repositories in {namespace} will be {visibility}")


# -- robots ---------------------------------------------------------------------------


@click.group()
def robot() -> None:
    """Robot accounts (service principals) for CI and clusters."""


@robot.command("create")
@click.argument("namespace")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="REPOSITORY-PATTERN:ACTIONS, e.g. acme/*:pull",
)
@click.option("--expires-in-days", type=int)
@click.option("--description", default="")
@server_option
def robot_create(
    namespace: str,
    name: str,
    scopes: tuple[str, ...],
    expires_in_days: int | None,
    description: str,
    server: str | None,
) -> None:
    """Create a robot; its secret is printed once."""
    body = {
        "name": name,
        "scopes": list(scopes),
        "expires_in_days": expires_in_days,
        "description": description,
    }
    _print(_api(server).call("POST", f"/namespaces/{namespace}/robots", body))


@robot.command("list")
@click.argument("namespace")
@server_option
def robot_list(namespace: str, server: str | None) -> None:
    _print(_api(server).call("GET", f"/namespaces/{namespace}/robots"))


@robot.command("delete")
@click.argument("name")
@server_option
def robot_delete(name: str, server: str | None) -> None:
    _api(server).call("DELETE", f"/robots/{name}")
    click.echo(f"deleted robot {name}")


# -- personal access tokens -----------------------------------------------------------


@click.group()
def token() -> None:
    """Personal access tokens."""


@token.command("create")
@click.argument("name")
@click.option(
    "--scope", "scopes", multiple=True, help="REPOSITORY-PATTERN:ACTIONS; none: all your rights"
)
@click.option("--expires-in-days", type=int)
@server_option
def token_create(
    name: str, scopes: tuple[str, ...], expires_in_days: int | None, server: str | None
) -> None:
    """Create a token; it is printed once."""
    body = {"name": name, "scopes": list(scopes) or None, "expires_in_days": expires_in_days}
    _print(_api(server).call("POST", "/tokens", body))


@token.command("list")
@server_option
def token_list(server: str | None) -> None:
    _print(_api(server).call("GET", "/tokens"))


@token.command("revoke")
@click.argument("token_id")
@server_option
def token_revoke(token_id: str, server: str | None) -> None:
    _api(server).call("DELETE", f"/tokens/{token_id}")
    click.echo(f"revoked {token_id}")


COMMANDS = [
    login,
    logout,
    whoami,
    get_login_password,
    user,
    org,
    namespace_default,
    robot,
    token,
]
