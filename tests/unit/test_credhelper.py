"""``docker-credential-cargohold``: the docker credential-helper protocol and fresh passwords.

The registry's ``POST /api/v1/login-password`` is still being built, so the tests of
``get`` run against `StandInRegistry`: a real HTTP server on 127.0.0.1 that implements
only that endpoint, to the agreed contract, and checks the Basic auth header.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cargohold.cli import credhelper
from cargohold.cli.credhelper import base_url, credentials_path, host_key, main
from tests.support import free_port


@dataclass
class Run:
    code: int
    out: str


def run(*argv: str, stdin: str = "") -> Run:
    out = io.StringIO()
    code = main(list(argv), io.StringIO(stdin), out)
    return Run(code, out.getvalue())


def store(server_url: str, username: str = "alice", secret: str = "long-lived") -> None:
    doc = {"ServerURL": server_url, "Username": username, "Secret": secret}
    assert run("store", stdin=json.dumps(doc)) == Run(0, "")


@pytest.fixture
def creds_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "cargohold" / "credentials.json"
    monkeypatch.setenv("CARGOHOLD_CREDENTIALS_FILE", str(path))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    return path


# -- a stand-in for the registry's login-password endpoint -----------------------------


@dataclass
class StandInRegistry:
    """Just ``POST /api/v1/login-password``; answers 201 only for alice:long-lived."""

    expires_in: timedelta = timedelta(hours=12)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        self.requests.append({"method": method, "path": path, "body": body})
        if (method, path) != ("POST", "/api/v1/login-password"):
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "no such route"}]}
        expected = "Basic " + base64.b64encode(b"alice:long-lived").decode()
        if headers.get("Authorization") != expected:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        if json.loads(body) != {}:
            return 400, {"errors": [{"code": "BAD_REQUEST", "message": "unexpected body"}]}
        n = len(self.requests)
        expires = (datetime.now(UTC) + self.expires_in).isoformat().replace("+00:00", "Z")
        return 201, {"username": "alice", "password": f"fresh-{n}", "expires_at": expires}


@pytest.fixture
def registry() -> Iterator[StandInRegistry]:
    stand_in = StandInRegistry()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._reply()

        def do_GET(self) -> None:
            self._reply()

        def _reply(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, doc = stand_in.answer(self.command, self.path, self.headers, body)
            payload = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    stand_in.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=stand_in.server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()
    thread.join()


# -- store, list, erase -----------------------------------------------------------------


def test_store_then_list(creds_file: Path) -> None:
    store("127.0.0.1:5000")
    store("https://registry.example.com/v2/", username="bob")
    assert run("list") == Run(
        0, '{"127.0.0.1:5000":"alice","https://registry.example.com/v2/":"bob"}\n'
    )


def test_list_when_nothing_is_stored(creds_file: Path) -> None:
    assert run("list") == Run(0, "{}\n")
    assert not creds_file.exists()


def test_store_keys_by_host_like_docker(creds_file: Path) -> None:
    store("http://127.0.0.1:5000")
    store("127.0.0.1:5000", username="bob")  # the same registry: replaces the entry
    assert run("list") == Run(0, '{"127.0.0.1:5000":"bob"}\n')


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"Username": "u", "Secret": "s"}, "no credentials server URL\n"),
        ({"ServerURL": "r", "Secret": "s"}, "no credentials username\n"),
    ],
)
def test_store_needs_server_url_and_username(
    creds_file: Path, doc: dict[str, str], message: str
) -> None:
    assert run("store", stdin=json.dumps(doc)) == Run(1, message)


def test_store_rejects_bad_json(creds_file: Path) -> None:
    result = run("store", stdin="{not json")
    assert result.code == 1
    assert result.out.startswith("invalid credentials JSON")


def test_erase(creds_file: Path) -> None:
    store("127.0.0.1:5000")
    store("registry.example.com")
    assert run("erase", stdin="http://127.0.0.1:5000\n") == Run(0, "")
    assert run("list") == Run(0, '{"registry.example.com":"alice"}\n')


def test_erase_of_unknown_server_succeeds(creds_file: Path) -> None:
    assert run("erase", stdin="nowhere.example.com") == Run(0, "")


@pytest.mark.parametrize("action", ["get", "erase"])
def test_empty_server_url(creds_file: Path, action: str) -> None:
    assert run(action, stdin=" \n") == Run(1, "no credentials server URL\n")


def test_file_and_directory_are_private(creds_file: Path) -> None:
    store("127.0.0.1:5000")
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(creds_file.parent.stat().st_mode) == 0o700
    # The atomic write leaves only the file and its lock behind, no temporary files.
    names = sorted(p.name for p in creds_file.parent.iterdir())
    assert names == ["credentials.json", "credentials.json.lock"]


def test_existing_directory_keeps_its_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    monkeypatch.setenv("CARGOHOLD_CREDENTIALS_FILE", str(shared / "creds.json"))
    store("127.0.0.1:5000")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "creds.json").stat().st_mode) == 0o600


def test_corrupt_file_is_reported(creds_file: Path) -> None:
    creds_file.parent.mkdir(parents=True)
    creds_file.write_text("{oops")
    result = run("list")
    assert result.code == 1
    assert result.out.startswith(f"cargohold: cannot read {creds_file}")


# -- get --------------------------------------------------------------------------------


def test_get_unknown_server_is_not_found(creds_file: Path) -> None:
    # Docker matches this exact text and then carries on without credentials.
    assert run("get", stdin="127.0.0.1:5000") == Run(
        1, "credentials not found in native keychain\n"
    )


def test_get_without_reachable_registry_fails_and_does_not_fall_back(creds_file: Path) -> None:
    host = f"127.0.0.1:{free_port()}"
    store(host)
    result = run("get", stdin=host)
    assert result.code == 1
    assert result.out.startswith(f"cargohold: cannot reach http://{host}/api/v1/login-password")
    assert "long-lived" not in result.out


def test_get_against_stand_in_registry_mints_a_fresh_password(
    creds_file: Path, registry: StandInRegistry
) -> None:
    store(registry.host)
    result = run("get", stdin=f"{registry.host}\n")
    assert result.code == 0, result.out
    assert json.loads(result.out) == {
        "ServerURL": registry.host,
        "Username": "alice",
        "Secret": "fresh-1",
    }
    assert [(r["method"], r["path"]) for r in registry.requests] == [
        ("POST", "/api/v1/login-password")
    ]
    cached = json.loads(creds_file.read_text())["registries"][registry.host]["fresh"]
    assert cached["password"] == "fresh-1"


def test_get_against_stand_in_registry_reuses_the_cached_password(
    creds_file: Path, registry: StandInRegistry
) -> None:
    store(registry.host)
    first = run("get", stdin=registry.host)
    second = run("get", stdin=f"http://{registry.host}")
    assert json.loads(first.out)["Secret"] == json.loads(second.out)["Secret"] == "fresh-1"
    assert json.loads(second.out)["ServerURL"] == f"http://{registry.host}"
    assert len(registry.requests) == 1


def test_get_against_stand_in_registry_renews_within_five_minutes_of_expiry(
    creds_file: Path, registry: StandInRegistry
) -> None:
    registry.expires_in = timedelta(minutes=4)
    store(registry.host)
    assert json.loads(run("get", stdin=registry.host).out)["Secret"] == "fresh-1"
    assert json.loads(run("get", stdin=registry.host).out)["Secret"] == "fresh-2"


def test_get_against_stand_in_registry_reports_rejection(
    creds_file: Path, registry: StandInRegistry
) -> None:
    store(registry.host, secret="wrong")
    result = run("get", stdin=registry.host)
    assert result == Run(
        1,
        f"cargohold: http://{registry.host}/api/v1/login-password answered 401: "
        "authentication required\n",
    )


def test_store_drops_the_cached_password(creds_file: Path, registry: StandInRegistry) -> None:
    store(registry.host)
    run("get", stdin=registry.host)
    store(registry.host, secret="changed")
    assert run("get", stdin=registry.host).code == 1  # minted again, with the new secret
    assert len(registry.requests) == 2


def test_cache_boundary(creds_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    minted: list[str] = []

    def fake_mint(entry: credhelper.Entry, key: str) -> credhelper.FreshLogin:
        minted.append(key)
        expires = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
        return credhelper.FreshLogin("alice", f"p{len(minted)}", expires)

    monkeypatch.setattr(credhelper, "mint", fake_mint)
    store("registry.example.com")
    path = credentials_path()
    before = datetime(2030, 1, 1, 11, 54, 59, tzinfo=UTC)
    assert credhelper.get(path, "registry.example.com", now=before)["Secret"] == "p1"
    assert credhelper.get(path, "registry.example.com", now=before)["Secret"] == "p1"
    at_margin = datetime(2030, 1, 1, 11, 55, tzinfo=UTC)
    assert credhelper.get(path, "registry.example.com", now=at_margin)["Secret"] == "p2"


def test_identity_token_is_exchanged_at_the_token_endpoint(creds_file: Path) -> None:
    # docker stores identity tokens as "<token>"; the helper trades one at /token
    # first (the working path is in tests/e2e/test_credentials_cli.py).
    store("127.0.0.1:1", username="<token>", secret="chf_0000000000000000_x")
    result = run("get", stdin="127.0.0.1:1")
    assert result.code == 1
    assert "cannot reach http://127.0.0.1:1/token" in result.out


# -- the program ------------------------------------------------------------------------


def test_usage_and_unknown_action(creds_file: Path) -> None:
    usage = "Usage: docker-credential-cargohold <store|get|erase|list|version>\n"
    assert run() == Run(1, usage)
    assert run("get", "extra") == Run(1, usage)
    assert run("fetch") == Run(1, "Unknown credential action `fetch`\n")


def test_version(creds_file: Path) -> None:
    result = run("version")
    assert result.code == 0
    assert result.out.startswith("docker-credential-cargohold (cargohold) ")


def test_console_entry_point_in_a_real_process(creds_file: Path) -> None:
    program = "import sys; from cargohold.cli.credhelper import main; sys.exit(main())"

    def helper(action: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", program, action],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, "CARGOHOLD_CREDENTIALS_FILE": str(creds_file)},
            check=False,
            timeout=60,
        )

    doc = {"ServerURL": "registry.example.com", "Username": "alice", "Secret": "s"}
    assert helper("store", json.dumps(doc)).returncode == 0
    listed = helper("list", "unused")
    assert (listed.returncode, listed.stdout) == (0, '{"registry.example.com":"alice"}\n')
    missing = helper("get", "other.example.com")
    assert (missing.returncode, missing.stdout) == (1, "credentials not found in native keychain\n")


# -- names and paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_url", "key"),
    [
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("http://127.0.0.1:5000", "127.0.0.1:5000"),
        ("https://registry.example.com/v2/", "registry.example.com"),
        ("registry.example.com/some/path", "registry.example.com"),
        ("https://user@registry.example.com:8443", "registry.example.com:8443"),
        ("https://[::1]:5000/", "[::1]:5000"),
        ("http://[::1]/v2/", "[::1]"),
        ("https://index.docker.io/v1/", "index.docker.io"),
    ],
)
def test_host_key_matches_docker(server_url: str, key: str) -> None:
    assert host_key(server_url) == key


@pytest.mark.parametrize(
    ("host", "scheme", "url"),
    [
        ("127.0.0.1:5000", None, "http://127.0.0.1:5000"),
        ("localhost:5000", None, "http://localhost:5000"),
        ("[::1]:5000", None, "http://[::1]:5000"),
        ("::1", None, "http://[::1]"),
        ("registry.example.com", None, "https://registry.example.com"),
        ("10.0.0.5:5000", None, "https://10.0.0.5:5000"),
        ("127.0.0.1:5000", "https", "https://127.0.0.1:5000"),
        ("registry.example.com:8080", "http", "http://registry.example.com:8080"),
    ],
)
def test_base_url(host: str, scheme: str | None, url: str) -> None:
    assert base_url(host, scheme) == url


def test_recorded_scheme_is_used(creds_file: Path, registry: StandInRegistry) -> None:
    store(f"https://{registry.host}")  # the stand-in speaks plain HTTP only
    result = run("get", stdin=registry.host)
    assert result.code == 1
    assert result.out.startswith(f"cargohold: cannot reach https://{registry.host}/")


def test_credentials_path() -> None:
    assert credentials_path({"CARGOHOLD_CREDENTIALS_FILE": "/x/c.json"}) == Path("/x/c.json")
    assert credentials_path({"XDG_CONFIG_HOME": "/cfg"}) == Path("/cfg/cargohold/credentials.json")
    assert credentials_path({}) == Path.home() / ".config" / "cargohold" / "credentials.json"
