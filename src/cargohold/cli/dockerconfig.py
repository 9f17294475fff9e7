"""Credentials where docker keeps them: ``~/.docker/config.json`` or a credential store.

`cargohold login` writes what `docker login` would, so docker, skopeo, podman and
our own CLI all find the same credentials.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StoredLogin:
    username: str
    password: str | None = None
    identity_token: str | None = None  # a refresh token, as docker stores it


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "config.json"


def _load() -> dict[str, Any]:
    try:
        doc = json.loads(config_path().read_text())
    except FileNotFoundError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _save(doc: dict[str, Any]) -> None:
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.json.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent="\t")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _helper_for(doc: dict[str, Any], server: str) -> str | None:
    helpers = doc.get("credHelpers") or {}
    return helpers.get(server) or doc.get("credsStore") or None


def _run_helper(helper: str, action: str, payload: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [f"docker-credential-{helper}", action],
        input=payload,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def store(server: str, login: StoredLogin) -> None:
    doc = _load()
    helper = _helper_for(doc, server)
    secret = login.identity_token or login.password or ""
    username = "<token>" if login.identity_token else login.username
    if helper:
        payload = json.dumps({"ServerURL": server, "Username": username, "Secret": secret})
        done = _run_helper(helper, "store", payload)
        if done.returncode != 0:
            raise RuntimeError(f"credential helper {helper}: {done.stdout or done.stderr}".strip())
        doc.setdefault("auths", {})[server] = {}
    else:
        entry: dict[str, str] = {}
        if login.identity_token:
            entry["auth"] = base64.b64encode(f"{login.username}:".encode()).decode()
            entry["identitytoken"] = login.identity_token
        else:
            entry["auth"] = base64.b64encode(f"{login.username}:{secret}".encode()).decode()
        doc.setdefault("auths", {})[server] = entry
    _save(doc)


def load(server: str) -> StoredLogin | None:
    doc = _load()
    helper = _helper_for(doc, server)
    if helper:
        done = _run_helper(helper, "get", server)
        if done.returncode != 0:
            return None
        found = json.loads(done.stdout)
        if found.get("Username") == "<token>":
            return StoredLogin(username="", identity_token=found.get("Secret"))
        return StoredLogin(username=found.get("Username", ""), password=found.get("Secret"))
    entry = (doc.get("auths") or {}).get(server)
    if not entry or "auth" not in entry:
        return None
    username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    if entry.get("identitytoken"):
        return StoredLogin(username=username, identity_token=entry["identitytoken"])
    return StoredLogin(username=username, password=password)


def erase(server: str) -> bool:
    doc = _load()
    helper = _helper_for(doc, server)
    if helper:
        _run_helper(helper, "erase", server)
    found = (doc.get("auths") or {}).pop(server, None) is not None
    _save(doc)
    return found
