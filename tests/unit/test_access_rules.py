"""Who may log in, and what they may then do: `Access` and `Accounts` on a real store.

Both run against a `SqlAccountStore` on a temporary SQLite file; principals are built
directly where a login would add nothing but argon2 time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import anyio
import pytest

from cargohold.auth import secrets as sec
from cargohold.auth.passwords import hash_password
from cargohold.config import AuthSettings, RepositoryPolicySettings
from cargohold.core.access import ALL_ACTIONS, ANONYMOUS, Access, Principal
from cargohold.core.accounts import Accounts, IssuedSecret
from cargohold.core.repositories import Repositories
from cargohold.errors import (
    Conflict,
    Denied,
    RequestInvalid,
    ResourceUnknown,
    TooManyRequests,
    Unauthorized,
)
from cargohold.metadata.accounts import CredentialRecord, RobotRecord, ScopeGrant, UserRecord
from cargohold.metadata.accounts_sql import SqlAccountStore
from cargohold.metadata.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio

PASSWORD = "the same password for all"
NEW_PASSWORD = "a brand new password"
ADDR = "192.0.2.1"
DIGEST = "sha256:" + "a" * 64
PULL = frozenset({"pull"})
NOTHING: frozenset[str] = frozenset()


@cache
def _password_hash() -> str:
    """Every test user shares one argon2 hash: each costs a good part of a second."""
    return hash_password(PASSWORD)


@dataclass
class World:
    base: SqlMetadataStore
    store: SqlAccountStore
    access: Access
    accounts: Accounts

    def fresh(self, **auth: Any) -> World:
        """New services on the same database, with these auth settings."""
        return _world(self.base, self.store, **auth)

    async def user(self, name: str, *, admin: bool = False) -> Principal:
        """A user whose password is PASSWORD, and the principal of a password login."""
        now = datetime.now(UTC)
        user = UserRecord(name, _password_hash(), admin, now, now)
        assert await self.store.create_user(user, default_private=False)
        return Principal("user", name, admin, None, "password")

    async def repository(self, name: str, *, private: bool | None) -> None:
        """A repository that exists, with its visibility set (None: never set)."""
        await self.base.link_blob(name, DIGEST, 1)
        if private is not None:
            await self.store.set_repository_private(name, private, only_new=False)

    async def login(self, username: str, password: str) -> Principal:
        return await self.access.login(username, password, ADDR)

    async def robot(
        self, owner: Principal, namespace: str, short: str, scopes: list[str]
    ) -> tuple[IssuedSecret, Principal]:
        """A robot made through `Accounts`, and the principal of its login."""
        issued = await self.accounts.create_robot(owner, namespace, short, scopes, None)
        return issued, await self.login(issued.username, issued.secret)


def _world(base: SqlMetadataStore, store: SqlAccountStore, **auth: Any) -> World:
    settings = AuthSettings(**auth)
    access = Access(store, base, settings)
    return World(base, store, access, Accounts(store, access, settings))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    base = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    await base.create_schema()
    yield _world(base, SqlAccountStore(base))
    await base.close()


def _grants(*items: str) -> tuple[ScopeGrant, ...]:
    out = []
    for item in items:
        pattern, _, actions = item.rpartition(":")
        out.append(ScopeGrant(pattern, tuple(actions.split(","))))
    return tuple(out)


# -- setup mode --------------------------------------------------------------------------


async def test_setup_mode_until_the_first_user(world: World) -> None:
    assert await world.access.setup_mode()
    assert await world.access.actions(ANONYMOUS, "any/repo") == ALL_ACTIONS
    assert await world.access.may_list_catalog(ANONYMOUS)
    await world.user("alice")
    # The first Access looks again only after a second; a new one looks at once.
    later = world.fresh()
    assert not await later.access.setup_mode()
    assert await later.access.actions(ANONYMOUS, "any/repo") == NOTHING
    assert await later.access.actions(ANONYMOUS, "alice/app") == NOTHING


# -- authorisation -----------------------------------------------------------------------


async def test_a_user_owns_the_namespace_of_its_name(world: World) -> None:
    alice = await world.user("alice")
    bob = await world.user("bob")
    root = await world.user("root", admin=True)
    await world.repository("alice/secret", private=True)
    for repo in ("alice/app", "alice/deep/app", "alice/secret"):
        assert await world.access.actions(alice, repo) == ALL_ACTIONS
        assert await world.access.actions(root, repo) == ALL_ACTIONS
        assert await world.access.actions(bob, repo) == NOTHING
    # A name that merely starts with the user's is someone else's namespace.
    assert await world.access.actions(alice, "alicex/app") == NOTHING
    assert await world.access.actions(bob, "bob/app") == ALL_ACTIONS


async def test_organisation_roles(world: World) -> None:
    alice = await world.user("alice")
    users = {n: await world.user(n) for n in ("bob", "carol", "dave", "erin")}
    await world.accounts.create_org(alice, "acme")
    await world.accounts.set_member(alice, "acme", "bob", "maintainer")
    await world.accounts.set_member(alice, "acme", "carol", "reader")
    await world.accounts.set_member(alice, "acme", "erin", "owner")
    await world.repository("acme/app", private=True)

    assert await world.access.actions(alice, "acme/app") == ALL_ACTIONS
    assert await world.access.actions(users["erin"], "acme/app") == ALL_ACTIONS
    assert await world.access.actions(users["bob"], "acme/app") == ALL_ACTIONS
    assert await world.access.actions(users["carol"], "acme/app") == PULL
    assert await world.access.actions(users["dave"], "acme/app") == NOTHING
    assert await world.access.actions(ANONYMOUS, "acme/app") == NOTHING
    # Roles hold for repositories not pushed yet too.
    assert await world.access.actions(users["bob"], "acme/new") == ALL_ACTIONS

    await world.accounts.set_member(alice, "acme", "bob", None)
    assert await world.access.actions(users["bob"], "acme/app") == NOTHING


async def test_robot_scopes_only_count_inside_its_namespace(world: World) -> None:
    alice = await world.user("alice")
    await world.user("bob")
    await world.accounts.create_org(alice, "acme")
    await world.repository("bob/app", private=True)
    # Accounts refuses such a pattern; a row written another way must still not reach
    # beyond the robot's namespace.
    new = sec.new_secret("robot")
    now = datetime.now(UTC)
    wide = _grants("*:pull,push")
    await world.store.add_robot(
        RobotRecord("acme+wide", "acme", "", new.id, now),
        CredentialRecord(new.id, "robot", "acme+wide", "", new.digest, wide, now, None, None, None),
    )
    robot = await world.login("acme+wide", new.text)
    assert robot == Principal("robot", "acme+wide", False, wide, f"cred:{new.id}")
    assert await world.access.actions(robot, "acme/app") == {"pull", "push"}
    assert await world.access.actions(robot, "bob/app") == NOTHING
    assert await world.access.actions(robot, "alice/app") == NOTHING
    assert await world.access.actions(robot, "acmex/app") == NOTHING


async def test_robot_has_only_its_scopes(world: World) -> None:
    alice = await world.user("alice")
    await world.accounts.create_org(alice, "acme")
    _, robot = await world.robot(alice, "acme", "ci", ["acme/app:pull", "acme/tools/*:*"])
    assert await world.access.actions(robot, "acme/app") == PULL
    assert await world.access.actions(robot, "acme/tools/lint") == ALL_ACTIONS
    assert await world.access.actions(robot, "acme/other") == NOTHING


async def test_token_scopes_narrow_the_owners_rights(world: World) -> None:
    alice = await world.user("alice")
    await world.user("bob")
    await world.repository("bob/pub", private=False)

    async def via(scopes: tuple[ScopeGrant, ...] | None) -> Principal:
        issued = await world.accounts.create_token(alice, "t", scopes, None)
        principal = await world.login("alice", issued.secret)
        assert principal.session == f"cred:{issued.credential.id}"
        assert principal.scopes == scopes
        return principal

    narrow = await via(_grants("alice/app:pull"))
    assert await world.access.actions(narrow, "alice/app") == PULL
    assert await world.access.actions(narrow, "alice/other") == NOTHING
    assert await world.access.actions(narrow, "bob/pub") == NOTHING  # public, but out of scope

    wide = await via(_grants("alice/*:*", "bob/*:pull,push"))
    assert await world.access.actions(wide, "alice/x") == ALL_ACTIONS
    assert await world.access.actions(wide, "bob/pub") == PULL  # scopes never add rights
    assert await world.access.actions(wide, "bob/other") == NOTHING

    full = await via(None)
    assert await world.access.actions(full, "alice/x") == ALL_ACTIONS
    assert await world.access.actions(full, "bob/pub") == PULL


async def test_admin_token_scopes_narrow_too(world: World) -> None:
    root = await world.user("root", admin=True)
    issued = await world.accounts.create_token(root, "ro", _grants("*:pull"), None)
    token = await world.login("root", issued.secret)
    assert await world.access.actions(token, "anyone/app") == PULL


async def test_public_repositories(world: World) -> None:
    bob = await world.user("bob")
    alice = await world.user("alice")
    _, robot = await world.robot(bob, "bob", "ci", ["bob/ci:pull"])
    await world.repository("bob/pub", private=False)
    await world.repository("bob/priv", private=True)
    assert await world.access.actions(ANONYMOUS, "bob/pub") == PULL
    assert await world.access.actions(alice, "bob/pub") == PULL
    assert await world.access.actions(bob, "bob/pub") == ALL_ACTIONS
    assert await world.access.actions(robot, "bob/pub") == PULL
    assert await world.access.actions(ANONYMOUS, "bob/priv") == NOTHING
    assert await world.access.actions(alice, "bob/priv") == NOTHING
    assert await world.access.may_list_catalog(ANONYMOUS)

    closed = world.fresh(anonymous_pull=False)
    assert await closed.access.actions(ANONYMOUS, "bob/pub") == NOTHING
    assert await closed.access.actions(alice, "bob/pub") == PULL
    assert not await closed.access.may_list_catalog(ANONYMOUS)
    assert await closed.access.may_list_catalog(alice)


async def test_unset_visibility_follows_the_namespace_default(world: World) -> None:
    alice = await world.user("alice")
    bob = await world.user("bob")
    await world.repository("bob/legacy", private=None)
    assert await world.access.actions(alice, "bob/legacy") == PULL
    await world.accounts.set_namespace_default(bob, "bob", True)
    assert await world.access.actions(alice, "bob/legacy") == NOTHING
    assert await world.accounts.visibility(bob, "bob/legacy") is True


async def test_prepare_push_sets_the_namespace_default_once(world: World) -> None:
    bob = await world.user("bob")
    repos = Repositories(world.base, world.store, world.access, RepositoryPolicySettings())
    await world.accounts.set_namespace_default(bob, "bob", True)
    await repos.prepare_push("bob/new")
    assert await world.store.repository_private("bob/new") is True
    await world.accounts.set_visibility(bob, "bob/new", False)
    await repos.prepare_push("bob/new")  # a later push keeps the setting
    assert await world.store.repository_private("bob/new") is False
    await repos.prepare_push("nobody/new")  # no namespace: public
    assert await world.store.repository_private("nobody/new") is False


async def test_a_missing_repository_looks_like_a_private_one(world: World) -> None:
    alice = await world.user("alice")
    await world.user("bob")
    await world.repository("bob/priv", private=True)
    for who in (alice, ANONYMOUS):
        assert await world.access.actions(who, "bob/ghost") == NOTHING
        assert await world.access.actions(who, "bob/priv") == NOTHING
    errors = []
    for repo in ("bob/ghost", "bob/priv"):
        with pytest.raises(ResourceUnknown) as caught:
            await world.accounts.visibility(alice, repo)
        errors.append(str(caught.value).replace(repo, "REPO"))
    assert errors[0] == errors[1]


# -- logging in --------------------------------------------------------------------------


async def test_login_with_password(world: World) -> None:
    await world.user("alice", admin=True)
    principal = await world.login("alice", PASSWORD)
    assert principal == Principal("user", "alice", True, None, "password")
    assert principal.credential_expires_at is None


async def test_login_with_personal_access_token(world: World) -> None:
    alice = await world.user("alice")
    scopes = _grants("alice/*:pull")
    issued = await world.accounts.create_token(alice, "ci", scopes, timedelta(days=1))
    principal = await world.login("alice", issued.secret)
    assert principal == Principal("user", "alice", False, scopes, f"cred:{issued.credential.id}")
    assert principal.credential_expires_at == issued.credential.expires_at


async def test_login_with_login_password(world: World) -> None:
    alice = await world.user("alice")
    issued = await world.accounts.login_password(alice)
    principal = await world.login("alice", issued.secret)
    assert principal == Principal("user", "alice", False, None, f"cred:{issued.credential.id}")
    assert principal.credential_expires_at == issued.credential.expires_at


async def test_login_with_robot_secret(world: World) -> None:
    alice = await world.user("alice")
    await world.accounts.create_org(alice, "acme")
    issued, robot = await world.robot(alice, "acme", "ci", ["acme/*:pull"])
    assert issued.username == "acme+ci"
    assert robot == Principal(
        "robot", "acme+ci", False, _grants("acme/*:pull"), f"cred:{issued.credential.id}"
    )
    await world.accounts.create_robot(alice, "acme", "cd", ["acme/*:pull"], None)
    with pytest.raises(Unauthorized):
        await world.login("acme+cd", issued.secret)  # another robot's secret
    with pytest.raises(Unauthorized):
        await world.login("acme+nobody", issued.secret)
    with pytest.raises(Unauthorized):
        await world.login("acme+ci", "not a secret at all")


async def test_a_secret_only_works_for_its_owner(world: World) -> None:
    alice = await world.user("alice")
    await world.user("bob")
    issued = await world.accounts.create_token(alice, "ci", None, None)
    with pytest.raises(Unauthorized):
        await world.login("bob", issued.secret)


async def test_unknown_user_and_wrong_password_look_the_same(world: World) -> None:
    await world.user("alice")
    with pytest.raises(Unauthorized) as wrong:
        await world.login("alice", "wrong password")
    with pytest.raises(Unauthorized) as unknown:
        await world.login("nobody", "wrong password")
    assert str(wrong.value) == str(unknown.value) == "incorrect username or password"


async def test_revoked_or_expired_credentials_are_refused(world: World) -> None:
    alice = await world.user("alice")
    await world.accounts.create_org(alice, "acme")
    revoked = await world.accounts.create_token(alice, "gone", None, None)
    await world.login("alice", revoked.secret)
    await world.accounts.revoke_token(alice, revoked.credential.id)
    with pytest.raises(Unauthorized):
        await world.login("alice", revoked.secret)

    expired = await world.accounts.create_token(alice, "old", None, timedelta(seconds=-1))
    with pytest.raises(Unauthorized):
        await world.login("alice", expired.secret)

    old_robot = await world.accounts.create_robot(
        alice, "acme", "old", ["acme/*:pull"], timedelta(seconds=-1)
    )
    with pytest.raises(Unauthorized):
        await world.login(old_robot.username, old_robot.secret)

    deleted, _ = await world.robot(alice, "acme", "gone", ["acme/*:pull"])
    await world.accounts.delete_robot(alice, "acme+gone")
    with pytest.raises(Unauthorized):
        await world.login(deleted.username, deleted.secret)


async def test_failed_logins_are_rate_limited(world: World) -> None:
    limited = world.fresh(failure_limit=3)
    await limited.user("alice")
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await limited.login("alice", "wrong password")
    with pytest.raises(TooManyRequests) as caught:
        await limited.login("alice", PASSWORD)  # right, but too late
    # Failures count in their window and the next: the wait ends when both passed.
    assert 300 < int(caught.value.headers["Retry-After"]) <= 600
    # The limit is per account and address: another address still gets in.
    assert (await limited.access.login("alice", PASSWORD, "192.0.2.2")).name == "alice"


# -- refresh tokens and bearer-token sessions --------------------------------------------


async def test_refresh_gives_the_principal_back(world: World) -> None:
    alice = await world.user("alice")
    again = await world.access.refresh(await world.access.issue_refresh(alice), ADDR)
    # The same account and rights, but a session of its own, not a password login:
    # an identity token may not change the password or mint tokens.
    assert (again.kind, again.name, again.is_admin, again.scopes) == ("user", "alice", False, None)
    assert again.session.startswith("cred:")
    with pytest.raises(Denied, match="log in with your password"):
        await world.accounts.create_token(again, "minted", None, None)
    with pytest.raises(Denied, match="log in with your password"):
        await world.accounts.set_password(again, "alice", NEW_PASSWORD)

    pat = await world.accounts.create_token(alice, "ci", _grants("alice/*:pull"), None)
    by_pat = await world.login("alice", pat.secret)
    assert await world.access.refresh(await world.access.issue_refresh(by_pat), ADDR) == by_pat

    await world.accounts.create_org(alice, "acme")
    _, robot = await world.robot(alice, "acme", "ci", ["acme/*:pull"])
    assert await world.access.refresh(await world.access.issue_refresh(robot), ADDR) == robot

    for bad in ("", "garbage", pat.secret, sec.new_secret("refresh").text):
        with pytest.raises(Unauthorized):
            await world.access.refresh(bad, ADDR)


async def test_refresh_token_lives_no_longer_than_its_login(world: World) -> None:
    alice = await world.user("alice")
    pat = await world.accounts.create_token(alice, "ci", None, timedelta(hours=1))
    by_pat = await world.login("alice", pat.secret)
    token = await world.access.issue_refresh(by_pat)
    parsed = sec.parse_secret(token)
    assert parsed is not None
    record = await world.store.get_credential(parsed.id)
    assert record is not None
    assert record.parent_id == pat.credential.id
    assert record.expires_at == pat.credential.expires_at


async def test_refresh_token_dies_with_its_login_password(world: World) -> None:
    alice = await world.user("alice")
    issued = await world.accounts.login_password(alice)
    principal = await world.login("alice", issued.secret)
    token = await world.access.issue_refresh(principal)
    assert await world.access.refresh(token, ADDR) == principal
    await world.accounts.revoke_token(alice, issued.credential.id)
    with pytest.raises(Unauthorized):
        await world.access.refresh(token, ADDR)


async def test_refresh_token_dies_with_its_token(world: World) -> None:
    alice = await world.user("alice")
    pat = await world.accounts.create_token(alice, "ci", None, None)
    token = await world.access.issue_refresh(await world.login("alice", pat.secret))
    await world.accounts.revoke_token(alice, pat.credential.id)
    with pytest.raises(Unauthorized):
        await world.access.refresh(token, ADDR)


async def test_refresh_dies_with_the_token_behind_its_login_password(world: World) -> None:
    alice = await world.user("alice")
    pat = await world.accounts.create_token(alice, "ci", None, None)
    by_pat = await world.login("alice", pat.secret)
    issued = await world.accounts.login_password(by_pat)
    assert issued.credential.parent_id == pat.credential.id
    token = await world.access.issue_refresh(await world.login("alice", issued.secret))
    await world.accounts.revoke_token(alice, pat.credential.id)
    with pytest.raises(Unauthorized):
        await world.access.refresh(token, ADDR)


async def test_login_password_dies_with_the_token_it_came_from(world: World) -> None:
    alice = await world.user("alice")
    pat = await world.accounts.create_token(alice, "ci", None, None)
    issued = await world.accounts.login_password(await world.login("alice", pat.secret))
    await world.accounts.revoke_token(alice, pat.credential.id)
    assert await world.access.session_valid("alice", f"cred:{issued.credential.id}", 0) is None
    with pytest.raises(Unauthorized):
        await world.login("alice", issued.secret)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def test_password_change_ends_password_sessions(world: World) -> None:
    alice = await world.user("alice")
    await anyio.sleep(0.005)  # tokens issued after the account was created
    before = _now_ms()
    refresh = await world.access.issue_refresh(alice)
    assert await world.access.session_valid("alice", "password", before) == alice
    await anyio.sleep(0.005)

    await world.accounts.set_password(alice, "alice", NEW_PASSWORD)
    assert await world.access.session_valid("alice", "password", before) is None
    with pytest.raises(Unauthorized):
        await world.access.refresh(refresh, ADDR)
    with pytest.raises(Unauthorized):
        await world.login("alice", PASSWORD)
    await anyio.sleep(0.005)
    assert await world.access.session_valid("alice", "password", _now_ms()) == alice


async def test_session_valid(world: World) -> None:
    alice = await world.user("alice")
    await world.user("bob")
    assert await world.access.session_valid("", "", 0) == ANONYMOUS
    assert await world.access.session_valid("nobody", "password", _now_ms()) is None
    assert await world.access.session_valid("alice", "something else", _now_ms()) is None

    pat = await world.accounts.create_token(alice, "ci", _grants("alice/*:pull"), None)
    session = f"cred:{pat.credential.id}"
    expected = Principal("user", "alice", False, _grants("alice/*:pull"), session)
    assert await world.access.session_valid("alice", session, 0) == expected
    assert await world.access.session_valid("bob", session, 0) is None
    assert await world.access.session_valid("alice", "cred:ffffffffffffffff", 0) is None
    await world.accounts.revoke_token(alice, pat.credential.id)
    assert await world.access.session_valid("alice", session, 0) is None


# -- account management rules -------------------------------------------------------------


async def test_only_administrators_create_users(world: World) -> None:
    alice = await world.user("alice")
    root = await world.user("root", admin=True)
    with pytest.raises(Denied):
        await world.accounts.create_user(alice, "erin", "long enough password")
    with pytest.raises(RequestInvalid):
        await world.accounts.create_user(root, "Erin", "long enough password")
    with pytest.raises(RequestInvalid):
        await world.accounts.create_user(root, "erin", "short")
    assert await world.store.get_user("erin") is None
    created = await world.accounts.create_user(root, "erin", "long enough password")
    assert created.name == "erin" and not created.is_admin
    assert await world.store.get_user("erin") == created


async def test_only_organisation_owners_manage_members(world: World) -> None:
    alice = await world.user("alice")
    bob = await world.user("bob")
    carol = await world.user("carol")
    root = await world.user("root", admin=True)
    await world.accounts.create_org(alice, "acme")
    await world.accounts.set_member(alice, "acme", "bob", "maintainer")
    for outsider in (bob, carol):
        with pytest.raises(Denied):
            await world.accounts.set_member(outsider, "acme", "carol", "reader")
    with pytest.raises(Unauthorized):
        await world.accounts.set_member(ANONYMOUS, "acme", "carol", "reader")
    await world.accounts.set_member(root, "acme", "carol", "reader")
    assert await world.store.member_role("acme", "carol") == "reader"

    with pytest.raises(RequestInvalid):
        await world.accounts.set_member(alice, "acme", "carol", "admin")
    with pytest.raises(ResourceUnknown):
        await world.accounts.set_member(alice, "acme", "nobody", "reader")
    with pytest.raises(RequestInvalid):
        await world.accounts.set_member(alice, "bob", "carol", "reader")  # a user namespace


async def test_an_organisation_keeps_an_owner(world: World) -> None:
    alice = await world.user("alice")
    bob = await world.user("bob")
    await world.accounts.create_org(alice, "acme")
    for role in ("maintainer", "reader", None):
        with pytest.raises(RequestInvalid):
            await world.accounts.set_member(alice, "acme", "alice", role)
    assert await world.store.member_role("acme", "alice") == "owner"
    await world.accounts.set_member(alice, "acme", "bob", "owner")
    await world.accounts.set_member(alice, "acme", "alice", None)  # now there is another
    assert await world.store.member_role("acme", "alice") is None
    with pytest.raises(RequestInvalid):
        await world.accounts.set_member(bob, "acme", "bob", "reader")


@pytest.mark.parametrize(
    "scope", ["other/*:pull", "acme-evil/*:pull", "acmex:pull", "*:pull", "acme*:pull"]
)
async def test_robot_scopes_outside_the_namespace_are_refused(world: World, scope: str) -> None:
    alice = await world.user("alice")
    await world.accounts.create_org(alice, "acme")
    with pytest.raises(RequestInvalid):
        await world.accounts.create_robot(alice, "acme", "ci", ["acme/app:pull", scope], None)
    assert await world.store.get_robot("acme+ci") is None


async def test_robot_creation_rules(world: World) -> None:
    alice = await world.user("alice")
    bob = await world.user("bob")
    await world.accounts.create_org(alice, "acme")
    await world.accounts.set_member(alice, "acme", "bob", "maintainer")
    with pytest.raises(Denied):
        await world.accounts.create_robot(bob, "acme", "ci", ["acme/*:pull"], None)
    for scopes in ([], ["acme/*"], ["acme/*:admin"], ["acme/*:"]):
        with pytest.raises(RequestInvalid):
            await world.accounts.create_robot(alice, "acme", "ci", scopes, None)
    made = await world.accounts.create_robot(alice, "acme", "ci", ["acme:pull"], None)
    assert made.credential.scopes == _grants("acme:pull")
    with pytest.raises(Exception, match="exists"):
        await world.accounts.create_robot(alice, "acme", "ci", ["acme/*:pull"], None)


async def test_tokens_are_created_after_a_password_login_only(world: World) -> None:
    alice = await world.user("alice")
    await world.accounts.create_org(alice, "acme")
    pat = await world.accounts.create_token(alice, "ci", None, None)
    login = await world.accounts.login_password(alice)
    _, robot = await world.robot(alice, "acme", "ci", ["acme/*:pull"])
    for secret in (pat.secret, login.secret):
        by_secret = await world.login("alice", secret)
        with pytest.raises(Denied):
            await world.accounts.create_token(by_secret, "more", None, None)
    with pytest.raises(Denied):
        await world.accounts.create_token(robot, "more", None, None)
    with pytest.raises(Unauthorized):
        await world.accounts.create_token(ANONYMOUS, "more", None, None)


async def test_login_password_lifetime_is_capped(world: World) -> None:
    alice = await world.user("alice")
    twelve_hours = timedelta(hours=12)

    def lifetime(issued: IssuedSecret) -> timedelta:
        assert issued.credential.expires_at is not None
        return issued.credential.expires_at - issued.credential.created_at

    assert lifetime(await world.accounts.login_password(alice)) == twelve_hours
    assert lifetime(await world.accounts.login_password(alice, timedelta(days=30))) == twelve_hours
    assert lifetime(await world.accounts.login_password(alice, timedelta(hours=1))) == timedelta(
        hours=1
    )
    short = world.fresh(login_password_ttl_seconds=600)
    assert lifetime(await short.accounts.login_password(alice)) == timedelta(minutes=10)

    # About as long as the token it was asked for with (see the exact test below),
    # and no broader.
    scopes = _grants("alice/app:pull")
    pat = await world.accounts.create_token(alice, "ci", scopes, timedelta(hours=1))
    issued = await world.accounts.login_password(await world.login("alice", pat.secret))
    assert issued.credential.expires_at is not None and pat.credential.expires_at is not None
    assert issued.credential.expires_at <= pat.credential.expires_at + timedelta(seconds=1)
    assert issued.credential.scopes == scopes
    assert issued.credential.parent_id == pat.credential.id

    with pytest.raises(Unauthorized):
        await world.accounts.login_password(ANONYMOUS)


async def test_login_password_expires_no_later_than_its_token(world: World) -> None:
    alice = await world.user("alice")
    pat = await world.accounts.create_token(alice, "ci", None, timedelta(hours=1))
    issued = await world.accounts.login_password(await world.login("alice", pat.secret))
    assert issued.credential.expires_at is not None and pat.credential.expires_at is not None
    assert issued.credential.expires_at <= pat.credential.expires_at


async def test_deleting_a_user_ends_its_robots(world: World) -> None:
    alice = await world.user("alice")
    root = await world.user("root", admin=True)
    issued, _ = await world.robot(alice, "alice", "ci", ["alice/*:pull,push"])
    await world.accounts.delete_user(root, "alice")
    with pytest.raises(Unauthorized):
        await world.login(issued.username, issued.secret)


async def test_deleting_an_organisation_ends_its_robots(world: World) -> None:
    alice = await world.user("alice")
    bob = await world.user("bob")
    await world.accounts.create_org(alice, "acme")
    issued, _ = await world.robot(alice, "acme", "ci", ["acme/*:pull,push"])
    await world.accounts.delete_org(alice, "acme")
    await world.accounts.create_org(bob, "acme")  # someone else takes the name
    with pytest.raises(Unauthorized):
        await world.login(issued.username, issued.secret)


async def test_password_change_ends_login_passwords_but_not_tokens(world: World) -> None:
    alice = await world.user("alice")
    await anyio.sleep(0.005)
    login = await world.accounts.login_password(alice)
    pat = await world.accounts.create_token(alice, "ci", None, None)
    assert (await world.login("alice", login.secret)).name == "alice"
    await anyio.sleep(0.005)
    await world.accounts.set_password(alice, "alice", NEW_PASSWORD)
    with pytest.raises(Unauthorized):
        await world.login("alice", login.secret)  # a session, like a refresh token
    assert (await world.login("alice", pat.secret)).name == "alice"  # tokens stand alone


async def test_the_last_owner_of_an_organisation_cannot_be_deleted(world: World) -> None:
    root = await world.user("root", admin=True)
    alice = await world.user("alice")
    await world.user("bob")
    await world.accounts.create_org(alice, "acme")
    with pytest.raises(Conflict, match="only owner of 'acme'"):
        await world.accounts.delete_user(root, "alice")
    await world.accounts.set_member(alice, "acme", "bob", "owner")
    await world.accounts.delete_user(root, "alice")
    assert [m.username for m in await world.store.list_members("acme")] == ["bob"]
