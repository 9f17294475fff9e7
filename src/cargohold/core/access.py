"""Who is calling, and what they may do to a repository.

Authentication turns credentials (a password, a generated secret, a refresh token,
or the session named in a bearer token) into a `Principal`; authorisation answers
which of pull, push and delete that principal has on a repository:

- an administrator has everything;
- a user owns the namespace of its name; organisation members have their role's
  actions (owner and maintainer: pull, push, delete; reader: pull);
- a robot has the actions its scopes list, inside its own namespace only;
- anyone (anonymous too, unless turned off) pulls an existing public repository;
- a token or login password with scopes narrows all of the above.

Until the first user exists the registry is in setup mode and open to all, as a
registry without an auth configuration is.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cargohold.auth import secrets as sec
from cargohold.auth.passwords import verify_password
from cargohold.config import AuthSettings
from cargohold.errors import TooManyRequests, Unauthorized
from cargohold.metadata.accounts import AccountStore, CredentialRecord, ScopeGrant
from cargohold.metadata.store import MetadataStore

ALL_ACTIONS = frozenset({"pull", "push", "delete"})
ROLE_ACTIONS = {
    "owner": ALL_ACTIONS,
    "maintainer": ALL_ACTIONS,
    "reader": frozenset({"pull"}),
}
_PASSWORD_CACHE_SIZE = 1024
_SETUP_RECHECK_SECONDS = 1.0
_MAX_CHAIN = 8
_HASHING_AT_ONCE = 2  # refresh <- login password <- token is three


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["anonymous", "user", "robot"]
    name: str = ""
    is_admin: bool = False
    scopes: tuple[ScopeGrant, ...] | None = None  # None: no narrowing
    # What the principal logged in with, carried in bearer tokens so that revoking
    # it (or changing the password) ends them: "password" or "cred:<id>".
    session: str = ""
    credential_expires_at: datetime | None = field(default=None, compare=False)

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"


ANONYMOUS = Principal("anonymous")


def _now() -> datetime:
    return datetime.now(UTC)


def _usable(cred: CredentialRecord | None, now: datetime) -> bool:
    return (
        cred is not None
        and cred.revoked_at is None
        and (cred.expires_at is None or cred.expires_at > now)
    )


def scope_actions(scopes: tuple[ScopeGrant, ...], repository: str) -> frozenset[str]:
    actions: set[str] = set()
    for grant in scopes:
        if fnmatch.fnmatchcase(repository, grant.repository):
            actions.update(ALL_ACTIONS if "*" in grant.actions else grant.actions)
    return frozenset(actions) & ALL_ACTIONS


class Access:
    def __init__(
        self, accounts: AccountStore, store: MetadataStore, settings: AuthSettings
    ) -> None:
        self.accounts = accounts
        self.store = store
        self.settings = settings
        self._has_users = False
        self._setup_checked_at = 0.0
        # (user, sha256 of name and password) -> the argon2 hash it was verified
        # against: a client sending Basic on every request pays argon2 once, and a
        # password change (a new hash) misses the cache at once.
        self._verified: OrderedDict[str, str] = OrderedDict()
        self._hashing = asyncio.Semaphore(_HASHING_AT_ONCE)

    # -- setup mode -------------------------------------------------------------------

    async def setup_mode(self) -> bool:
        """True while no user exists: the registry is open, as before auth existed."""
        if self._has_users:
            return False
        now = time.monotonic()
        if now - self._setup_checked_at < _SETUP_RECHECK_SECONDS:
            return True
        self._has_users = await self.accounts.any_user()
        self._setup_checked_at = now
        return not self._has_users

    # -- authentication ---------------------------------------------------------------

    def _failure_keys(self, username: str, address: str) -> list[str]:
        return [f"u:{username[:100]}|a:{address}", f"a:{address}"]

    def _window(self) -> int:
        return int(time.time()) // self.settings.failure_window_seconds

    async def _check_rate(self, username: str, address: str) -> None:
        keys = self._failure_keys(username, address)
        counts = await self.accounts.failures(keys, self._window())
        limit = self.settings.failure_limit
        if counts.get(keys[0], 0) >= limit or counts.get(keys[1], 0) >= limit * 5:
            # Failures count in their window and the next one: wait for both to pass.
            window = self.settings.failure_window_seconds
            wait = 2 * window - int(time.time()) % window
            raise TooManyRequests(
                "too many failed logins; try again later", headers={"Retry-After": str(wait)}
            )

    async def _fail(self, username: str, address: str) -> Unauthorized:
        await self.accounts.add_failure(self._failure_keys(username, address), self._window())
        return Unauthorized("incorrect username or password")

    async def login(self, username: str, password: str, address: str) -> Principal:
        """The principal for Basic credentials: a password, a personal access token,
        a login password or a robot secret. Raises Unauthorized (the same for an
        unknown name and a wrong secret) or TooManyRequests."""
        await self._check_rate(username, address)
        principal = await self._login(username, password)
        if principal is None:
            raise await self._fail(username, address)
        return principal

    async def _login(self, username: str, password: str) -> Principal | None:
        now = _now()
        parsed = sec.parse_secret(password)
        if username == "__token__":  # PyPI's convention (twine, uv publish --token)
            return await self._from_bare_secret(parsed, now)
        if "+" in username:  # robots are "namespace+name"
            if parsed is not None and parsed.kind == "login":
                return await self._from_credential(parsed, username, now)
            if parsed is None or parsed.kind != "robot":
                return None
            robot = await self.accounts.get_robot(username)
            if robot is None or robot.credential_id != parsed.id:
                return None
            return await self._from_credential(parsed, username, now)
        if parsed is not None and parsed.kind in ("pat", "login"):
            found = await self._from_credential(parsed, username, now)
            if found is not None:
                return found
        user = await self.accounts.get_user(username)
        key = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        if user is not None and self._verified.get(key) == user.password_hash:
            self._verified.move_to_end(key)
        elif not await self._verify(user.password_hash if user else None, password):
            return None
        else:
            assert user is not None
            self._verified[key] = user.password_hash
            if len(self._verified) > _PASSWORD_CACHE_SIZE:
                self._verified.popitem(last=False)
        return Principal("user", user.name, user.is_admin, None, "password")

    async def _verify(self, stored: str | None, password: str) -> bool:
        """argon2 on a worker thread (about 0.3 s of CPU: never on the event loop),
        a few at a time so a flood of wrong passwords cannot take every thread."""
        async with self._hashing:
            return await asyncio.to_thread(verify_password, stored, password)

    async def _from_credential(
        self, parsed: sec.ParsedSecret, owner: str, now: datetime
    ) -> Principal | None:
        cred = await self.accounts.get_credential(parsed.id)
        if (
            cred is None
            or cred.kind != parsed.kind
            or cred.owner != owner
            or not sec.same_digest(cred.secret_digest, parsed.digest)
            or not await self._chain_usable(cred, now)
        ):
            return None
        return await self._principal_for(cred)

    async def _principal_for(self, cred: CredentialRecord) -> Principal | None:
        if "+" in cred.owner:
            if await self.accounts.get_robot(cred.owner) is None:
                return None
            return Principal(
                "robot", cred.owner, False, cred.scopes or (), f"cred:{cred.id}", cred.expires_at
            )
        user = await self.accounts.get_user(cred.owner)
        if user is None:
            return None
        return Principal(
            "user", user.name, user.is_admin, cred.scopes, f"cred:{cred.id}", cred.expires_at
        )

    async def login_secret(self, secret: str, address: str) -> Principal:
        """The principal for a bare generated secret (npm's ``_authToken`` sends a
        token as ``Bearer`` with no user name): a personal access token, a login
        password or a robot secret, found by the id it carries."""
        parsed = sec.parse_secret(secret)
        key = f"secret:{parsed.id if parsed else 'malformed'}"
        await self._check_rate(key, address)
        found = await self._from_bare_secret(parsed, _now())
        if found is None:
            raise await self._fail(key, address)
        return found

    async def _from_bare_secret(
        self, parsed: sec.ParsedSecret | None, now: datetime
    ) -> Principal | None:
        """A token, login password or robot secret sent without its owner's name."""
        if parsed is None or parsed.kind not in ("pat", "login", "robot"):
            return None
        cred = await self.accounts.get_credential(parsed.id)
        if cred is None:
            return None
        if parsed.kind == "robot":
            robot = await self.accounts.get_robot(cred.owner)
            if robot is None or robot.credential_id != parsed.id:
                return None
        return await self._from_credential(parsed, cred.owner, now)

    async def refresh(self, token: str, address: str) -> Principal:
        """The principal behind a refresh token (docker's identity token)."""
        parsed = sec.parse_secret(token)
        if parsed is None or parsed.kind != "refresh":
            raise Unauthorized("invalid refresh token")
        await self._check_rate(f"refresh:{parsed.id}", address)
        cred = await self.accounts.get_credential(parsed.id)
        now = _now()
        if (
            cred is None
            or cred.kind != "refresh"
            or not sec.same_digest(cred.secret_digest, parsed.digest)
            or not await self._chain_usable(cred, now)
        ):
            raise await self._fail(f"refresh:{parsed.id}", address)
        parent = await self.accounts.get_credential(cred.parent_id) if cred.parent_id else None
        # A refresh token is a session of its own ("cred:<id>"), never a password
        # login: whoever holds docker's stored identity token may push and pull, not
        # change the password or mint tokens (those need the password itself).
        principal = await self._principal_for(parent or cred)
        if principal is None:
            raise Unauthorized("invalid refresh token")
        return principal

    async def _chain_usable(self, cred: CredentialRecord, now: datetime) -> bool:
        """The credential and every one it was made from are unexpired and unrevoked;
        one that began with a password login also ends when the password changes."""
        current: CredentialRecord | None = cred
        for _ in range(_MAX_CHAIN):
            if current is None or not _usable(current, now):
                return False
            if current.parent_id is None:
                return await self._password_session_current(current)
            current = await self.accounts.get_credential(current.parent_id)
        return False

    async def _password_session_current(self, root: CredentialRecord) -> bool:
        if root.kind not in ("login", "refresh") or "+" in root.owner:
            return True  # tokens and robot secrets do not depend on a password
        user = await self.accounts.get_user(root.owner)
        return user is not None and user.sessions_valid_after <= root.created_at

    async def issue_refresh(self, principal: Principal) -> str:
        """A refresh token that lives no longer than what the principal logged in with."""
        now = _now()
        expires = now + timedelta(seconds=self.settings.refresh_ttl_seconds)
        if principal.credential_expires_at is not None:
            expires = min(expires, principal.credential_expires_at)
        parent = principal.session[5:] if principal.session.startswith("cred:") else None
        new = sec.new_secret("refresh")
        await self.accounts.add_credential(
            CredentialRecord(
                id=new.id,
                kind="refresh",
                owner=principal.name,
                name="refresh token",
                secret_digest=new.digest,
                scopes=None,
                created_at=now,
                expires_at=expires,
                revoked_at=None,
                parent_id=parent,
            )
        )
        return new.text

    async def session_valid(
        self, subject: str, session: str, issued_at_ms: int
    ) -> Principal | None:
        """The principal a bearer token speaks for, if what it came from still works."""
        if not subject:
            return ANONYMOUS
        now = _now()
        if session.startswith("cred:"):
            cred = await self.accounts.get_credential(session[5:])
            if cred is None or cred.owner != subject or not await self._chain_usable(cred, now):
                return None
            return await self._principal_for(cred)
        if session == "password":
            user = await self.accounts.get_user(subject)
            if user is None:
                return None
            if user.sessions_valid_after.timestamp() * 1000 > issued_at_ms:
                return None
            return Principal("user", user.name, user.is_admin, None, "password")
        return None

    # -- authorisation ----------------------------------------------------------------

    async def actions(self, principal: Principal, repository: str) -> frozenset[str]:
        """Which of pull, push and delete ``principal`` has on ``repository``."""
        if await self.setup_mode():
            return ALL_ACTIONS
        namespace = repository.split("/", 1)[0]
        rights = await self._member_rights(principal, namespace, repository)
        if "pull" not in rights and await self._public(repository, principal):
            rights = rights | {"pull"}
        if principal.kind == "user" and principal.scopes is not None:
            rights = rights & scope_actions(principal.scopes, repository)
        return rights

    async def package_actions(
        self, principal: Principal, namespace: str, name: str, private: bool
    ) -> frozenset[str]:
        """Rights on a hosted package repository owned by ``namespace``: the same
        rules as images, with robot and token scopes matched against
        ``NAMESPACE/NAME``."""
        if await self.setup_mode():
            return ALL_ACTIONS
        scope_name = f"{namespace}/{name}"
        rights = await self._member_rights(principal, namespace, scope_name)
        public = not private and (not principal.anonymous or self.settings.anonymous_pull)
        if "pull" not in rights and public:
            rights = rights | {"pull"}
        if principal.kind == "user" and principal.scopes is not None:
            rights = rights & scope_actions(principal.scopes, scope_name)
        return rights

    async def _member_rights(
        self, principal: Principal, namespace: str, scope_name: str
    ) -> frozenset[str]:
        if principal.kind == "user":
            if principal.is_admin or namespace == principal.name:
                return ALL_ACTIONS
            role = await self.accounts.member_role(namespace, principal.name)
            return ROLE_ACTIONS.get(role or "", frozenset())
        if principal.kind == "robot" and principal.name.split("+", 1)[0] == namespace:
            return scope_actions(principal.scopes or (), scope_name)
        return frozenset()

    async def _public(self, repository: str, principal: Principal) -> bool:
        if principal.anonymous and not self.settings.anonymous_pull:
            return False
        private = await self.accounts.repository_private(repository)
        if private is not None:
            return not private
        # Never set (created before accounts existed): the namespace default decides.
        if not await self.store.repository_exists(repository):
            return False  # as private: nobody learns whether it exists
        ns = await self.accounts.get_namespace(repository.split("/", 1)[0])
        return ns is None or not ns.default_private

    async def may_list_catalog(self, principal: Principal) -> bool:
        if await self.setup_mode():
            return True
        return not principal.anonymous or self.settings.anonymous_pull
