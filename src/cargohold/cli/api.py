"""A small client for the management API, used by the CLI commands."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import click
import httpx

from cargohold.cli import dockerconfig

DEFAULT_SERVER = "127.0.0.1:5000"
_LOOPBACK = ("127.", "localhost", "[::1]")


def server_host(server: str) -> str:
    """The registry as docker names it: host[:port], no scheme."""
    for scheme in ("https://", "http://"):
        if server.startswith(scheme):
            server = server[len(scheme) :]
    return server.rstrip("/")


def base_url(server: str) -> str:
    if server.startswith(("http://", "https://")):
        return server.rstrip("/")
    scheme = "http" if server.startswith(_LOOPBACK) else "https"
    return f"{scheme}://{server.rstrip('/')}"


class ApiError(click.ClickException):
    pass


class Api:
    def __init__(self, server: str, auth: httpx.Auth | None) -> None:
        self.server = server
        self.client = httpx.Client(base_url=base_url(server), auth=auth, timeout=60)

    @classmethod
    def for_server(
        cls, server: str | None, username: str | None = None, password: str | None = None
    ) -> Api:
        """Credentials from the options, CARGOHOLD_USERNAME/PASSWORD, or `cargohold login`."""
        server = server or os.environ.get("CARGOHOLD_SERVER") or DEFAULT_SERVER
        username = username or os.environ.get("CARGOHOLD_USERNAME")
        password = password or os.environ.get("CARGOHOLD_PASSWORD")
        if username and password:
            return cls(server, httpx.BasicAuth(username, password))
        stored = dockerconfig.load(server_host(server))
        if stored is None:
            host = server_host(server)
            raise click.ClickException(f"not logged in to {host}: run `cargohold login {host}`")
        if stored.identity_token:
            token = cls(server, None).refresh(stored.identity_token)
            return cls(server, _Bearer(token))
        return cls(server, httpx.BasicAuth(stored.username, stored.password or ""))

    def refresh(self, refresh_token: str) -> str:
        reply = self.client.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": "cargohold-cli",
                "scope": "registry:account:*",
            },
        )
        if reply.status_code != 200:
            raise ApiError(
                f"stored login for {server_host(self.server)} no longer works; log in again"
            )
        return str(reply.json()["access_token"])

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        text: str | None = None,
    ) -> Any:
        """One API call with a JSON body, or ``text`` sent as it is (a policy)."""
        try:
            if text is not None:
                reply = self.client.request(
                    method,
                    f"/api/v1{path}",
                    content=text.encode(),
                    headers={"Content-Type": "application/json"},
                )
            else:
                reply = self.client.request(method, f"/api/v1{path}", json=body)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach {self.client.base_url}: {exc}") from exc
        if reply.status_code >= 400:
            try:
                message = reply.json()["errors"][0]["message"]
            except (ValueError, KeyError, IndexError, TypeError):
                message = reply.text[:200] or reply.reason_phrase
            raise ApiError(f"{reply.status_code}: {message}")
        return reply.json() if reply.content else None


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request
