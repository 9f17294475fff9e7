"""Account management: users, organisations and members, robots, tokens, visibility.

Every operation takes the acting `Principal` and checks it first, so the management
API and the CLI share one set of rules:

- administrators manage everything; only they create users;
- any user creates organisations (and owns them); organisation owners manage
  members, robots and visibility there, maintainers manage visibility;
- users manage their own password, tokens and robots.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from cargohold.auth import secrets as sec
from cargohold.auth.passwords import MIN_LENGTH, hash_password
from cargohold.config import AuthSettings
from cargohold.core.access import ALL_ACTIONS, Access, Principal, _now
from cargohold.errors import Conflict, Denied, RequestInvalid, ResourceUnknown, Unauthorized
from cargohold.metadata.accounts import (
    AccountStore,
    CredentialRecord,
    MemberRecord,
    NamespaceRecord,
    RobotRecord,
    ScopeGrant,
    UserRecord,
)
from cargohold.metadata.governance import GovernanceStore
from cargohold.metadata.packages import PackageStore
from cargohold.types import check_name

ACCOUNT_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
ROLES = ("owner", "maintainer", "reader")
_PATTERN_RE = re.compile(r"^[a-z0-9*][a-z0-9._/*-]{0,254}$")


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """A generated secret with its record; ``secret`` is shown once."""

    secret: str
    credential: CredentialRecord
    username: str


def check_account_name(name: str, what: str = "name") -> str:
    if not (1 <= len(name) <= 64) or not ACCOUNT_NAME_RE.match(name):
        raise RequestInvalid(
            f"invalid {what} {name[:80]!r}: lowercase letters, digits and . _ - between them"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_LENGTH or len(password) > 1024:
        raise RequestInvalid(f"a password needs {MIN_LENGTH} to 1024 characters")
    return password


def parse_scope_grants(items: list[str], namespace: str | None = None) -> tuple[ScopeGrant, ...]:
    """``REPOSITORY-PATTERN:ACTION[,ACTION]`` items, e.g. ``acme/*:pull,push``."""
    grants: list[ScopeGrant] = []
    for item in items:
        pattern, sep, raw_actions = item.rpartition(":")
        actions = tuple(sorted({a.strip() for a in raw_actions.split(",") if a.strip()}))
        if not sep or not _PATTERN_RE.match(pattern) or not actions:
            raise RequestInvalid(f"invalid scope {item[:100]!r}: use REPOSITORY:pull,push")
        unknown = set(actions) - ALL_ACTIONS - {"*"}
        if unknown:
            raise RequestInvalid(f"unknown action {sorted(unknown)[0]!r} in {item[:100]!r}")
        if namespace is not None and not (
            pattern == namespace or pattern.startswith(namespace + "/")
        ):
            raise RequestInvalid(f"scope {pattern!r} is outside the namespace {namespace!r}")
        grants.append(ScopeGrant(pattern, actions))
    return tuple(grants)


class Accounts:
    def __init__(
        self,
        store: AccountStore,
        access: Access,
        settings: AuthSettings,
        governance: GovernanceStore | None = None,
        packages: PackageStore | None = None,
    ) -> None:
        self.store = store
        self.access = access
        self.settings = settings
        self.governance = governance
        self.packages = packages

    async def _require_empty(self, namespace: str) -> None:
        """A namespace is deleted only when nothing is left in it: whoever takes the
        name next must not inherit its repositories or its recycle bin."""
        repos = self.access.store
        after = await repos.list_repositories(namespace + "/", 1)
        if await repos.repository_exists(namespace) or (
            after and after[0].startswith(namespace + "/")
        ):
            raise Conflict(f"{namespace!r} still has repositories: delete them first")
        if self.packages is not None:
            owned = await self.packages.package_repositories_of(namespace)
            if owned:
                raise Conflict(
                    f"{namespace!r} still owns package repositories ({', '.join(owned[:5])}): "
                    "delete them first"
                )
        if self.governance is not None:
            for entry in await self.governance.list_trash():
                if entry.repository == namespace or entry.repository.startswith(namespace + "/"):
                    raise Conflict(
                        f"the recycle bin still holds images of {namespace!r}: "
                        "wait for its retention or restore and delete them"
                    )

    # -- checks -----------------------------------------------------------------------

    @staticmethod
    def _require_user(actor: Principal) -> None:
        if actor.anonymous:
            raise Unauthorized("log in for this")
        if actor.kind != "user":
            raise Denied("log in as a user for this")

    @classmethod
    def _require_full(cls, actor: Principal) -> None:
        """Changing accounts needs the account's full rights: a password login or an
        unscoped token, never a scoped token or a bearer token for some scopes."""
        cls._require_user(actor)
        if actor.scopes is not None:
            raise Denied("this needs your account's full rights; a scoped token has not got them")

    @classmethod
    def _require_password(cls, actor: Principal) -> None:
        cls._require_full(actor)
        if actor.session != "password":
            raise Denied("log in with your password for this")

    @classmethod
    def _require_admin(cls, actor: Principal) -> None:
        if not actor.is_admin:
            raise Denied("only an administrator may do this")
        cls._require_full(actor)

    async def _require_owner(self, actor: Principal, namespace: str) -> None:
        """The namespace's owner: the user of that name, an organisation owner, an admin."""
        self._require_full(actor)
        if actor.is_admin or actor.name == namespace:
            return
        if await self.store.member_role(namespace, actor.name) != "owner":
            raise Denied(f"only an owner of {namespace!r} may do this")

    async def _require_namespace(self, name: str) -> NamespaceRecord:
        ns = await self.store.get_namespace(name)
        if ns is None:
            raise ResourceUnknown(f"no user or organisation named {name!r}")
        return ns

    # -- users ------------------------------------------------------------------------

    async def create_user(
        self, actor: Principal | None, name: str, password: str, *, admin: bool = False
    ) -> UserRecord:
        """Create a user. ``actor=None`` is the local operator (the CLI on the server)."""
        if actor is not None:
            self._require_admin(actor)
        check_account_name(name, "user name")
        check_password(password)
        now = _now()
        user = UserRecord(name, await asyncio.to_thread(hash_password, password), admin, now, now)
        if not await self.store.create_user(user, default_private=False):
            raise Conflict(f"the name {name!r} is taken")
        return user

    async def users(self, actor: Principal) -> list[UserRecord]:
        self._require_admin(actor)
        return await self.store.list_users()

    async def user(self, actor: Principal, name: str) -> UserRecord:
        if not (actor.is_admin or (actor.kind == "user" and actor.name == name)):
            raise Denied("you may only see your own account")
        user = await self.store.get_user(name)
        if user is None:
            raise ResourceUnknown(f"no user named {name!r}")
        return user

    async def set_password(self, actor: Principal | None, name: str, password: str) -> None:
        """Change a password; every token issued from the old one stops working."""
        if actor is not None and not (actor.is_admin or actor.name == name):
            raise Denied("you may only change your own password")
        if actor is not None:
            self._require_password(actor)
        check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        if not await self.store.update_user(
            name, password_hash=hashed, sessions_valid_after=_now()
        ):
            raise ResourceUnknown(f"no user named {name!r}")

    async def set_admin(self, actor: Principal | None, name: str, admin: bool) -> None:
        if actor is not None:
            self._require_admin(actor)
        if not await self.store.update_user(name, is_admin=admin):
            raise ResourceUnknown(f"no user named {name!r}")

    async def delete_user(self, actor: Principal, name: str) -> None:
        self._require_admin(actor)
        await self._require_empty(name)
        for membership in await self.store.memberships(name):
            if membership.role != "owner":
                continue
            owners = await self.store.list_members(membership.namespace)
            if [m.username for m in owners if m.role == "owner"] == [name]:
                raise Conflict(
                    f"{name!r} is the only owner of {membership.namespace!r}: add another "
                    "owner or delete the organisation first"
                )
        if not await self.store.delete_user(name):
            raise ResourceUnknown(f"no user named {name!r}")

    # -- organisations and members ----------------------------------------------------

    async def create_org(
        self, actor: Principal, name: str, *, private: bool = False
    ) -> NamespaceRecord:
        self._require_full(actor)
        check_account_name(name, "organisation name")
        ns = NamespaceRecord(name, "org", private, _now())
        if not await self.store.create_org(ns, actor.name):
            raise Conflict(f"the name {name!r} is taken")
        return ns

    async def orgs(self, actor: Principal) -> list[NamespaceRecord]:
        self._require_user(actor)
        every = await self.store.list_namespaces("org")
        if actor.is_admin:
            return every
        mine = {m.namespace for m in await self.store.memberships(actor.name)}
        return [ns for ns in every if ns.name in mine]

    async def delete_org(self, actor: Principal, name: str) -> None:
        await self._require_owner(actor, name)
        await self._require_empty(name)
        if not await self.store.delete_org(name):
            raise ResourceUnknown(f"no organisation named {name!r}")

    async def set_member(self, actor: Principal, org: str, username: str, role: str | None) -> None:
        ns = await self._require_namespace(org)
        if ns.kind != "org":
            raise RequestInvalid(f"{org!r} is a user, not an organisation")
        await self._require_owner(actor, org)
        if role is not None and role not in ROLES:
            raise RequestInvalid(f"role must be one of {', '.join(ROLES)}")
        if await self.store.get_user(username) is None:
            raise ResourceUnknown(f"no user named {username!r}")
        if role != "owner" and await self.store.member_role(org, username) == "owner":
            owners = [m for m in await self.store.list_members(org) if m.role == "owner"]
            if len(owners) == 1:
                raise RequestInvalid("an organisation keeps at least one owner")
        await self.store.set_member(org, username, role)

    async def members(self, actor: Principal, org: str) -> list[MemberRecord]:
        await self._require_namespace(org)
        self._require_user(actor)
        if not actor.is_admin and await self.store.member_role(org, actor.name) is None:
            raise Denied(f"only members of {org!r} may list its members")
        return await self.store.list_members(org)

    async def set_namespace_default(self, actor: Principal, namespace: str, private: bool) -> None:
        await self._require_namespace(namespace)
        await self._require_owner(actor, namespace)
        await self.store.set_namespace_default(namespace, private)

    # -- repositories -----------------------------------------------------------------

    async def set_visibility(self, actor: Principal, repository: str, private: bool) -> None:
        check_name(repository)
        self._require_user(actor)
        if not {"push", "delete"} <= await self.access.actions(actor, repository):
            raise Denied(f"you may not change the visibility of {repository!r}")
        await self.store.set_repository_private(repository, private, only_new=False)

    async def visibility(self, actor: Principal, repository: str) -> bool:
        """True when private. Outsiders see a private repository as unknown."""
        check_name(repository)
        if "pull" not in await self.access.actions(actor, repository):
            raise ResourceUnknown(f"no repository named {repository!r}")
        private = await self.store.repository_private(repository)
        if private is None:
            ns = await self.store.get_namespace(repository.split("/", 1)[0])
            private = bool(ns and ns.default_private)
        return private

    # -- personal access tokens and login passwords ------------------------------------

    async def create_token(
        self,
        actor: Principal,
        name: str,
        scopes: tuple[ScopeGrant, ...] | None,
        expires_in: timedelta | None,
    ) -> IssuedSecret:
        # A token cannot mint another (perhaps broader) one; only a password login can.
        self._require_password(actor)
        if not name or len(name) > 200:
            raise RequestInvalid("a token needs a name of at most 200 characters")
        now = _now()
        expires = now + expires_in if expires_in is not None else None
        return await self._issue("pat", actor.name, name, scopes, expires, None, now)

    async def login_password(self, actor: Principal, ttl: timedelta | None = None) -> IssuedSecret:
        """An ECR-style password: the caller's rights, for 12 hours by default."""
        if actor.anonymous:
            raise Unauthorized("log in to get a login password")
        limit = timedelta(seconds=self.settings.login_password_ttl_seconds)
        now = _now()
        expires = now + min(ttl or limit, limit)
        if actor.credential_expires_at is not None:
            expires = min(expires, actor.credential_expires_at)
        parent = actor.session[5:] if actor.session.startswith("cred:") else None
        return await self._issue(
            "login", actor.name, "login password", actor.scopes, expires, parent, now
        )

    async def _issue(
        self,
        kind: sec.Kind,
        owner: str,
        name: str,
        scopes: tuple[ScopeGrant, ...] | None,
        expires_at: datetime | None,
        parent: str | None,
        now: datetime,
    ) -> IssuedSecret:
        new = sec.new_secret(kind)
        record = CredentialRecord(
            id=new.id,
            kind=kind,
            owner=owner,
            name=name,
            secret_digest=new.digest,
            scopes=scopes,
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
            parent_id=parent,
        )
        await self.store.add_credential(record)
        return IssuedSecret(new.text, record, owner)

    async def tokens(self, actor: Principal, owner: str | None = None) -> list[CredentialRecord]:
        self._require_user(actor)
        owner = owner or actor.name
        if owner != actor.name:
            self._require_admin(actor)
        return [c for c in await self.store.list_credentials(owner) if c.kind in ("pat", "login")]

    async def revoke_token(self, actor: Principal, token_id: str) -> None:
        self._require_full(actor)
        cred = await self.store.get_credential(token_id)
        if cred is None or cred.kind not in ("pat", "login"):
            raise ResourceUnknown(f"no token {token_id[:20]!r}")
        if not (actor.is_admin or actor.name == cred.owner):
            raise ResourceUnknown(f"no token {token_id[:20]!r}")
        await self.store.revoke_credential(token_id, _now())

    # -- robots -----------------------------------------------------------------------

    async def create_robot(
        self,
        actor: Principal,
        namespace: str,
        short_name: str,
        scopes: list[str],
        expires_in: timedelta | None,
        description: str = "",
    ) -> IssuedSecret:
        await self._require_namespace(namespace)
        await self._require_owner(actor, namespace)
        check_account_name(short_name, "robot name")
        grants = parse_scope_grants(scopes, namespace)
        if not grants:
            raise RequestInvalid("a robot needs at least one scope, e.g. NAMESPACE/*:pull")
        name = f"{namespace}+{short_name}"
        new = sec.new_secret("robot")
        now = _now()
        cred = CredentialRecord(
            id=new.id,
            kind="robot",
            owner=name,
            name=description[:200],
            secret_digest=new.digest,
            scopes=grants,
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
            revoked_at=None,
            parent_id=None,
        )
        robot = RobotRecord(name, namespace, description[:500], new.id, now)
        if not await self.store.add_robot(robot, cred):
            raise Conflict(f"a robot named {name!r} exists")
        return IssuedSecret(new.text, cred, name)

    async def robots(
        self, actor: Principal, namespace: str
    ) -> list[tuple[RobotRecord, CredentialRecord | None]]:
        await self._require_namespace(namespace)
        await self._require_owner(actor, namespace)
        return [
            (r, await self.store.get_credential(r.credential_id))
            for r in await self.store.list_robots(namespace)
        ]

    async def delete_robot(self, actor: Principal, name: str) -> None:
        namespace = name.split("+", 1)[0]
        await self._require_owner(actor, namespace)
        if not await self.store.delete_robot(name, _now()):
            raise ResourceUnknown(f"no robot named {name!r}")
