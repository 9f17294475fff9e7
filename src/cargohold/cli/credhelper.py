"""``docker-credential-cargohold``: a docker credential helper that hands out fresh passwords.

Docker runs the helper with one argument and talks over stdin/stdout, as in
github.com/docker/docker-credential-helpers (``credentials/credentials.go``):

* ``store``: stdin holds ``{"ServerURL", "Username", "Secret"}``.
* ``get``: stdin holds the server URL; stdout gets ``{"ServerURL", "Username", "Secret"}``.
* ``erase``: stdin holds the server URL.
* ``list``: stdout gets ``{serverURL: username}``.
* ``version``: stdout gets one line.

Errors go to **stdout** with exit status 1, as the reference ``credentials.Serve`` does:
docker reads stdout, recognises ``credentials not found in native keychain``, and puts
any other text into its own error ("error getting credentials - err: exit status 1,
out: `...`"). Stderr is not part of that message.

The point of this helper is ``get``: rather than hand docker the long-lived secret that
``docker login`` stored, it asks the registry for a short-lived login password
(``POST /api/v1/login-password`` with HTTP Basic auth) and returns that, cached until
five minutes before it expires. If the registry cannot be asked, ``get`` fails; it never
falls back to the long-lived secret.

Entries are keyed by host[:port], the way docker's own ``ConvertToHostname`` does,
because ``docker login http://h:5000`` stores ``h:5000`` and a pull asks for ``h:5000``.
They live in a JSON file at ``$CARGOHOLD_CREDENTIALS_FILE``, or else
``$XDG_CONFIG_HOME/cargohold/credentials.json`` (default ``~/.config``), mode 0600.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx

from cargohold import __version__

HELPER = "docker-credential-cargohold"
NOT_FOUND = "credentials not found in native keychain"
MISSING_SERVER_URL = "no credentials server URL"
MISSING_USERNAME = "no credentials username"
TOKEN_USERNAME = "<token>"  # docker stores identity tokens under this username
REFRESH_MARGIN = timedelta(minutes=5)
HTTP_TIMEOUT = 30.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class HelperError(Exception):
    """A message for docker: printed on stdout, and the helper exits 1."""


@dataclass(frozen=True)
class FreshLogin:
    """A short-lived password the registry issued."""

    username: str
    password: str
    expires_at: datetime


@dataclass(frozen=True)
class Entry:
    """What ``store`` kept for one registry."""

    server_url: str  # as docker gave it; `list` reports it back
    username: str
    secret: str
    scheme: str | None = None  # "http" or "https" when server_url named one
    fresh: FreshLogin | None = None


# -- locations and names ----------------------------------------------------------------


def credentials_path(environ: Mapping[str, str] = os.environ) -> Path:
    explicit = environ.get("CARGOHOLD_CREDENTIALS_FILE")
    if explicit:
        return Path(explicit)
    config_home = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "cargohold" / "credentials.json"


def _split_host_port(netloc: str) -> tuple[str, str]:
    """Go's url.splitHostPort: the port only when all digits; brackets stripped."""
    host, port = netloc, ""
    if netloc.count(":") > 1 and not netloc.startswith("["):
        return netloc, ""  # a bare IPv6 address has no port
    colon = netloc.rfind(":")
    if colon != -1 and re.fullmatch("[0-9]*", netloc[colon + 1 :]):
        host, port = netloc[:colon], netloc[colon + 1 :]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def _join_host_port(host: str, port: str) -> str:
    bracketed = f"[{host}]" if ":" in host else host
    return f"{bracketed}:{port}" if port else bracketed


def host_key(server_url: str) -> str:
    """The registry's host[:port], as docker's ``credentials.ConvertToHostname`` makes it."""
    if "://" in server_url:
        netloc = server_url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
        host, port = _split_host_port(netloc)
        if host:
            # Go leaves out the brackets of an IPv6 host without a port; docker's own
            # references keep them ("[::1]/image"), so we do too.
            return _join_host_port(host, port)
    return server_url.split("/", 1)[0]


def url_scheme(server_url: str) -> str | None:
    scheme, found, _ = server_url.partition("://")
    return scheme.lower() if found and scheme.lower() in ("http", "https") else None


def base_url(host: str, scheme: str | None = None) -> str:
    """Where the registry answers: a recorded scheme, else plain HTTP only on loopback."""
    hostname, port = _split_host_port(host)
    if scheme is None:
        scheme = "http" if hostname in LOOPBACK_HOSTS else "https"
    return f"{scheme}://{_join_host_port(hostname, port)}"


# -- the credentials file ---------------------------------------------------------------


def _entry_from_json(doc: dict[str, Any]) -> Entry:
    fresh = doc.get("fresh")
    return Entry(
        server_url=str(doc["server_url"]),
        username=str(doc["username"]),
        secret=str(doc["secret"]),
        scheme=doc.get("scheme"),
        fresh=None
        if not fresh
        else FreshLogin(
            str(fresh["username"]),
            str(fresh["password"]),
            datetime.fromisoformat(fresh["expires_at"]),
        ),
    )


def _entry_to_json(entry: Entry) -> dict[str, Any]:
    doc = asdict(entry)
    if entry.fresh is not None:
        doc["fresh"]["expires_at"] = entry.fresh.expires_at.isoformat()
    return doc


def load(path: Path) -> dict[str, Entry]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {key: _entry_from_json(value) for key, value in doc["registries"].items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HelperError(f"cargohold: cannot read {path}: {exc}") from exc


def save(path: Path, entries: Mapping[str, Entry]) -> None:
    """Replace the file atomically, so a crash or a concurrent reader never sees half of it."""
    _make_private_dir(path.parent)
    doc = {"version": 1, "registries": {k: _entry_to_json(v) for k, v in entries.items()}}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(doc, file, indent=2, sort_keys=True)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def _make_private_dir(directory: Path) -> None:
    # Only a directory we create is ours to restrict (the file may live in /tmp).
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True)
        directory.chmod(0o700)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[dict[str, Entry]]:
    """Load, let the caller change, and save under a lock, so concurrent helpers lose no update."""
    _make_private_dir(path.parent)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        entries = load(path)
        yield entries
        save(path, entries)
    finally:
        os.close(fd)


# -- the actions ------------------------------------------------------------------------


def store(path: Path, payload: str) -> None:
    try:
        doc = json.loads(payload)
    except ValueError as exc:
        raise HelperError(f"invalid credentials JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise HelperError("invalid credentials JSON: not an object")
    server_url, username = str(doc.get("ServerURL") or ""), str(doc.get("Username") or "")
    if not server_url:
        raise HelperError(MISSING_SERVER_URL)
    if not username:
        raise HelperError(MISSING_USERNAME)
    entry = Entry(server_url, username, str(doc.get("Secret") or ""), url_scheme(server_url))
    with _locked(path) as entries:
        entries[host_key(server_url)] = entry  # a new secret also drops the cached password


def get(path: Path, server_url: str, now: datetime | None = None) -> dict[str, str]:
    """Docker's answer for server_url: a short-lived password, minted or still cached."""
    now = now or datetime.now(UTC)
    key = host_key(server_url)
    entry = load(path).get(key)
    if entry is None:
        raise HelperError(NOT_FOUND)
    fresh = entry.fresh
    if fresh is None or fresh.expires_at - REFRESH_MARGIN <= now:
        fresh = mint(entry, key)
        _remember(path, key, entry, fresh)
    return {"ServerURL": server_url, "Username": fresh.username, "Secret": fresh.password}


def _remember(path: Path, key: str, minted_for: Entry, fresh: FreshLogin) -> None:
    with _locked(path) as entries:
        current = entries.get(key)
        # A `store` or `erase` that ran meanwhile wins; the password then belongs to nobody.
        if current is not None and (current.username, current.secret) == (
            minted_for.username,
            minted_for.secret,
        ):
            entries[key] = replace(current, fresh=fresh)


def erase(path: Path, server_url: str) -> None:
    """Forget a registry; erasing one that is not there succeeds, like docker's file store."""
    with _locked(path) as entries:
        entries.pop(host_key(server_url), None)


def list_entries(path: Path) -> dict[str, str]:
    return {entry.server_url: entry.username for entry in load(path).values()}


# -- the registry -----------------------------------------------------------------------


def mint(entry: Entry, key: str) -> FreshLogin:
    """Ask the registry for a short-lived password, signing in with the stored secret
    (or, for an identity token that docker stored, with a bearer token bought with it)."""
    base = base_url(key, entry.scheme)
    url = f"{base}/api/v1/login-password"
    auth: httpx.Auth | tuple[str, str] = (entry.username, entry.secret)
    try:
        if entry.username == TOKEN_USERNAME:
            auth = _Bearer(_exchange(base, entry.secret))
        reply = httpx.post(url, json={}, auth=auth, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as exc:
        raise HelperError(f"cargohold: cannot reach {url}: {exc}") from exc
    if reply.status_code != 201:
        raise HelperError(f"cargohold: {url} answered {reply.status_code}: {_reason(reply)}")
    return _fresh_login(reply, url)


def _exchange(base: str, refresh_token: str) -> str:
    """An access token for docker's stored identity (refresh) token."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": "cargohold",
        "scope": "registry:account:*",  # the management API, as the stored login
    }
    try:
        reply = httpx.post(f"{base}/token", data=form, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as exc:
        raise HelperError(f"cargohold: cannot reach {base}/token: {exc}") from exc
    if reply.status_code != 200:
        raise HelperError(
            f"cargohold: the login stored for {base} no longer works ({_reason(reply)}); "
            "log in again"
        )
    return str(reply.json()["access_token"])


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def _reason(reply: httpx.Response) -> str:
    try:
        return str(reply.json()["errors"][0]["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        return reply.reason_phrase or "no reason given"


def _fresh_login(reply: httpx.Response, url: str) -> FreshLogin:
    try:
        doc = reply.json()
        fresh = FreshLogin(
            username=doc["username"],
            password=doc["password"],
            expires_at=datetime.fromisoformat(doc["expires_at"]),
        )
        valid = isinstance(fresh.username, str) and isinstance(fresh.password, str)
    except (ValueError, KeyError, TypeError) as exc:
        raise HelperError(f"cargohold: unexpected answer from {url}: {exc}") from exc
    if not valid or fresh.expires_at.tzinfo is None:
        raise HelperError(f"cargohold: unexpected answer from {url}: {reply.text[:200]}")
    return fresh


# -- the program ------------------------------------------------------------------------


def _json_line(doc: Mapping[str, str]) -> str:
    # Go's json.Encoder: compact, map keys sorted, one trailing newline.
    return json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n"


def _server_url(stdin: TextIO) -> str:
    server_url = stdin.read().strip()
    if not server_url:
        raise HelperError(MISSING_SERVER_URL)
    return server_url


def _store(path: Path, stdin: TextIO) -> str:
    store(path, stdin.read())
    return ""


def _erase(path: Path, stdin: TextIO) -> str:
    erase(path, _server_url(stdin))
    return ""


ACTIONS: dict[str, Callable[[Path, TextIO], str]] = {
    "store": _store,
    "get": lambda path, stdin: _json_line(get(path, _server_url(stdin))),
    "erase": _erase,
    "list": lambda path, stdin: _json_line(list_entries(path)),
    "version": lambda path, stdin: f"{HELPER} (cargohold) {__version__}\n",
}


def main(
    argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Console-script entry point; returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    if len(args) != 1:
        stdout.write(f"Usage: {HELPER} <store|get|erase|list|version>\n")
        return 1
    action = ACTIONS.get(args[0])
    try:
        if action is None:
            raise HelperError(f"Unknown credential action `{args[0]}`")
        stdout.write(action(credentials_path(), stdin))
    except HelperError as exc:
        stdout.write(f"{exc}\n")
        return 1
    except OSError as exc:
        stdout.write(f"cargohold: {exc}\n")
        return 1
    stdout.flush()
    return 0
