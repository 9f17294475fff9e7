"""One suite for the account store on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from cargohold.metadata.accounts import (
    CredentialRecord,
    MemberRecord,
    NamespaceRecord,
    RobotRecord,
    ScopeGrant,
    UserRecord,
)
from cargohold.metadata.accounts_sql import SqlAccountStore
from cargohold.metadata.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlAccountStore]:
    base = SqlMetadataStore(database_url)
    await base.create_schema()
    yield SqlAccountStore(base)
    await base.close()


T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _user(name: str, *, admin: bool = False, at: datetime = T0) -> UserRecord:
    # The store keeps whatever hash it is given; no argon2 needed here.
    return UserRecord(name, f"$argon2id$fake${name}", admin, at, at)


def _org(name: str, *, private: bool = False) -> NamespaceRecord:
    return NamespaceRecord(name, "org", private, T0)


def _cred(
    ident: str,
    owner: str,
    *,
    kind: str = "pat",
    scopes: tuple[ScopeGrant, ...] | None = None,
    at: datetime = T0,
    expires_at: datetime | None = None,
    parent_id: str | None = None,
) -> CredentialRecord:
    return CredentialRecord(
        id=ident,
        kind=kind,
        owner=owner,
        name=f"{kind} {ident}",
        secret_digest=ident * 4,
        scopes=scopes,
        created_at=at,
        expires_at=expires_at,
        revoked_at=None,
        parent_id=parent_id,
    )


def _robot(name: str, cred_id: str) -> RobotRecord:
    return RobotRecord(name, name.split("+", 1)[0], "builds things", cred_id, T0)


ID1, ID2, ID3, ID4 = (f"{i:016x}" for i in range(1, 5))

# -- users and namespaces ----------------------------------------------------------------


async def test_create_user_and_org(store: SqlAccountStore) -> None:
    alice = _user("alice", admin=True)
    assert await store.create_user(alice, default_private=True)
    assert await store.get_user("alice") == alice
    assert await store.get_user("nobody") is None
    assert await store.get_namespace("alice") == NamespaceRecord("alice", "user", True, T0)

    assert await store.create_org(_org("acme", private=True), "alice")
    assert await store.get_namespace("acme") == NamespaceRecord("acme", "org", True, T0)
    assert await store.get_user("acme") is None
    assert await store.member_role("acme", "alice") == "owner"
    assert await store.list_members("acme") == [MemberRecord("acme", "alice", "owner")]
    assert await store.get_namespace("nothing") is None


async def test_a_name_is_taken_by_a_user_or_an_org(store: SqlAccountStore) -> None:
    assert await store.create_user(_user("alice"), default_private=False)
    assert not await store.create_user(_user("alice", admin=True), default_private=True)
    assert not (await store.get_user("alice")).is_admin  # type: ignore[union-attr]

    assert await store.create_org(_org("acme"), "alice")
    assert not await store.create_user(_user("acme"), default_private=False)
    assert await store.get_user("acme") is None
    assert not await store.create_org(_org("alice"), "alice")
    assert not await store.create_org(_org("acme", private=True), "alice")
    assert (await store.get_namespace("alice")).kind == "user"  # type: ignore[union-attr]
    assert not (await store.get_namespace("acme")).default_private  # type: ignore[union-attr]


async def test_listings(store: SqlAccountStore) -> None:
    assert not await store.any_user()
    assert await store.count_users() == 0
    assert await store.list_users() == []
    for name in ("carol", "alice", "bob"):
        assert await store.create_user(_user(name), default_private=False)
    assert await store.any_user()
    assert await store.count_users() == 3
    assert [u.name for u in await store.list_users()] == ["alice", "bob", "carol"]
    for name in ("zeta", "acme"):
        await store.create_org(_org(name), "alice")
    assert await store.count_users() == 3  # an organisation is not a user
    assert [u.name for u in await store.list_users()] == ["alice", "bob", "carol"]
    assert [n.name for n in await store.list_namespaces()] == [
        "acme",
        "alice",
        "bob",
        "carol",
        "zeta",
    ]
    assert [n.name for n in await store.list_namespaces("user")] == ["alice", "bob", "carol"]
    assert [n.name for n in await store.list_namespaces("org")] == ["acme", "zeta"]
    assert await store.list_namespaces("other") == []


async def test_update_user(store: SqlAccountStore) -> None:
    await store.create_user(_user("alice"), default_private=False)
    later = T0 + timedelta(hours=1)
    assert await store.update_user("alice", password_hash="new-hash")
    assert await store.update_user("alice", is_admin=True)
    assert await store.update_user("alice", sessions_valid_after=later)
    assert await store.get_user("alice") == UserRecord("alice", "new-hash", True, T0, later)
    assert await store.update_user("alice", is_admin=False)
    assert not (await store.get_user("alice")).is_admin  # type: ignore[union-attr]
    assert await store.update_user("alice")  # nothing to change: whether it exists
    assert not await store.update_user("nobody")
    assert not await store.update_user("nobody", password_hash="x")


async def test_delete_user_removes_memberships_and_credentials(store: SqlAccountStore) -> None:
    for name in ("alice", "bob"):
        await store.create_user(_user(name), default_private=False)
    await store.create_org(_org("acme"), "alice")
    await store.set_member("acme", "bob", "reader")
    await store.add_credential(_cred(ID1, "bob"))
    await store.add_credential(_cred(ID2, "bob", kind="refresh", parent_id=ID1))
    await store.add_credential(_cred(ID3, "alice"))

    assert await store.delete_user("bob")
    assert await store.get_user("bob") is None
    assert await store.get_namespace("bob") is None
    assert await store.memberships("bob") == []
    assert await store.member_role("acme", "bob") is None
    assert await store.list_credentials("bob") == []
    assert await store.get_credential(ID1) is None
    assert await store.get_credential(ID2) is None
    # Nobody else is touched.
    assert await store.list_members("acme") == [MemberRecord("acme", "alice", "owner")]
    assert [c.id for c in await store.list_credentials("alice")] == [ID3]
    assert not await store.delete_user("bob")
    # The name is free again.
    assert await store.create_user(_user("bob"), default_private=False)
    assert await store.memberships("bob") == []


async def test_set_namespace_default(store: SqlAccountStore) -> None:
    await store.create_user(_user("alice"), default_private=False)
    await store.create_org(_org("acme"), "alice")
    for name in ("alice", "acme"):
        assert await store.set_namespace_default(name, True)
        assert (await store.get_namespace(name)).default_private  # type: ignore[union-attr]
        assert await store.set_namespace_default(name, False)
        assert not (await store.get_namespace(name)).default_private  # type: ignore[union-attr]
    assert not await store.set_namespace_default("nothing", True)


async def test_delete_org(store: SqlAccountStore) -> None:
    for name in ("alice", "bob"):
        await store.create_user(_user(name), default_private=False)
    await store.create_org(_org("acme"), "alice")
    await store.set_member("acme", "bob", "maintainer")
    assert not await store.delete_org("alice")  # a user's namespace is no organisation
    assert await store.get_namespace("alice") is not None
    assert await store.delete_org("acme")
    assert await store.get_namespace("acme") is None
    assert await store.list_members("acme") == []
    assert await store.memberships("bob") == []
    assert not await store.delete_org("acme")


# -- members -----------------------------------------------------------------------------


async def test_members(store: SqlAccountStore) -> None:
    for name in ("alice", "bob", "carol"):
        await store.create_user(_user(name), default_private=False)
    await store.create_org(_org("acme"), "alice")
    await store.create_org(_org("beta"), "carol")

    await store.set_member("acme", "carol", "reader")
    await store.set_member("acme", "bob", "reader")
    assert await store.member_role("acme", "bob") == "reader"
    await store.set_member("acme", "bob", "maintainer")  # change
    assert await store.member_role("acme", "bob") == "maintainer"
    assert await store.list_members("acme") == [
        MemberRecord("acme", "alice", "owner"),
        MemberRecord("acme", "bob", "maintainer"),
        MemberRecord("acme", "carol", "reader"),
    ]
    assert await store.memberships("carol") == [
        MemberRecord("acme", "carol", "reader"),
        MemberRecord("beta", "carol", "owner"),
    ]
    assert await store.member_role("beta", "bob") is None

    await store.set_member("acme", "carol", None)  # remove
    assert await store.member_role("acme", "carol") is None
    assert await store.memberships("carol") == [MemberRecord("beta", "carol", "owner")]
    await store.set_member("acme", "carol", None)  # removing a non-member is no error
    assert [m.username for m in await store.list_members("acme")] == ["alice", "bob"]
    assert await store.list_members("nothing") == []


# -- repositories ------------------------------------------------------------------------


async def test_repository_visibility(store: SqlAccountStore) -> None:
    assert await store.repository_private("acme/app") is None
    await store.set_repository_private("acme/app", True, only_new=True)
    assert await store.repository_private("acme/app") is True
    await store.set_repository_private("acme/app", False, only_new=True)  # kept
    assert await store.repository_private("acme/app") is True
    await store.set_repository_private("acme/app", False, only_new=False)  # overwritten
    assert await store.repository_private("acme/app") is False
    await store.set_repository_private("acme/app", True, only_new=False)
    assert await store.repository_private("acme/app") is True
    await store.set_repository_private("acme/new", False, only_new=False)  # created too
    assert await store.repository_private("acme/new") is False
    assert await store.repository_private("acme") is None


# -- credentials -------------------------------------------------------------------------


async def test_credentials_round_trip(store: SqlAccountStore) -> None:
    scoped = _cred(
        ID1,
        "alice",
        scopes=(ScopeGrant("alice/*", ("pull",)), ScopeGrant("alice/app", ("pull", "push"))),
        expires_at=T0 + timedelta(days=30),
    )
    unscoped = _cred(ID2, "alice", kind="login", at=T0 + timedelta(seconds=1))
    nothing = _cred(ID3, "alice", scopes=(), at=T0 + timedelta(seconds=2))
    child = _cred(ID4, "alice", kind="refresh", at=T0 + timedelta(seconds=3), parent_id=ID2)
    for cred in (child, nothing, unscoped, scoped):
        await store.add_credential(cred)

    assert await store.get_credential(ID1) == scoped
    assert await store.get_credential(ID2) == unscoped
    # No scopes (None: everything the owner may do) and empty scopes (nothing) differ.
    got = await store.get_credential(ID3)
    assert got == nothing and got is not None and got.scopes == ()
    assert await store.get_credential(ID4) == child
    assert await store.get_credential("ffffffffffffffff") is None

    assert await store.list_credentials("alice") == [scoped, unscoped, nothing, child]
    assert await store.list_credentials("alice", "pat") == [scoped, nothing]
    assert await store.list_credentials("alice", "refresh") == [child]
    assert await store.list_credentials("bob") == []


async def test_revoke_and_touch_credential(store: SqlAccountStore) -> None:
    await store.add_credential(_cred(ID1, "alice"))
    at = T0 + timedelta(minutes=5)
    assert await store.revoke_credential(ID1, at)
    assert (await store.get_credential(ID1)).revoked_at == at  # type: ignore[union-attr]
    assert not await store.revoke_credential(ID1, at + timedelta(minutes=1))  # twice
    assert (await store.get_credential(ID1)).revoked_at == at  # type: ignore[union-attr]
    assert not await store.revoke_credential("ffffffffffffffff", at)

    await store.add_credential(_cred(ID2, "alice"))
    assert (await store.get_credential(ID2)).last_used_at is None  # type: ignore[union-attr]
    for used in (T0 + timedelta(minutes=7), T0 + timedelta(minutes=8)):
        await store.touch_credential(ID2, used)
        assert (await store.get_credential(ID2)).last_used_at == used  # type: ignore[union-attr]
    await store.touch_credential("ffffffffffffffff", at)  # unknown: nothing happens


# -- robots ------------------------------------------------------------------------------


async def test_robots(store: SqlAccountStore) -> None:
    grants = (ScopeGrant("acme/*", ("pull",)),)
    ci = _robot("acme+ci", ID1)
    ci_cred = _cred(ID1, "acme+ci", kind="robot", scopes=grants)
    assert await store.add_robot(ci, ci_cred)
    assert await store.get_robot("acme+ci") == ci
    assert await store.get_credential(ID1) == ci_cred

    # A second robot of the same name is refused, and its secret is not stored.
    assert not await store.add_robot(_robot("acme+ci", ID2), _cred(ID2, "acme+ci", kind="robot"))
    assert await store.get_credential(ID2) is None
    assert await store.get_robot("acme+ci") == ci

    deploy = _robot("acme+deploy", ID3)
    assert await store.add_robot(deploy, _cred(ID3, "acme+deploy", kind="robot", scopes=grants))
    other = _robot("beta+ci", ID4)
    assert await store.add_robot(other, _cred(ID4, "beta+ci", kind="robot", scopes=grants))
    assert await store.list_robots("acme") == [ci, deploy]
    assert await store.list_robots("beta") == [other]
    assert await store.list_robots("nothing") == []
    assert await store.get_robot("acme+nothing") is None

    # Deleting one revokes its secret and leaves the others alone.
    at = T0 + timedelta(hours=1)
    assert await store.delete_robot("acme+ci", at)
    assert await store.get_robot("acme+ci") is None
    assert (await store.get_credential(ID1)).revoked_at == at  # type: ignore[union-attr]
    assert (await store.get_credential(ID3)).revoked_at is None  # type: ignore[union-attr]
    assert await store.list_robots("acme") == [deploy]
    assert not await store.delete_robot("acme+ci", at)


# -- signing key -------------------------------------------------------------------------


def _maker(pem: str, made: list[str]) -> Callable[[], str]:
    def make() -> str:
        made.append(pem)
        return pem

    return make


async def test_signing_key_is_stored_once(store: SqlAccountStore) -> None:
    # Workers starting together on an empty database all end up with one key.
    made: list[str] = []
    keys = await asyncio.gather(*(store.signing_key(_maker(f"PEM {i}", made)) for i in range(8)))
    assert len(set(keys)) == 1, keys
    key_id, pem = keys[0]
    assert key_id and pem in made

    made.clear()
    assert await store.signing_key(_maker("PEM NEW", made)) == (key_id, pem)
    assert made == []  # no key is made while one is stored


# -- failed logins -----------------------------------------------------------------------


async def test_failures_count_this_window_and_the_previous_one(store: SqlAccountStore) -> None:
    assert await store.failures(["u", "a"], 100) == {}
    await store.add_failure(["old"], 98)
    await store.add_failure(["u", "a"], 100)
    await store.add_failure(["u", "a"], 100)
    await store.add_failure(["a"], 101)

    assert await store.failures(["u", "a", "x"], 101) == {"u": 2, "a": 3}
    assert await store.failures(["u", "a"], 102) == {"a": 1}  # window 100 is too old
    assert await store.failures(["u", "a"], 103) == {}
    assert await store.failures(["old"], 100) == {}  # older than the previous window
    assert await store.failures([], 101) == {}

    # Concurrent first failures of a key (PostgreSQL: racing inserts) all count.
    await asyncio.gather(*(store.add_failure(["u", "c"], 200) for _ in range(10)))
    assert await store.failures(["u", "c"], 200) == {"u": 10, "c": 10}
