"""The management API under /api/v1, as a client sees it: statuses, bodies, errors."""

from __future__ import annotations

import contextlib
import inspect
import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cargohold.auth import passwords
from cargohold.auth import secrets as sec
from cargohold.core import access as access_module
from cargohold.core import accounts as accounts_module
from cargohold.core.registry import Registry
from cargohold.http.api.routes import API, PREFIX
from cargohold.metadata.accounts import CredentialRecord, ScopeGrant
from tests.http.helpers import basic, bearer, push_blob, push_image

pytestmark = pytest.mark.anyio

BASIC_CHALLENGE = 'Basic realm="cargohold"'


ALICE = basic("alice", "alice-password")  # administrator
BOB = basic("bob", "bob-password")
CAROL = basic("carol", "carol-password")
DAVE = basic("dave", "dave-password")


def expect_error(r: httpx.Response, status: int, code: str, *fragments: str) -> str:
    """Assert the status and the `{"errors":[{"code","message"}]}` envelope; return the
    message, which must contain each fragment."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    doc = r.json()
    assert list(doc) == ["errors"]
    assert len(doc["errors"]) == 1
    entry = doc["errors"][0]
    assert {"code", "message"} <= set(entry) <= {"code", "message", "detail"}
    assert entry["code"] == code, entry
    assert isinstance(entry["message"], str) and entry["message"]
    for fragment in fragments:
        assert fragment in entry["message"], (fragment, entry["message"])
    return str(entry["message"])


# A repository the caller may not see answers as one that does not exist. The code was
# NOT_FOUND when the API was written; the repositories rework answers the OCI code.
UNKNOWN_REPOSITORY = ("NOT_FOUND", "NAME_UNKNOWN")


def expect_unknown_repository(r: httpx.Response, name: str) -> None:
    code = r.json()["errors"][0]["code"] if r.status_code == 404 else "?"
    assert code in UNKNOWN_REPOSITORY, r.text
    expect_error(r, 404, code, f"no repository named {name!r}")


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text)
    if status == 204:
        assert r.content == b""
        return None
    assert r.headers["content-type"] == "application/json"
    return r.json()


def visibility(r: httpx.Response) -> tuple[str, str]:
    """A repository document's name and visibility (it may say more)."""
    doc = ok(r)
    return doc["name"], doc["visibility"]


def when(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


def close_to(text: str, expected: datetime, slack: timedelta = timedelta(minutes=1)) -> bool:
    return abs(when(text) - expected) < slack


# -- fixtures -------------------------------------------------------------------------

_HASHES: dict[str, str] = {}
_VERIFIED: dict[tuple[str | None, str], bool] = {}


@pytest.fixture(autouse=True)
def _argon2_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 costs ~0.3 s a call. Both functions are pure, so in this module each
    password is hashed once and each (hash, password) pair verified once: only the
    time changes, never an answer."""

    def hash_once(password: str) -> str:
        if password not in _HASHES:
            _HASHES[password] = passwords.hash_password(password)
        return _HASHES[password]

    def verify_once(stored: str | None, password: str) -> bool:
        key = (stored, password)
        if key not in _VERIFIED:
            _VERIFIED[key] = passwords.verify_password(stored, password)
        return _VERIFIED[key]

    monkeypatch.setattr(accounts_module, "hash_password", hash_once)
    monkeypatch.setattr(access_module, "verify_password", verify_once)


@pytest.fixture
async def users(registry: Registry) -> Registry:
    """alice (administrator), bob and carol; no organisations yet."""
    for name, admin in (("alice", True), ("bob", False), ("carol", False)):
        await registry.accounts.create_user(None, name, f"{name}-password", admin=admin)
    registry.access._has_users = True  # skip the 1 s setup-mode recheck
    return registry


@contextlib.asynccontextmanager
async def acting_as(
    client: httpx.AsyncClient, creds: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client over the same app that sends ``creds`` on every request."""
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://registry", headers=creds
    ) as c:
        yield c


async def add_dave(registry: Registry) -> None:
    await registry.accounts.create_user(None, "dave", "dave-password")


async def make_org(
    client: httpx.AsyncClient, owner: dict[str, str], name: str, **roles: str
) -> None:
    ok(await client.post("/api/v1/orgs", json={"name": name}, headers=owner), 201)
    for user, role in roles.items():
        r = await client.put(
            f"/api/v1/orgs/{name}/members/{user}", json={"role": role}, headers=owner
        )
        ok(r)


async def make_token(
    client: httpx.AsyncClient, creds: dict[str, str], **fields: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = ok(
        await client.post("/api/v1/tokens", json={"name": "t", **fields}, headers=creds), 201
    )
    return doc


# -- authentication -------------------------------------------------------------------


async def test_no_credentials_get_a_basic_challenge(
    client: httpx.AsyncClient, users: Registry
) -> None:
    calls = [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/orgs"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/login-password"),
        ("GET", "/api/v1/repositories/bob/app"),
    ]
    for method, path in calls:
        r = await client.request(method, path)
        expect_error(r, 401, "UNAUTHORIZED")
        assert r.headers["www-authenticate"] == BASIC_CHALLENGE, path
    # An empty Authorization header is no credential either.
    r = await client.get("/api/v1/me", headers={"Authorization": ""})
    expect_error(r, 401, "UNAUTHORIZED")
    assert r.headers["www-authenticate"] == BASIC_CHALLENGE


async def test_bad_credentials_are_refused(client: httpx.AsyncClient, users: Registry) -> None:
    wrong = await client.get("/api/v1/me", headers=basic("bob", "not-bobs-password"))
    expect_error(wrong, 401, "UNAUTHORIZED", "incorrect username or password")
    unknown = await client.get("/api/v1/me", headers=basic("nobody", "not-bobs-password"))
    assert unknown.status_code == 401
    assert unknown.content == wrong.content
    r = await client.get("/api/v1/me", headers={"Authorization": "Basic !!!notbase64"})
    expect_error(r, 401, "UNAUTHORIZED", "malformed Basic credentials")
    r = await client.get("/api/v1/me", headers={"Authorization": "Token abc"})
    expect_error(r, 401, "UNAUTHORIZED", "unsupported authorization scheme")
    r = await client.get("/api/v1/me", headers=bearer("not.a.jwt"))
    expect_error(r, 401, "UNAUTHORIZED", "invalid or expired token")
    r = await client.get("/api/v1/me", headers=basic("bob", "chp_0123456789abcdef_forged"))
    expect_error(r, 401, "UNAUTHORIZED")


async def test_me_for_user_admin_robot_and_token(
    client: httpx.AsyncClient, users: Registry
) -> None:
    assert ok(await client.get("/api/v1/me", headers=BOB)) == {
        "name": "bob",
        "kind": "user",
        "admin": False,
    }
    assert ok(await client.get("/api/v1/me", headers=ALICE)) == {
        "name": "alice",
        "kind": "user",
        "admin": True,
    }
    robot = ok(
        await client.post(
            "/api/v1/namespaces/bob/robots",
            json={"name": "ci", "scopes": ["bob/*:pull"]},
            headers=BOB,
        ),
        201,
    )
    robot_creds = basic("bob+ci", robot["secret"])
    assert ok(await client.get("/api/v1/me", headers=robot_creds)) == {
        "name": "bob+ci",
        "kind": "robot",
        "admin": False,
    }
    token = await make_token(client, ALICE, scopes=["alice/*:pull"])
    me = ok(await client.get("/api/v1/me", headers=basic("alice", token["secret"])))
    assert me == {"name": "alice", "kind": "user", "admin": True}
    # A bearer token from /token speaks for the user who asked for it.
    r = await client.get(
        "/token", params={"service": "cargohold", "scope": "repository:bob/app:pull"}, headers=BOB
    )
    me = ok(await client.get("/api/v1/me", headers=bearer(ok(r)["token"])))
    assert me == {"name": "bob", "kind": "user", "admin": False}


async def test_robots_and_tokens_are_held_to_the_rules(
    client: httpx.AsyncClient, users: Registry
) -> None:
    robot = ok(
        await client.post(
            "/api/v1/namespaces/bob/robots",
            json={"name": "ci", "scopes": ["bob/*:pull,push"]},
            headers=BOB,
        ),
        201,
    )
    as_robot = basic("bob+ci", robot["secret"])
    # A robot is not a user: what needs a user asks it to log in as one.
    for method, path, doc in (
        ("POST", "/api/v1/tokens", {"name": "x"}),
        ("GET", "/api/v1/tokens", None),
        ("POST", "/api/v1/orgs", {"name": "robots-org"}),
        ("GET", "/api/v1/orgs", None),
        ("POST", "/api/v1/namespaces/bob/robots", {"name": "two", "scopes": ["bob/*:pull"]}),
        ("PUT", "/api/v1/repositories/bob/app/visibility", {"visibility": "private"}),
    ):
        r = await client.request(method, path, json=doc, headers=as_robot)
        expect_error(r, 403, "DENIED", "log in as a user")
    # What needs an administrator, or the account itself, is denied.
    expect_error(await client.get("/api/v1/users", headers=as_robot), 403, "DENIED")
    expect_error(await client.get("/api/v1/users/bob", headers=as_robot), 403, "DENIED")
    r = await client.put(
        "/api/v1/users/bob/password", json={"password": "x" * 12}, headers=as_robot
    )
    expect_error(r, 403, "DENIED", "your own password")
    r = await client.post(
        "/api/v1/users", json={"name": "eve", "password": "eve-password"}, headers=as_robot
    )
    expect_error(r, 403, "DENIED", "administrator")

    # A token or a login password cannot mint a token: only a password login can.
    pat = await make_token(client, BOB)
    r = await client.post("/api/v1/tokens", json={"name": "x"}, headers=basic("bob", pat["secret"]))
    expect_error(r, 403, "DENIED", "log in with your password")
    login = ok(await client.post("/api/v1/login-password", json={}, headers=BOB), 201)
    r = await client.post(
        "/api/v1/tokens", json={"name": "x"}, headers=basic("bob", login["password"])
    )
    expect_error(r, 403, "DENIED", "log in with your password")
    # Nor does an administrator's token.
    admin_pat = await make_token(client, ALICE)
    r = await client.post(
        "/api/v1/tokens", json={"name": "x"}, headers=basic("alice", admin_pat["secret"])
    )
    expect_error(r, 403, "DENIED")


# -- users ----------------------------------------------------------------------------


async def test_admin_creates_users_others_may_not(
    client: httpx.AsyncClient, users: Registry
) -> None:
    r = await client.post(
        "/api/v1/users", json={"name": "dave", "password": "dave-password"}, headers=ALICE
    )
    doc = ok(r, 201)
    assert set(doc) == {"name", "admin", "created_at"}
    assert doc["name"] == "dave" and doc["admin"] is False
    assert close_to(doc["created_at"], datetime.now(UTC))
    assert ok(await client.get("/api/v1/me", headers=DAVE))["name"] == "dave"

    r = await client.post(
        "/api/v1/users",
        json={"name": "erin", "password": "erin-password", "admin": True},
        headers=ALICE,
    )
    assert ok(r, 201)["admin"] is True
    me = ok(await client.get("/api/v1/me", headers=basic("erin", "erin-password")))
    assert me["admin"] is True

    r = await client.post(
        "/api/v1/users", json={"name": "frank", "password": "frank-password"}, headers=BOB
    )
    expect_error(r, 403, "DENIED", "only an administrator")
    r = await client.get("/api/v1/users/frank", headers=ALICE)
    expect_error(r, 404, "NOT_FOUND", "frank")


async def test_taken_names_conflict(client: httpx.AsyncClient, users: Registry) -> None:
    await make_org(client, BOB, "acme")
    for name in ("bob", "alice", "acme"):
        r = await client.post(
            "/api/v1/users", json={"name": name, "password": "long-enough"}, headers=ALICE
        )
        expect_error(r, 409, "CONFLICT", f"{name!r} is taken")
    # Organisations share the namespace of names with users.
    for name in ("carol", "acme"):
        r = await client.post("/api/v1/orgs", json={"name": name}, headers=BOB)
        expect_error(r, 409, "CONFLICT", f"{name!r} is taken")


async def test_invalid_user_requests(client: httpx.AsyncClient, users: Registry) -> None:
    async def create(payload: Any = None, content: bytes | None = None) -> httpx.Response:
        if content is not None:
            return await client.post("/api/v1/users", content=content, headers=ALICE)
        return await client.post("/api/v1/users", json=payload, headers=ALICE)

    good = "long-enough"
    for name in ("Bob", "a/b", "", "-dash", "dot.", "a__b", "ünïcode"):
        r = await create({"name": name, "password": good})
        expect_error(r, 400, "INVALID_REQUEST", f"invalid user name {name!r}", "lowercase")
    r = await create({"name": "a" * 65, "password": good})
    expect_error(r, 400, "INVALID_REQUEST", "name:", "64 characters")
    r = await create({"name": "a" * 64, "password": good})
    assert ok(r, 201)["name"] == "a" * 64
    for password in ("", "short", "1234567"):
        r = await create({"name": "dave", "password": password})
        expect_error(r, 400, "INVALID_REQUEST", "a password needs 8 to 1024 characters")
    r = await create({"name": "dave", "password": "x" * 1025})
    expect_error(r, 400, "INVALID_REQUEST", "password:", "1024")
    r = await create({"name": "dave", "password": good, "role": "admin"})
    expect_error(r, 400, "INVALID_REQUEST", "role:", "Extra inputs are not permitted")
    r = await create({"name": "dave"})
    expect_error(r, 400, "INVALID_REQUEST", "password:", "Field required")
    r = await create({"name": 5, "password": good})
    expect_error(r, 400, "INVALID_REQUEST", "name:")
    r = await create({"name": "dave", "password": good, "admin": "sometimes"})
    expect_error(r, 400, "INVALID_REQUEST", "admin:")
    r = await create(content=b'{"name": "dave", "password": ')
    expect_error(r, 400, "INVALID_REQUEST", "invalid request body", "JSON")
    r = await create(content=b"not json at all")
    expect_error(r, 400, "INVALID_REQUEST", "invalid request body")
    r = await create(content=b'["dave", "long-enough"]')
    expect_error(r, 400, "INVALID_REQUEST", "invalid request body")
    r = await create(content=b"")
    expect_error(r, 400, "INVALID_REQUEST", "name:", "password:")
    # None of them made a user.
    names = [u["name"] for u in ok(await client.get("/api/v1/users", headers=ALICE))]
    assert names == ["a" * 64, "alice", "bob", "carol"]


async def test_list_users_is_for_administrators(client: httpx.AsyncClient, users: Registry) -> None:
    doc = ok(await client.get("/api/v1/users", headers=ALICE))
    assert [(u["name"], u["admin"]) for u in doc] == [
        ("alice", True),
        ("bob", False),
        ("carol", False),
    ]
    assert all(set(u) == {"name", "admin", "created_at"} for u in doc)
    expect_error(await client.get("/api/v1/users", headers=BOB), 403, "DENIED")


async def test_get_user_self_and_other(client: httpx.AsyncClient, users: Registry) -> None:
    doc = ok(await client.get("/api/v1/users/bob", headers=BOB))
    assert doc["name"] == "bob" and doc["admin"] is False
    r = await client.get("/api/v1/users/carol", headers=BOB)
    expect_error(r, 403, "DENIED", "your own account")
    # Not even whether someone exists leaks to a non-administrator.
    r = await client.get("/api/v1/users/nobody", headers=BOB)
    expect_error(r, 403, "DENIED", "your own account")
    assert ok(await client.get("/api/v1/users/carol", headers=ALICE))["name"] == "carol"
    expect_error(await client.get("/api/v1/users/nobody", headers=ALICE), 404, "NOT_FOUND")


async def test_delete_user(client: httpx.AsyncClient, users: Registry) -> None:
    assert ok(await client.get("/api/v1/me", headers=CAROL))["name"] == "carol"
    pat = await make_token(client, CAROL)
    expect_error(await client.delete("/api/v1/users/carol", headers=BOB), 403, "DENIED")
    ok(await client.delete("/api/v1/users/carol", headers=ALICE), 204)
    expect_error(await client.get("/api/v1/me", headers=CAROL), 401, "UNAUTHORIZED")
    r = await client.get("/api/v1/me", headers=basic("carol", pat["secret"]))
    expect_error(r, 401, "UNAUTHORIZED")
    expect_error(await client.get("/api/v1/users/carol", headers=ALICE), 404, "NOT_FOUND")
    r = await client.delete("/api/v1/users/carol", headers=ALICE)
    expect_error(r, 404, "NOT_FOUND", "no user named 'carol'")
    names = [u["name"] for u in ok(await client.get("/api/v1/users", headers=ALICE))]
    assert names == ["alice", "bob"]
    # The only owner of an organisation stays until it has another owner.
    await make_org(client, BOB, "acme")
    r = await client.delete("/api/v1/users/bob", headers=ALICE)
    expect_error(r, 409, "CONFLICT", "only owner of 'acme'")
    assert ok(await client.get("/api/v1/me", headers=BOB))["name"] == "bob"


async def test_deleting_a_user_named_like_an_org_leaves_the_org(
    client: httpx.AsyncClient, users: Registry
) -> None:
    """Users and organisations share names; DELETE /users/<org> must not touch the org."""
    await make_org(client, BOB, "acme", carol="reader")
    r = await client.delete("/api/v1/users/acme", headers=ALICE)
    expect_error(r, 404, "NOT_FOUND", "no user named 'acme'")
    orgs = ok(await client.get("/api/v1/orgs", headers=ALICE))
    assert [o["name"] for o in orgs] == ["acme"]
    members = ok(await client.get("/api/v1/orgs/acme/members", headers=BOB))
    assert members == [
        {"username": "bob", "role": "owner"},
        {"username": "carol", "role": "reader"},
    ]


async def test_change_own_password(client: httpx.AsyncClient, users: Registry) -> None:
    assert ok(await client.get("/api/v1/me", headers=BOB))["name"] == "bob"
    login = ok(await client.post("/api/v1/login-password", json={}, headers=BOB), 201)
    pat = await make_token(client, BOB)
    r = await client.put("/api/v1/users/bob/password", json={"password": "short"}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "a password needs 8 to 1024 characters")
    r = await client.put(
        "/api/v1/users/bob/password", json={"pass": "bob-new-password"}, headers=BOB
    )
    expect_error(r, 400, "INVALID_REQUEST", "pass")
    r = await client.put(
        "/api/v1/users/bob/password", json={"password": "bob-new-password"}, headers=BOB
    )
    ok(r, 204)
    expect_error(await client.get("/api/v1/me", headers=BOB), 401, "UNAUTHORIZED")
    new = basic("bob", "bob-new-password")
    assert ok(await client.get("/api/v1/me", headers=new))["name"] == "bob"
    # A login password ends with the password it came from; a token does not.
    r = await client.get("/api/v1/me", headers=basic("bob", login["password"]))
    expect_error(r, 401, "UNAUTHORIZED")
    assert ok(await client.get("/api/v1/me", headers=basic("bob", pat["secret"])))["name"] == "bob"


async def test_change_someone_elses_password(client: httpx.AsyncClient, users: Registry) -> None:
    assert ok(await client.get("/api/v1/me", headers=CAROL))["name"] == "carol"
    r = await client.put(
        "/api/v1/users/carol/password", json={"password": "by-bob-1234"}, headers=BOB
    )
    expect_error(r, 403, "DENIED", "your own password")
    assert ok(await client.get("/api/v1/me", headers=CAROL))["name"] == "carol"
    r = await client.put(
        "/api/v1/users/carol/password", json={"password": "by-alice-1234"}, headers=ALICE
    )
    ok(r, 204)
    expect_error(await client.get("/api/v1/me", headers=CAROL), 401, "UNAUTHORIZED")
    me = ok(await client.get("/api/v1/me", headers=basic("carol", "by-alice-1234")))
    assert me["name"] == "carol"
    r = await client.put(
        "/api/v1/users/nobody/password", json={"password": "by-alice-1234"}, headers=ALICE
    )
    expect_error(r, 404, "NOT_FOUND", "nobody")


# -- organisations ---------------------------------------------------------------------


async def test_create_and_list_orgs(client: httpx.AsyncClient, users: Registry) -> None:
    doc = ok(await client.post("/api/v1/orgs", json={"name": "acme"}, headers=BOB), 201)
    assert set(doc) == {"name", "kind", "default_visibility", "created_at"}
    assert (doc["name"], doc["kind"], doc["default_visibility"]) == ("acme", "org", "public")
    assert close_to(doc["created_at"], datetime.now(UTC))
    members = ok(await client.get("/api/v1/orgs/acme/members", headers=BOB))
    assert members == [{"username": "bob", "role": "owner"}]
    r = await client.post(
        "/api/v1/orgs", json={"name": "carolco", "default_visibility": "private"}, headers=CAROL
    )
    assert ok(r, 201)["default_visibility"] == "private"

    def names(doc: list[dict[str, Any]]) -> list[str]:
        return [o["name"] for o in doc]

    assert names(ok(await client.get("/api/v1/orgs", headers=BOB))) == ["acme"]
    assert names(ok(await client.get("/api/v1/orgs", headers=CAROL))) == ["carolco"]
    all_orgs = ok(await client.get("/api/v1/orgs", headers=ALICE))
    assert names(all_orgs) == ["acme", "carolco"]
    assert {o["kind"] for o in all_orgs} == {"org"}  # user namespaces are not listed
    r = await client.put("/api/v1/orgs/acme/members/carol", json={"role": "reader"}, headers=BOB)
    ok(r)
    assert names(ok(await client.get("/api/v1/orgs", headers=CAROL))) == ["acme", "carolco"]

    for bad in ("Acme", "a/b", "", "x" * 65):
        r = await client.post("/api/v1/orgs", json={"name": bad}, headers=BOB)
        expect_error(r, 400, "INVALID_REQUEST", "name")
    r = await client.post("/api/v1/orgs", json={"name": "Acme"}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "invalid organisation name 'Acme'")
    r = await client.post(
        "/api/v1/orgs", json={"name": "other", "default_visibility": "secret"}, headers=BOB
    )
    expect_error(r, 400, "INVALID_REQUEST", "default_visibility")


async def test_members(client: httpx.AsyncClient, users: Registry) -> None:
    await add_dave(users)
    await make_org(client, BOB, "acme")
    url = "/api/v1/orgs/acme/members"
    r = await client.put(f"{url}/carol", json={"role": "reader"}, headers=BOB)
    assert ok(r) == {"username": "carol", "role": "reader"}
    r = await client.put(f"{url}/carol", json={"role": "maintainer"}, headers=BOB)
    assert ok(r) == {"username": "carol", "role": "maintainer"}
    assert ok(await client.get(url, headers=CAROL)) == [
        {"username": "bob", "role": "owner"},
        {"username": "carol", "role": "maintainer"},
    ]
    r = await client.put(f"{url}/dave", json={"role": "admin"}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "role")
    r = await client.put(f"{url}/dave", json={}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "role")
    # A maintainer is not an owner: members are not its to manage.
    r = await client.put(f"{url}/dave", json={"role": "reader"}, headers=CAROL)
    expect_error(r, 403, "DENIED", "only an owner of 'acme'")
    r = await client.delete(f"{url}/bob", headers=CAROL)
    expect_error(r, 403, "DENIED", "only an owner of 'acme'")
    # Nor may an outsider see them.
    expect_error(await client.get(url, headers=DAVE), 403, "DENIED", "only members")
    r = await client.put(f"{url}/nobody", json={"role": "reader"}, headers=BOB)
    expect_error(r, 404, "NOT_FOUND", "no user named 'nobody'")
    r = await client.put("/api/v1/orgs/nope/members/carol", json={"role": "reader"}, headers=BOB)
    expect_error(r, 404, "NOT_FOUND", "'nope'")
    expect_error(await client.get("/api/v1/orgs/nope/members", headers=BOB), 404, "NOT_FOUND")
    r = await client.put("/api/v1/orgs/bob/members/carol", json={"role": "reader"}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "'bob' is a user, not an organisation")

    # The last owner can be neither removed nor demoted.
    r = await client.delete(f"{url}/bob", headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "at least one owner")
    r = await client.put(f"{url}/bob", json={"role": "maintainer"}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "at least one owner")
    # With a second owner, it can.
    ok(await client.put(f"{url}/dave", json={"role": "owner"}, headers=BOB))
    ok(await client.put(f"{url}/bob", json={"role": "reader"}, headers=BOB))
    r = await client.put(f"{url}/carol", json={"role": "reader"}, headers=BOB)
    expect_error(r, 403, "DENIED")  # bob is a reader now
    ok(await client.delete(f"{url}/carol", headers=DAVE), 204)
    assert ok(await client.get(url, headers=DAVE)) == [
        {"username": "bob", "role": "reader"},
        {"username": "dave", "role": "owner"},
    ]
    r = await client.delete(f"{url}/nobody", headers=DAVE)
    expect_error(r, 404, "NOT_FOUND", "no user named 'nobody'")
    # An administrator manages any organisation.
    ok(await client.put(f"{url}/carol", json={"role": "owner"}, headers=ALICE))
    ok(await client.delete(f"{url}/dave", headers=ALICE), 204)
    assert [m["username"] for m in ok(await client.get(url, headers=ALICE))] == ["bob", "carol"]


async def test_delete_org(client: httpx.AsyncClient, users: Registry) -> None:
    await make_org(client, BOB, "acme", carol="maintainer")
    r = await client.delete("/api/v1/orgs/acme", headers=CAROL)
    expect_error(r, 403, "DENIED", "only an owner of 'acme'")
    ok(await client.delete("/api/v1/orgs/acme", headers=BOB), 204)
    assert ok(await client.get("/api/v1/orgs", headers=BOB)) == []
    assert ok(await client.get("/api/v1/orgs", headers=ALICE)) == []
    expect_error(await client.get("/api/v1/orgs/acme/members", headers=BOB), 404, "NOT_FOUND")
    r = await client.delete("/api/v1/orgs/acme", headers=ALICE)
    expect_error(r, 404, "NOT_FOUND", "no organisation named 'acme'")
    # A user's own namespace is not an organisation.
    r = await client.delete("/api/v1/orgs/bob", headers=BOB)
    expect_error(r, 404, "NOT_FOUND", "no organisation named 'bob'")
    # The name is free again.
    ok(await client.post("/api/v1/orgs", json={"name": "acme"}, headers=CAROL), 201)


# -- namespaces -------------------------------------------------------------------------


async def test_default_visibility_applies_to_new_repositories(
    client: httpx.AsyncClient, users: Registry
) -> None:
    async with acting_as(client, BOB) as as_bob:
        old = await push_blob(as_bob, "bob/old", b"pushed while bob was public")
        r = await as_bob.patch("/api/v1/namespaces/bob", json={"default_visibility": "private"})
        ok(r, 204)
        new = await push_blob(as_bob, "bob/new", b"pushed once bob went private")

    # Anonymous: the new repository is private, the earlier one stays public.
    r = await client.get(f"/v2/bob/new/blobs/{new}")
    expect_error(r, 401, "UNAUTHORIZED")
    assert (await client.get(f"/v2/bob/old/blobs/{old}")).status_code == 200
    r = await client.get("/api/v1/repositories/bob/new", headers=BOB)
    assert visibility(r) == ("bob/new", "private")
    r = await client.get("/api/v1/repositories/bob/old", headers=BOB)
    assert visibility(r) == ("bob/old", "public")
    assert (await client.get(f"/v2/bob/new/blobs/{new}", headers=BOB)).status_code == 200
    hidden = await client.get("/api/v1/repositories/bob/new", headers=CAROL)
    expect_unknown_repository(hidden, "bob/new")

    # And back: later repositories are public again, bob/new stays private.
    ok(
        await client.patch(
            "/api/v1/namespaces/bob", json={"default_visibility": "public"}, headers=BOB
        ),
        204,
    )
    async with acting_as(client, BOB) as as_bob:
        later = await push_blob(as_bob, "bob/later", b"pushed once bob was public again")
    assert (await client.get(f"/v2/bob/later/blobs/{later}")).status_code == 200
    assert (await client.get(f"/v2/bob/new/blobs/{new}")).status_code == 401


async def test_namespace_update_rules(client: httpx.AsyncClient, users: Registry) -> None:
    await make_org(client, BOB, "acme", carol="maintainer")
    private = {"default_visibility": "private"}
    r = await client.patch("/api/v1/namespaces/bob", json=private, headers=CAROL)
    expect_error(r, 403, "DENIED", "only an owner of 'bob'")
    r = await client.patch("/api/v1/namespaces/acme", json=private, headers=CAROL)
    expect_error(r, 403, "DENIED", "only an owner of 'acme'")
    ok(await client.patch("/api/v1/namespaces/acme", json=private, headers=BOB), 204)
    orgs = ok(await client.get("/api/v1/orgs", headers=BOB))
    assert orgs[0]["default_visibility"] == "private"
    ok(await client.patch("/api/v1/namespaces/carol", json=private, headers=ALICE), 204)
    r = await client.patch("/api/v1/namespaces/nope", json=private, headers=ALICE)
    expect_error(r, 404, "NOT_FOUND", "no user or organisation named 'nope'")
    r = await client.patch(
        "/api/v1/namespaces/bob", json={"default_visibility": "hidden"}, headers=BOB
    )
    expect_error(r, 400, "INVALID_REQUEST", "default_visibility")
    r = await client.patch("/api/v1/namespaces/bob", json={}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "default_visibility", "Field required")


# -- tokens ---------------------------------------------------------------------------


async def test_token_is_shown_once_and_narrowed_by_its_scopes(
    client: httpx.AsyncClient, users: Registry
) -> None:
    async with acting_as(client, BOB) as as_bob:
        await push_image(as_bob, "bob/app", "v1")
    created = await make_token(client, BOB, name="ci", scopes=["bob/app:pull"], expires_in_days=30)
    assert set(created) == {
        "id",
        "name",
        "kind",
        "scopes",
        "created_at",
        "expires_at",
        "revoked_at",
        "secret",
    }
    assert created["secret"].startswith("chp_")
    assert created["id"] in created["secret"]
    assert (created["name"], created["kind"], created["scopes"]) == ("ci", "pat", ["bob/app:pull"])
    assert created["revoked_at"] is None
    assert close_to(created["expires_at"], datetime.now(UTC) + timedelta(days=30))

    listed = ok(await client.get("/api/v1/tokens", headers=BOB))
    assert len(listed) == 1
    assert listed[0]["secret"] is None
    assert created["secret"] not in json.dumps(listed)
    same = ("id", "name", "kind", "scopes", "revoked_at")
    assert [listed[0][k] for k in same] == [created[k] for k in same]
    assert when(listed[0]["created_at"]) == when(created["created_at"])
    assert when(listed[0]["expires_at"]) == when(created["expires_at"])
    assert ok(await client.get("/api/v1/tokens", headers=CAROL)) == []

    token = basic("bob", created["secret"])
    assert (await client.get("/v2/bob/app/manifests/v1", headers=token)).status_code == 200
    r = await client.post("/v2/bob/app/blobs/uploads/", headers=token)
    expect_error(r, 403, "DENIED", "(bob/app:pull,push)")
    r = await client.get("/v2/bob/other/tags/list", headers=token)
    expect_error(r, 403, "DENIED")
    r = await client.delete("/v2/bob/app/manifests/v1", headers=token)
    expect_error(r, 403, "DENIED", "(bob/app:delete)")

    # Several scopes, wildcards, and actions in any order.
    wide = await make_token(client, BOB, scopes=["bob/*:push,pull", "acme/app:pull"])
    assert wide["scopes"] == ["bob/*:pull,push", "acme/app:pull"]
    assert wide["expires_at"] is None
    async with acting_as(client, basic("bob", wide["secret"])) as with_token:
        await push_blob(with_token, "bob/other", b"pushed with a token")
    # No scopes: all of bob's rights (and no more).
    full = await make_token(client, BOB)
    assert full["scopes"] is None
    r = await client.post("/v2/bob/third/blobs/uploads/", headers=basic("bob", full["secret"]))
    assert r.status_code == 202
    r = await client.post("/v2/carol/app/blobs/uploads/", headers=basic("bob", full["secret"]))
    expect_error(r, 403, "DENIED")


async def test_invalid_token_requests(client: httpx.AsyncClient, users: Registry) -> None:
    for scope in ("bob/app", "bob/app:", "bob/app:,", ":pull", "Bob/app:pull", "/x:pull"):
        r = await client.post("/api/v1/tokens", json={"name": "t", "scopes": [scope]}, headers=BOB)
        expect_error(r, 400, "INVALID_REQUEST", f"invalid scope {scope!r}")
    r = await client.post(
        "/api/v1/tokens", json={"name": "t", "scopes": ["bob/app:pull,fly"]}, headers=BOB
    )
    expect_error(r, 400, "INVALID_REQUEST", "unknown action 'fly'")
    r = await client.post(
        "/api/v1/tokens", json={"name": "t", "scopes": "bob/app:pull"}, headers=BOB
    )
    expect_error(r, 400, "INVALID_REQUEST", "scopes")
    for days in (0, -1, 3651):
        r = await client.post(
            "/api/v1/tokens", json={"name": "t", "expires_in_days": days}, headers=BOB
        )
        expect_error(r, 400, "INVALID_REQUEST", "expires_in_days")
    r = await client.post("/api/v1/tokens", json={"name": ""}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "a token needs a name")
    r = await client.post("/api/v1/tokens", json={}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "name:", "Field required")
    r = await client.post("/api/v1/tokens", json={"name": "t", "owner": "carol"}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "owner")
    assert ok(await client.get("/api/v1/tokens", headers=BOB)) == []


async def test_revoke_token(client: httpx.AsyncClient, users: Registry) -> None:
    created = await make_token(client, BOB)
    token = basic("bob", created["secret"])
    assert ok(await client.get("/api/v1/me", headers=token))["name"] == "bob"
    # Someone else's token is not there, as far as carol can tell.
    r = await client.delete(f"/api/v1/tokens/{created['id']}", headers=CAROL)
    unknown = expect_error(r, 404, "NOT_FOUND")
    r = await client.delete("/api/v1/tokens/0123456789abcdef", headers=CAROL)
    assert expect_error(r, 404, "NOT_FOUND") == unknown.replace(created["id"], "0123456789abcdef")
    assert ok(await client.get("/api/v1/me", headers=token))["name"] == "bob"

    ok(await client.delete(f"/api/v1/tokens/{created['id']}", headers=BOB), 204)
    expect_error(await client.get("/api/v1/me", headers=token), 401, "UNAUTHORIZED")
    expect_error(await client.get("/v2/", headers=token), 401, "UNAUTHORIZED")
    listed = ok(await client.get("/api/v1/tokens", headers=BOB))
    assert [t["id"] for t in listed] == [created["id"]]
    assert close_to(listed[0]["revoked_at"], datetime.now(UTC))

    # An administrator sees and revokes anyone's; others see only their own.
    other = await make_token(client, BOB, name="other")
    listed = ok(await client.get("/api/v1/tokens", params={"owner": "bob"}, headers=ALICE))
    assert [t["name"] for t in listed] == ["t", "other"]
    r = await client.get("/api/v1/tokens", params={"owner": "bob"}, headers=CAROL)
    expect_error(r, 403, "DENIED")
    ok(await client.delete(f"/api/v1/tokens/{other['id']}", headers=ALICE), 204)
    r = await client.get("/api/v1/me", headers=basic("bob", other["secret"]))
    expect_error(r, 401, "UNAUTHORIZED")


async def test_expired_token_fails(client: httpx.AsyncClient, users: Registry) -> None:
    now = datetime.now(UTC)
    new = sec.new_secret("pat")
    await users.account_store.add_credential(
        CredentialRecord(
            id=new.id,
            kind="pat",
            owner="bob",
            name="old",
            secret_digest=new.digest,
            scopes=(ScopeGrant("bob/*", ("pull", "push")),),
            created_at=now - timedelta(days=2),
            expires_at=now - timedelta(seconds=1),
            revoked_at=None,
            parent_id=None,
        )
    )
    creds = basic("bob", new.text)
    expect_error(await client.get("/api/v1/me", headers=creds), 401, "UNAUTHORIZED")
    expect_error(await client.get("/v2/", headers=creds), 401, "UNAUTHORIZED")
    r = await client.post("/v2/bob/app/blobs/uploads/", headers=creds)
    expect_error(r, 401, "UNAUTHORIZED")
    listed = ok(await client.get("/api/v1/tokens", headers=BOB))
    assert [(t["name"], t["scopes"]) for t in listed] == [("old", ["bob/*:pull,push"])]
    assert when(listed[0]["expires_at"]) < datetime.now(UTC)


# -- login passwords ------------------------------------------------------------------


async def test_login_password(client: httpx.AsyncClient, users: Registry) -> None:
    doc = ok(await client.post("/api/v1/login-password", json={}, headers=BOB), 201)
    assert set(doc) == {"username", "password", "expires_at"}
    assert doc["username"] == "bob"
    assert doc["password"].startswith("chl_")
    assert close_to(doc["expires_at"], datetime.now(UTC) + timedelta(hours=12))
    login = basic("bob", doc["password"])
    assert ok(await client.get("/api/v1/me", headers=login))["name"] == "bob"
    assert (await client.get("/v2/", headers=login)).status_code == 200
    # No body at all is the same as {}.
    doc2 = ok(await client.post("/api/v1/login-password", headers=BOB), 201)
    assert close_to(doc2["expires_at"], datetime.now(UTC) + timedelta(hours=12))

    short = ok(
        await client.post("/api/v1/login-password", json={"ttl_seconds": 600}, headers=BOB), 201
    )
    assert close_to(short["expires_at"], datetime.now(UTC) + timedelta(minutes=10))
    # Longer than the limit is the limit.
    long = ok(
        await client.post("/api/v1/login-password", json={"ttl_seconds": 10**7}, headers=BOB), 201
    )
    assert close_to(long["expires_at"], datetime.now(UTC) + timedelta(hours=12))
    for ttl in (59, 0, -5):
        r = await client.post("/api/v1/login-password", json={"ttl_seconds": ttl}, headers=BOB)
        expect_error(r, 400, "INVALID_REQUEST", "ttl_seconds")
    r = await client.post("/api/v1/login-password", json={"ttl": 600}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "ttl")

    listed = ok(await client.get("/api/v1/tokens", headers=BOB))
    assert [t["kind"] for t in listed] == ["login"] * 4
    assert {t["name"] for t in listed} == {"login password"}
    assert all(t["secret"] is None for t in listed)
    by_id = {t["id"]: t for t in listed}
    short_id = short["password"].split("_")[1]
    assert when(by_id[short_id]["expires_at"]) == when(short["expires_at"])
    # Revoked like any token.
    ok(await client.delete(f"/api/v1/tokens/{short_id}", headers=BOB), 204)
    r = await client.get("/api/v1/me", headers=basic("bob", short["password"]))
    expect_error(r, 401, "UNAUTHORIZED")


async def test_login_password_from_a_token_keeps_its_limits(
    client: httpx.AsyncClient, users: Registry
) -> None:
    pat = await make_token(client, BOB, scopes=["bob/app:pull"], expires_in_days=1)
    r = await client.post("/api/v1/login-password", json={}, headers=basic("bob", pat["secret"]))
    doc = ok(r, 201)
    # No longer than the token it came from, and no more rights.
    assert when(doc["expires_at"]) <= when(pat["expires_at"])
    login = basic("bob", doc["password"])
    r = await client.post("/v2/bob/app/blobs/uploads/", headers=login)
    expect_error(r, 403, "DENIED")
    ok(await client.delete(f"/api/v1/tokens/{pat['id']}", headers=BOB), 204)
    expect_error(await client.get("/api/v1/me", headers=login), 401, "UNAUTHORIZED")


# -- robots ---------------------------------------------------------------------------


async def test_robots(client: httpx.AsyncClient, users: Registry) -> None:
    await make_org(client, BOB, "acme", carol="maintainer")
    url = "/api/v1/namespaces/acme/robots"
    r = await client.post(
        url,
        json={"name": "ci", "scopes": ["acme/app:pull,push"], "description": "CI pushes app"},
        headers=BOB,
    )
    robot = ok(r, 201)
    assert robot["name"] == "acme+ci"
    assert robot["namespace"] == "acme"
    assert robot["description"] == "CI pushes app"
    assert robot["scopes"] == ["acme/app:pull,push"]
    assert robot["secret"].startswith("chr_")
    assert robot["expires_at"] is None and robot["revoked_at"] is None
    timed = ok(
        await client.post(
            url,
            json={"name": "nightly", "scopes": ["acme/*:pull"], "expires_in_days": 7},
            headers=BOB,
        ),
        201,
    )
    assert close_to(timed["expires_at"], datetime.now(UTC) + timedelta(days=7))

    listed = ok(await client.get(url, headers=BOB))
    assert [x["name"] for x in listed] == ["acme+ci", "acme+nightly"]
    assert all(x["secret"] is None for x in listed)
    assert listed[0]["scopes"] == ["acme/app:pull,push"]
    assert listed[0]["description"] == "CI pushes app"

    creds = basic("acme+ci", robot["secret"])
    async with acting_as(client, creds) as as_robot:
        await push_blob(as_robot, "acme/app", b"pushed by a robot")
    r = await client.post("/v2/acme/other/blobs/uploads/", headers=creds)
    expect_error(r, 403, "DENIED")
    r = await client.post("/v2/bob/app/blobs/uploads/", headers=creds)
    expect_error(r, 403, "DENIED")

    r = await client.post(url, json={"name": "ci", "scopes": ["acme/*:pull"]}, headers=BOB)
    expect_error(r, 409, "CONFLICT", "'acme+ci'")
    for scopes in (["bob/*:pull"], ["acme*:pull"], ["acme-other/x:pull"], ["*:pull"]):
        r = await client.post(url, json={"name": "x", "scopes": scopes}, headers=BOB)
        expect_error(r, 400, "INVALID_REQUEST")
    r = await client.post(url, json={"name": "x", "scopes": ["bob/*:pull"]}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "outside the namespace 'acme'")
    r = await client.post(url, json={"name": "x", "scopes": []}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "at least one scope")
    r = await client.post(url, json={"name": "x"}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "scopes")
    r = await client.post(url, json={"name": "CI", "scopes": ["acme/*:pull"]}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "invalid robot name 'CI'")
    r = await client.post(url, json={"name": "a+b", "scopes": ["acme/*:pull"]}, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "invalid robot name")
    r = await client.post(
        "/api/v1/namespaces/nope/robots", json={"name": "x", "scopes": ["nope/*:pull"]}, headers=BOB
    )
    expect_error(r, 404, "NOT_FOUND")

    # A maintainer is not an owner: robots are not its to manage.
    r = await client.post(url, json={"name": "x", "scopes": ["acme/*:pull"]}, headers=CAROL)
    expect_error(r, 403, "DENIED", "only an owner of 'acme'")
    expect_error(await client.get(url, headers=CAROL), 403, "DENIED")
    expect_error(await client.delete("/api/v1/robots/acme+ci", headers=CAROL), 403, "DENIED")

    ok(await client.delete("/api/v1/robots/acme+ci", headers=BOB), 204)
    expect_error(await client.get("/api/v1/me", headers=creds), 401, "UNAUTHORIZED")
    expect_error(await client.get("/v2/", headers=creds), 401, "UNAUTHORIZED")
    r = await client.delete("/api/v1/robots/acme+ci", headers=BOB)
    expect_error(r, 404, "NOT_FOUND", "no robot named 'acme+ci'")
    assert [x["name"] for x in ok(await client.get(url, headers=BOB))] == ["acme+nightly"]
    # The name can be used again, with a new secret.
    again = ok(
        await client.post(url, json={"name": "ci", "scopes": ["acme/*:pull"]}, headers=BOB), 201
    )
    assert again["secret"] != robot["secret"]
    expect_error(await client.get("/api/v1/me", headers=creds), 401, "UNAUTHORIZED")


# -- repositories ---------------------------------------------------------------------


async def test_repository_visibility(client: httpx.AsyncClient, users: Registry) -> None:
    await add_dave(users)
    await make_org(client, BOB, "acme", carol="maintainer")
    async with acting_as(client, BOB) as as_bob:
        secret = await push_blob(as_bob, "acme/secret", b"secret layer")
        await push_blob(as_bob, "acme/open", b"open layer")

    r = await client.put(
        "/api/v1/repositories/acme/secret/visibility", json={"visibility": "private"}, headers=BOB
    )
    assert visibility(r) == ("acme/secret", "private")
    r = await client.get("/api/v1/repositories/acme/secret", headers=BOB)
    assert visibility(r) == ("acme/secret", "private")
    r = await client.get("/api/v1/repositories/acme/open", headers=BOB)
    assert visibility(r) == ("acme/open", "public")
    assert (await client.get(f"/v2/acme/secret/blobs/{secret}")).status_code == 401

    # An outsider cannot tell a private repository from one that does not exist.
    hidden = await client.get("/api/v1/repositories/acme/secret", headers=DAVE)
    missing = await client.get("/api/v1/repositories/acme/nothing", headers=DAVE)
    expect_unknown_repository(hidden, "acme/secret")
    expect_unknown_repository(missing, "acme/nothing")
    assert hidden.text.replace("acme/secret", "acme/nothing") == missing.text
    assert hidden.headers.get("www-authenticate") == missing.headers.get("www-authenticate")
    r = await client.get("/api/v1/repositories/acme/open", headers=DAVE)
    assert visibility(r) == ("acme/open", "public")
    r = await client.put(
        "/api/v1/repositories/acme/secret/visibility", json={"visibility": "public"}, headers=DAVE
    )
    expect_error(r, 403, "DENIED", "acme/secret")

    # A maintainer may change it, a reader may only look.
    r = await client.put(
        "/api/v1/repositories/acme/open/visibility", json={"visibility": "private"}, headers=CAROL
    )
    assert visibility(r) == ("acme/open", "private")
    ok(await client.put("/api/v1/orgs/acme/members/dave", json={"role": "reader"}, headers=BOB))
    r = await client.get("/api/v1/repositories/acme/open", headers=DAVE)
    assert visibility(r) == ("acme/open", "private")
    r = await client.put(
        "/api/v1/repositories/acme/open/visibility", json={"visibility": "public"}, headers=DAVE
    )
    expect_error(r, 403, "DENIED", "may not change the visibility of 'acme/open'")
    # An administrator may.
    r = await client.put(
        "/api/v1/repositories/acme/secret/visibility", json={"visibility": "public"}, headers=ALICE
    )
    assert ok(r)["visibility"] == "public"
    assert (await client.get(f"/v2/acme/secret/blobs/{secret}")).status_code == 200

    r = await client.put(
        "/api/v1/repositories/acme/open/visibility", json={"visibility": "hidden"}, headers=BOB
    )
    expect_error(r, 400, "INVALID_REQUEST", "visibility")
    r = await client.get("/api/v1/repositories/ACME/open", headers=BOB)
    expect_error(r, 400, "NAME_INVALID")


# -- routing --------------------------------------------------------------------------


async def test_unknown_paths_and_methods(client: httpx.AsyncClient, users: Registry) -> None:
    for path in ("/api/v1/nope", "/api/v1/users/bob/nope", "/api/v1/orgs/", "/api/v1/"):
        r = await client.get(path, headers=BOB)
        expect_error(r, 404, "UNSUPPORTED", "no such endpoint")
    expect_error(await client.get("/api/v1/nope"), 404, "UNSUPPORTED")  # before auth
    r = await client.put("/api/v1/me", headers=BOB)
    expect_error(r, 405, "UNSUPPORTED", "method PUT", "use GET")
    r = await client.delete("/api/v1/tokens", headers=BOB)
    expect_error(r, 405, "UNSUPPORTED", "POST", "GET")
    r = await client.post("/api/v1/users/bob", headers=BOB)
    expect_error(r, 405, "UNSUPPORTED", "GET", "DELETE")
    r = await client.patch("/api/v1/orgs/acme/members/bob", headers=BOB)
    expect_error(r, 405, "UNSUPPORTED", "PUT", "DELETE")


async def test_405_lists_the_allowed_methods(client: httpx.AsyncClient, users: Registry) -> None:
    r = await client.delete("/api/v1/tokens", headers=BOB)
    assert r.status_code == 405
    assert {m.strip() for m in r.headers.get("allow", "").split(",")} == {"POST", "GET"}


async def test_request_body_limit(client: httpx.AsyncClient, users: Registry) -> None:
    big = json.dumps({"name": "t", "scopes": ["bob/app:pull"] * 5000}).encode()
    assert len(big) > 64 * 1024
    r = await client.post("/api/v1/tokens", content=big, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "request body too large")
    padded = b'{"name": "t"' + b" " * (64 * 1024) + b"}"
    r = await client.post("/api/v1/tokens", content=padded, headers=BOB)
    expect_error(r, 400, "INVALID_REQUEST", "request body too large")
    # Just under the limit is read (and judged on its content).
    fits = b'{"name": "t"' + b" " * (64 * 1024 - 20) + b"}"
    assert len(fits) <= 64 * 1024
    ok(await client.post("/api/v1/tokens", content=fits, headers=BOB), 201)
    assert ok(await client.get("/api/v1/tokens", headers=BOB))[0]["name"] == "t"


# -- OpenAPI --------------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


async def test_openapi_document(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/openapi.json")  # needs no credentials
    doc = ok(r)
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]
    schemas = doc["components"]["schemas"]

    listed = {(path, method) for path, ops in paths.items() for method in ops}
    expected = {(PREFIX + route.path, route.method.lower()) for route in API}
    assert listed == expected
    operation_ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids)) == len(API)

    refs = list(_refs(doc))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref

    for route in API:
        op = paths[PREFIX + route.path][route.method.lower()]
        assert op["summary"] == route.summary
        assert op["operationId"] == route.handler.__name__
        params = re.findall(r"\{(\w+)\}", route.path)
        assert [p["name"] for p in op["parameters"]] == params
        assert all(p["in"] == "path" and p["required"] for p in op["parameters"])
        if route.request is None:
            assert "requestBody" not in op, route.path
        else:
            body = op["requestBody"]
            assert body["required"] is True
            schema = body["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{route.request.__name__}"}
            component = schemas[route.request.__name__]
            assert set(component["properties"]) == set(route.request.model_fields)
            required = {n for n, f in route.request.model_fields.items() if f.is_required()}
            assert set(component.get("required", [])) == required
            assert component.get("additionalProperties") is False  # unknown fields: 400
        success = op["responses"][str(route.status)]
        if route.response is None:
            assert "content" not in success, route.path
        else:
            schema = success["content"]["application/json"]["schema"]
            target = {"$ref": f"#/components/schemas/{route.response.__name__}"}
            assert schema == ({"type": "array", "items": target} if route.many else target)
            component = schemas[route.response.__name__]
            assert set(component["properties"]) == set(route.response.model_fields)
        for status in ("401", "403"):
            error = op["responses"][status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Errors"}
    assert schemas["Errors"]["properties"]["errors"]["items"]["required"] == ["code", "message"]
    assert set(doc["components"]["securitySchemes"]) == {"basic", "bearer"}
    ttl = schemas["LoginPasswordRequest"]["properties"]["ttl_seconds"]
    assert '"minimum": 60' in json.dumps(ttl)

    # The documented body is the one each handler parses, and the wiring is as meant.
    for route in API:
        source = inspect.getsource(route.handler)
        if route.request is None:
            assert "body(request" not in source, route.handler.__name__
        else:
            assert f"body(request, m.{route.request.__name__})" in source
    bodies = {
        (p, method): op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for p, ops in paths.items()
        for method, op in ops.items()
        if "requestBody" in op
    }
    # (The API grows; these are the bodies this module exercises.)
    documented = {k: v.rsplit("/", 1)[1] for k, v in bodies.items()}
    assert (
        documented.items()
        >= {
            ("/api/v1/users", "post"): "UserCreate",
            ("/api/v1/users/{user}/password", "put"): "PasswordChange",
            ("/api/v1/orgs", "post"): "OrgCreate",
            ("/api/v1/orgs/{org}/members/{user}", "put"): "MemberSet",
            ("/api/v1/namespaces/{namespace}", "patch"): "NamespaceUpdate",
            ("/api/v1/namespaces/{namespace}/robots", "post"): "RobotCreate",
            ("/api/v1/tokens", "post"): "TokenCreate",
            ("/api/v1/login-password", "post"): "LoginPasswordRequest",
            ("/api/v1/repositories/{name}/visibility", "put"): "RepositoryVisibility",
        }.items()
    )


# -- findings: rules that do not hold ----------------------------------------------------


async def test_a_pull_token_cannot_mint_a_personal_access_token(
    client: httpx.AsyncClient, users: Registry
) -> None:
    r = await client.get(
        "/token", params={"service": "cargohold", "scope": "repository:bob/app:pull"}, headers=BOB
    )
    token = ok(r)["token"]
    r = await client.post("/api/v1/tokens", json={"name": "escalated"}, headers=bearer(token))
    assert r.status_code in (401, 403), (r.status_code, r.text)


async def test_a_scoped_token_cannot_mint_a_broader_robot(
    client: httpx.AsyncClient, users: Registry
) -> None:
    pat = await make_token(client, BOB, scopes=["bob/app:pull"])
    r = await client.post(
        "/api/v1/namespaces/bob/robots",
        json={"name": "x", "scopes": ["bob/*:pull,push,delete"]},
        headers=basic("bob", pat["secret"]),
    )
    expect_error(r, 403, "DENIED")


async def test_a_scoped_token_cannot_change_the_password(
    client: httpx.AsyncClient, users: Registry
) -> None:
    pat = await make_token(client, BOB, scopes=["bob/app:pull"])
    r = await client.put(
        "/api/v1/users/bob/password",
        json={"password": "taken-over-1234"},
        headers=basic("bob", pat["secret"]),
    )
    expect_error(r, 403, "DENIED")


async def test_a_robot_refused_a_user_operation_gets_403_or_a_challenge(
    client: httpx.AsyncClient, users: Registry
) -> None:
    r = await client.post(
        "/api/v1/namespaces/bob/robots",
        json={"name": "ci", "scopes": ["bob/*:pull"]},
        headers=BOB,
    )
    as_robot = basic("bob+ci", ok(r, 201)["secret"])
    r = await client.post("/api/v1/tokens", json={"name": "x"}, headers=as_robot)
    if r.status_code == 401:
        assert "www-authenticate" in r.headers
    else:
        expect_error(r, 403, "DENIED")
