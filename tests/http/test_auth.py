"""The Docker token protocol and per-request authorisation, in-process."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from cargohold.core.registry import Registry
from tests.http.helpers import basic, bearer, error_codes, push_blob, push_image

pytestmark = pytest.mark.anyio


@pytest.fixture
async def accounts(registry: Registry) -> AsyncIterator[Registry]:
    """alice (admin), bob and carol (users); org acme with bob as maintainer and
    carol as reader; acme/secret is private. Pushed content exists in each."""
    acc = registry.accounts
    await acc.create_user(None, "alice", "alice-password", admin=True)
    await acc.create_user(None, "bob", "bob-password")
    await acc.create_user(None, "carol", "carol-password")
    registry.access._has_users = True  # skip the 1 s setup-mode recheck
    bob = await registry.access.login("bob", "bob-password", "t")
    await acc.create_org(bob, "acme")
    await acc.set_member(bob, "acme", "carol", "reader")
    yield registry


async def token_for(client: httpx.AsyncClient, creds: dict[str, str], *scopes: str) -> dict:
    r = await client.get(
        "/token",
        params=[("service", "cargohold"), *[("scope", s) for s in scopes]],
        headers=creds,
    )
    assert r.status_code == 200, r.text
    return r.json()


def granted(token: str) -> list[dict]:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims["access"]


async def test_setup_mode_is_open_until_the_first_user(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    r = await client.get("/v2/")
    assert r.status_code == 200
    await push_image(client, "team/app", "v1")
    await registry.accounts.create_user(None, "alice", "alice-password", admin=True)
    registry.access._setup_checked_at = 0.0
    r = await client.get("/v2/")
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    assert challenge == 'Bearer realm="http://registry/token",service="cargohold"'
    assert error_codes(r) == ["UNAUTHORIZED"]


async def test_anonymous_push_gets_a_challenge_with_the_scope(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    r = await client.post("/v2/bob/app/blobs/uploads/")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == (
        'Bearer realm="http://registry/token",service="cargohold",'
        'scope="repository:bob/app:pull,push"'
    )
    assert error_codes(r) == ["UNAUTHORIZED"]


async def test_token_grants_the_intersection(client: httpx.AsyncClient, accounts: Registry) -> None:
    doc = await token_for(
        client,
        basic("bob", "bob-password"),
        "repository:bob/app:pull,push",
        "repository:carol/app:pull,push",
        "repository:acme/tool:pull,push,delete",
    )
    assert doc["token"] == doc["access_token"]
    assert doc["expires_in"] == 300
    assert doc["issued_at"].endswith("Z")
    assert "refresh_token" not in doc
    access = {a["name"]: a["actions"] for a in granted(doc["token"])}
    # carol/app does not exist and is not bob's: nothing (not an error).
    assert access == {"bob/app": ["pull", "push"], "acme/tool": ["delete", "pull", "push"]}


async def test_bearer_token_pushes_and_is_limited_to_its_grant(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    doc = await token_for(client, basic("bob", "bob-password"), "repository:bob/app:pull,push")
    client.headers.update(bearer(doc["token"]))
    await push_image(client, "bob/app", "v1")
    r = await client.get("/v2/bob/app/manifests/v1")
    assert r.status_code == 200
    r = await client.delete(f"/v2/bob/app/manifests/{r.headers['docker-content-digest']}")
    # Delete was not asked for: 401 with an insufficient_scope challenge (a 403 makes
    # docker retry a refused push for minutes), and a message naming the refusal.
    assert r.status_code == 401
    assert error_codes(r) == ["DENIED"]
    assert r.json()["errors"][0]["message"].endswith("(bob/app:delete)")
    assert r.headers["www-authenticate"] == (
        'Bearer realm="http://registry/token",service="cargohold",'
        'scope="repository:bob/app:delete",error="insufficient_scope"'
    )
    r = await client.post("/v2/bob/other/blobs/uploads/")
    assert r.status_code == 401
    assert error_codes(r) == ["DENIED"]


async def test_basic_auth_works_on_v2_directly(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    client.headers.update(basic("bob", "bob-password"))
    assert (await client.get("/v2/")).status_code == 200
    await push_image(client, "bob/direct", "v1")
    r = await client.post("/v2/carol/app/blobs/uploads/")
    assert r.status_code == 403
    assert error_codes(r) == ["DENIED"]


async def test_wrong_password_and_unknown_user_look_the_same(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    wrong = await client.get("/v2/", headers=basic("bob", "nope-nope"))
    unknown = await client.get("/v2/", headers=basic("nobody", "nope-nope"))
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content
    for path in ("/token",):
        a = await client.get(path, headers=basic("bob", "nope-nope"))
        b = await client.get(path, headers=basic("nobody", "nope-nope"))
        assert a.status_code == b.status_code == 401
        assert a.content == b.content


async def test_failed_logins_are_rate_limited(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    limit = accounts.settings.auth.failure_limit
    for _ in range(limit):
        r = await client.get("/v2/", headers=basic("carol", "wrong-password"))
        assert r.status_code == 401
    r = await client.get("/v2/", headers=basic("carol", "wrong-password"))
    assert r.status_code == 429
    assert error_codes(r) == ["TOO_MANY_REQUESTS"]
    assert r.headers["retry-after"]
    # The right password from the same address waits out the window too.
    r = await client.get("/v2/", headers=basic("carol", "carol-password"))
    assert r.status_code == 429
    # Another account is not locked out by it.
    r = await client.get("/v2/", headers=basic("bob", "bob-password"))
    assert r.status_code == 200


async def test_private_repository_is_invisible_to_outsiders(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    bob = basic("bob", "bob-password")
    client.headers.update(bob)
    await push_image(client, "acme/secret", "v1")
    await push_image(client, "acme/open", "v1")
    bob_p = await accounts.access.login("bob", "bob-password", "t")
    await accounts.accounts.set_visibility(bob_p, "acme/secret", True)
    anonymous: dict[str, str] = {"Authorization": ""}
    dave = await accounts.accounts.create_user(None, "dave", "dave-password")
    assert dave.name == "dave"
    for creds, expected in ((basic("dave", "dave-password"), 403), (anonymous, 401)):
        headers = creds if creds["Authorization"] else {}
        c = httpx.AsyncClient(transport=client._transport, base_url="http://registry")
        async with c:
            for path in ("/v2/acme/secret/manifests/v1", "/v2/acme/secret/tags/list"):
                r = await c.get(path, headers=headers)
                assert r.status_code == expected, (path, r.text)
            # Same answer for a repository that does not exist: no existence oracle.
            r = await c.get("/v2/acme/nothing/tags/list", headers=headers)
            assert r.status_code == expected
            r = await c.get("/v2/acme/open/manifests/v1", headers=headers)
            assert r.status_code == 200
            if headers:
                r = await c.get("/v2/_catalog", headers=headers)
                assert r.json()["repositories"] == ["acme/open"]
    # Members see both; carol (reader) pulls but cannot push.
    r = await client.get("/v2/_catalog")
    assert r.json()["repositories"] == ["acme/open", "acme/secret"]
    carol = basic("carol", "carol-password")
    assert (await client.get("/v2/acme/secret/manifests/v1", headers=carol)).status_code == 200
    r = await client.post("/v2/acme/secret/blobs/uploads/", headers=carol)
    assert r.status_code == 403


async def test_anonymous_pull_can_be_turned_off(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    client.headers.update(basic("bob", "bob-password"))
    await push_image(client, "bob/pub", "v1")
    del client.headers["Authorization"]
    assert (await client.get("/v2/bob/pub/manifests/v1")).status_code == 200
    accounts.access.settings = accounts.settings.auth.model_copy(update={"anonymous_pull": False})
    r = await client.get("/v2/bob/pub/manifests/v1")
    assert r.status_code == 401
    assert (await client.get("/token")).status_code == 401


async def test_mount_needs_pull_on_the_source(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    bob = basic("bob", "bob-password")
    client.headers.update(bob)
    digest = await push_blob(client, "bob/src", b"bob's private layer")
    bob_p = await accounts.access.login("bob", "bob-password", "t")
    await accounts.accounts.set_visibility(bob_p, "bob/src", True)
    carol = basic("carol", "carol-password")
    r = await client.post(
        "/v2/carol/dst/blobs/uploads/", params={"mount": digest, "from": "bob/src"}, headers=carol
    )
    assert r.status_code == 202  # a plain upload session: the blob was not mounted
    r = await client.post("/v2/carol/dst/blobs/uploads/", params={"mount": digest}, headers=carol)
    assert r.status_code == 202
    r = await client.head(f"/v2/carol/dst/blobs/{digest}", headers=carol)
    assert r.status_code == 404
    r = await client.post("/v2/bob/dst/blobs/uploads/", params={"mount": digest, "from": "bob/src"})
    assert r.status_code == 201


async def test_oauth_password_and_refresh_grants(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    form = {
        "grant_type": "password",
        "username": "bob",
        "password": "bob-password",
        "service": "cargohold",
        "client_id": "docker",
        "access_type": "offline",
        "scope": "repository:bob/app:pull,push repository:carol/x:push",
    }
    r = await client.post("/token", data=form)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["scope"] == "repository:bob/app:pull,push"
    assert doc["refresh_token"].startswith("chf_")
    assert "token" not in doc
    refresh = doc["refresh_token"]
    r = await client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "cargohold",
            "client_id": "docker",
            "scope": "repository:bob/app:pull",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["refresh_token"] == refresh
    assert r.json()["scope"] == "repository:bob/app:pull"
    # A password change ends refresh tokens and bearer tokens issued before it.
    old_access = r.json()["access_token"]
    await accounts.accounts.set_password(None, "bob", "bob-new-password")
    r = await client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "d"}
    )
    assert r.status_code == 401
    r = await client.get("/v2/bob/app/tags/list", headers=bearer(old_access))
    assert r.status_code == 401
    r = await client.post("/token", data={**form, "grant_type": "authorization_code"})
    assert r.status_code == 400
    r = await client.post("/token", data={**form, "service": "elsewhere"})
    assert r.status_code == 400


async def test_tampered_and_foreign_tokens_are_refused(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    doc = await token_for(client, basic("bob", "bob-password"), "repository:bob/app:pull")
    header, payload, signature = doc["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["access"][0]["name"] = "carol/app"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    r = await client.get(
        "/v2/carol/app/tags/list", headers=bearer(f"{header}.{forged}.{signature}")
    )
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    # A token from another service (audience) is refused.
    other = accounts.token_signer()
    from cargohold.auth.scopes import Access as Grant
    from cargohold.auth.tokens import TokenSigner

    foreign = TokenSigner(other.key_id, _pem_of(accounts), "cargohold", "other-service")
    token, _ = foreign.issue(
        "bob", [Grant("repository", "bob/app", frozenset({"pull"}))], 300, "password"
    )
    r = await client.get("/v2/bob/app/tags/list", headers=bearer(token))
    assert r.status_code == 401


def _pem_of(registry: Registry) -> str:
    from cryptography.hazmat.primitives import serialization

    key = registry.token_signer()._private
    return key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def test_revoked_token_stops_at_once(client: httpx.AsyncClient, accounts: Registry) -> None:
    bob_p = await accounts.access.login("bob", "bob-password", "t")
    issued = await accounts.accounts.create_token(bob_p, "ci", None, None)
    creds = basic("bob", issued.secret)
    doc = await token_for(client, creds, "repository:bob/app:pull,push")
    r = await client.get("/v2/", headers=bearer(doc["token"]))
    assert r.status_code == 200
    assert (await client.get("/v2/", headers=creds)).status_code == 200
    await accounts.accounts.revoke_token(bob_p, issued.credential.id)
    assert (await client.get("/v2/", headers=bearer(doc["token"]))).status_code == 401
    assert (await client.get("/v2/", headers=creds)).status_code == 401


async def test_login_password_and_robot_via_api(
    client: httpx.AsyncClient, accounts: Registry
) -> None:
    bob = basic("bob", "bob-password")
    r = await client.post("/api/v1/login-password", json={}, headers=bob)
    assert r.status_code == 201, r.text
    login = r.json()
    assert login["username"] == "bob"
    assert login["password"].startswith("chl_")
    creds = basic("bob", login["password"])
    assert (await client.get("/v2/", headers=creds)).status_code == 200

    # bob created acme, so he owns it and may make robots there, scoped inside it.
    r = await client.post(
        "/api/v1/namespaces/acme/robots",
        json={"name": "ci", "scopes": ["acme/app*:pull,push"]},
        headers=bob,
    )
    assert r.status_code == 201, r.text
    robot = r.json()
    assert robot["name"] == "acme+ci"
    robot_creds = basic("acme+ci", robot["secret"])
    doc = await token_for(
        client, robot_creds, "repository:acme/app1:pull,push", "repository:acme/other:pull,push"
    )
    assert {a["name"]: a["actions"] for a in granted(doc["token"])} == {
        "acme/app1": ["pull", "push"]
    }
    r = await client.get("/api/v1/namespaces/acme/robots", headers=bob)
    assert [x["name"] for x in r.json()] == ["acme+ci"]
    assert r.json()[0]["secret"] is None  # shown once only
    # carol (a reader) may not make robots in acme, nor scope one outside a namespace.
    r = await client.post(
        "/api/v1/namespaces/acme/robots",
        json={"name": "x", "scopes": ["acme/*:pull"]},
        headers=basic("carol", "carol-password"),
    )
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/namespaces/bob/robots", json={"name": "x", "scopes": ["acme/*:pull"]}, headers=bob
    )
    assert r.status_code == 400
    assert (await client.delete("/api/v1/robots/acme+ci", headers=bob)).status_code == 204
    assert (await client.get("/v2/", headers=robot_creds)).status_code == 401


async def test_openapi_document_lists_the_api(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert "post" in doc["paths"]["/api/v1/login-password"]
    assert "LoginPassword" in doc["components"]["schemas"]
