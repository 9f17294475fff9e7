"""``cargohold pull-secret``: a Kubernetes image pull secret, as kubectl would write it.

`pull_secret_yaml` returns exactly what ``kubectl create secret docker-registry NAME
--docker-server=S --docker-username=U --docker-password=P [--docker-email=E]
[--namespace=N] --dry-run=client -o yaml`` prints, byte for byte, so that output can be
diffed against kubectl's and applied without kubectl installed. Two encoders matter:

* The ``.dockerconfigjson`` value is Go's ``encoding/json`` output, base64-encoded:
  ``{"auths":{SERVER:{"username","password"[,"email"],"auth"}}}`` with no spaces, the
  ``auth`` field ``base64(user:password)``, and Go's string escaping (``<``, ``>``,
  ``&``, U+2028 and U+2029 become ``\\u003c``... ; ``\\b \\f \\n \\r \\t`` are short escapes;
  other non-ASCII text stays raw UTF-8).
* The document is go-yaml v2 output (keys sorted, two-space indent, no line folding of
  these space-free values). It double-quotes a string only where a plain scalar would
  read back as something else in YAML 1.1: ``"123"``, ``"y"``, ``"2000-02-29"``...
  Names are restricted to what the API server accepts (DNS-1123), which keeps that rule
  to the few cases `_yaml_scalar` handles.
"""

from __future__ import annotations

import base64
import math
import re
import sys

import click

__all__ = ["pull_secret", "pull_secret_yaml"]

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def pull_secret_yaml(
    name: str,
    server: str,
    username: str,
    password: str,
    email: str | None = None,
    namespace: str | None = None,
) -> str:
    """The Secret manifest kubectl prints for these inputs.

    An empty email or namespace is left out, as kubectl does. Raises ValueError for an
    empty server, username or password (kubectl refuses them too), for a name or
    namespace the API server would reject, and for text that is not encodable as UTF-8.
    """
    for label, value in (("server", server), ("username", username), ("password", password)):
        if not value:
            raise ValueError(f"the {label} must not be empty")
    if len(name) > 253 or not _SUBDOMAIN.fullmatch(name):
        raise ValueError(f"invalid secret name {name!r}: must be a DNS-1123 subdomain")
    if namespace and (len(namespace) > 63 or not _LABEL.fullmatch(namespace)):
        raise ValueError(f"invalid namespace {namespace!r}: must be a DNS-1123 label")
    config = docker_config_json(server, username, password, email)
    lines = [
        "apiVersion: v1",
        "data:",
        f"  .dockerconfigjson: {base64.b64encode(config).decode('ascii')}",
        "kind: Secret",
        "metadata:",
        "  creationTimestamp: null",
        f"  name: {_yaml_scalar(name)}",
    ]
    if namespace:
        lines.append(f"  namespace: {_yaml_scalar(namespace)}")
    lines.append("type: kubernetes.io/dockerconfigjson")
    return "\n".join(lines) + "\n"


def docker_config_json(server: str, username: str, password: str, email: str | None) -> bytes:
    """The ``.dockerconfigjson`` document, encoded the way Go's json.Marshal does."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    fields = [("username", username), ("password", password)]
    if email:
        fields.append(("email", email))
    fields.append(("auth", auth))
    entry = ",".join(f"{_go_string(k)}:{_go_string(v)}" for k, v in fields)
    return f'{{"auths":{{{_go_string(server)}:{{{entry}}}}}}}'.encode()


_GO_ESCAPE = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029]')
_GO_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_GO_SHORT["\t"] = "\\t"


def _go_string(text: str) -> str:
    """A JSON string as Go's encoder writes it, HTML-safe escaping included."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _GO_SHORT.get(char) or f"\\u{ord(char):04x}"

    return f'"{_GO_ESCAPE.sub(escape, text)}"'


# Plain scalars that YAML 1.1 (go-yaml v2) reads as booleans or null, as far as they
# can occur in a DNS-1123 name; the capitalised spellings cannot.
_YAML11_WORDS = frozenset({"y", "yes", "true", "on", "n", "no", "false", "off", "null"})
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_INT_DIGITS = {2: re.compile("[01]+"), 8: re.compile("[0-7]+"), 16: re.compile("[0-9a-f]+")}
_INT_DIGITS[10] = re.compile("[0-9]+")


def _yaml_scalar(value: str) -> str:
    """How go-yaml v2 writes a DNS-1123 string: plain, unless it would resolve to a non-string."""
    if value in _YAML11_WORDS:
        return f'"{value}"'
    if value[0].isdigit() and (_is_date(value) or _is_uint64(value) or _is_float(value)):
        return f'"{value}"'
    return value


def _is_date(value: str) -> bool:
    """Go's time.Parse("2006-1-2", value) succeeds: go-yaml then sees a timestamp."""
    match = _DATE.fullmatch(value)
    if match is None:
        return False
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return 1 <= day <= days


def _is_uint64(value: str) -> bool:
    """Go's strconv.ParseUint(value, 0, 64) succeeds (it accepts every ParseInt success).

    The go-yaml in kubectl 1.32 has no big-integer fallback: 0x followed by 17 hex
    digits stays a plain string, and kubectl leaves it unquoted.
    """
    base, digits = 10, value
    if value[:2] in ("0x", "0o", "0b"):
        base, digits = {"x": 16, "o": 8, "b": 2}[value[1]], value[2:]
    elif len(value) > 1 and value[0] == "0":
        base, digits = 8, value[1:]
    return bool(_INT_DIGITS[base].fullmatch(digits)) and int(digits, base) < 2**64


def _is_float(value: str) -> bool:
    # Go's ParseFloat fails on overflow to infinity, so go-yaml keeps "1e999" a string.
    return bool(_YAML_FLOAT.fullmatch(value)) and not math.isinf(float(value))


def _password_from_options(password: str | None, password_stdin: bool) -> str | None:
    """The password the user gave, or None to mint a short-lived one."""
    if password is not None and password_stdin:
        raise click.UsageError("give --password or --password-stdin, not both")
    if password_stdin:
        # Trim one line ending, as `docker login --password-stdin` does.
        return sys.stdin.read().removesuffix("\n").removesuffix("\r")
    return password


def _mint(server: str) -> tuple[str, str]:
    """A 12-hour login password for the stored (or CARGOHOLD_*) login to ``server``."""
    from cargohold.cli.api import Api

    doc = Api.for_server(server).call("POST", "/login-password", {})
    return str(doc["username"]), str(doc["password"])


@click.command("pull-secret")
@click.argument("name")
@click.option("--server", required=True, help="Registry address, as pods name it (host[:port]).")
@click.option("--username", help="User or robot name (default: the one logged in).")
@click.option("--password", help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--email", help="Email address recorded in the secret (optional).")
@click.option("-n", "--namespace", help="Namespace of the secret (omitted when not given).")
def pull_secret(
    name: str,
    server: str,
    username: str | None,
    password: str | None,
    password_stdin: bool,
    email: str | None,
    namespace: str | None,
) -> None:
    """Print a Kubernetes image pull secret (docker-registry type) as YAML.

    Without a password, it holds a fresh 12-hour login password of the account
    logged in to SERVER (`cargohold login`), so no long-lived secret lands in the
    cluster; give a robot's name and secret for one that does not expire.
    """
    secret = _password_from_options(password, password_stdin)
    if secret is None:
        minted_user, secret = _mint(server)
        if username is not None and username != minted_user:
            raise click.UsageError(
                f"logged in as {minted_user}, not {username}: give --password-stdin for {username}"
            )
        username = minted_user
    elif username is None:
        raise click.UsageError("give --username with a password")
    try:
        text = pull_secret_yaml(name, server, username, secret, email, namespace)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(text, nl=False)
