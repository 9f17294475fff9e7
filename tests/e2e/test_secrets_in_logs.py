"""No secret reaches the server's log, even at debug level with access logging."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import LiveServer

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin-password-Xq7"


def test_secrets_never_appear_in_the_log(tmp_path: Path) -> None:
    server = LiveServer(
        tmp_path / "data",
        env={"CARGOHOLD_AUTH__BOOTSTRAP_ADMIN": f"root:{ADMIN_PASSWORD}"},
        log_level="debug",
    ).start()
    secrets = [ADMIN_PASSWORD]
    try:
        admin = httpx.Client(base_url=server.url, auth=("root", ADMIN_PASSWORD), timeout=30)
        r = admin.post("/api/v1/users", json={"name": "bob", "password": "bob-password-Zr9"})
        assert r.status_code == 201, r.text
        secrets.append("bob-password-Zr9")
        bob = httpx.Client(base_url=server.url, auth=("bob", "bob-password-Zr9"), timeout=30)
        pat = bob.post("/api/v1/tokens", json={"name": "ci"}).json()["secret"]
        login = bob.post("/api/v1/login-password", json={}).json()["password"]
        robot = bob.post(
            "/api/v1/namespaces/bob/robots", json={"name": "ci", "scopes": ["bob/*:pull"]}
        ).json()["secret"]
        token = bob.get(
            "/token", params={"scope": "repository:bob/app:pull,push", "offline_token": "true"}
        ).json()
        secrets += [pat, login, robot, token["token"], token["refresh_token"]]
        # Use each one, and fail a few logins, so every code path has logged.
        for user, password in (("bob", pat), ("bob", login), ("bob+ci", robot)):
            assert httpx.get(f"{server.url}/v2/", auth=(user, password)).status_code == 200
        headers = {"Authorization": f"Bearer {token['token']}"}
        assert httpx.get(f"{server.url}/v2/bob/app/tags/list", headers=headers).status_code == 404
        form = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
        assert httpx.post(f"{server.url}/token", data=form).status_code == 200
        wrong = "wrong-password-Kk2"
        secrets.append(wrong)
        assert httpx.get(f"{server.url}/v2/", auth=("bob", wrong)).status_code == 401
        form = {"grant_type": "password", "username": "bob", "password": wrong}
        assert httpx.post(f"{server.url}/token", data=form).status_code == 401
    finally:
        server.stop()
    log = server.log()
    assert "/token" in log, "debug logging with access lines was expected"
    for secret in secrets:
        assert secret not in log
        assert secret[-20:] not in log
