"""The accounts data-access contract: users, namespaces, members, credentials, keys.

Core's account and access services depend on `AccountStore` only; `SqlAccountStore`
implements it on the same engine as the registry metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    password_hash: str
    is_admin: bool
    created_at: datetime
    sessions_valid_after: datetime


@dataclass(frozen=True, slots=True)
class NamespaceRecord:
    name: str
    kind: str  # "user" | "org"
    default_private: bool
    created_at: datetime
    template: str | None = None  # JSON: settings for repositories created inside
    quota_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class RepositorySettings:
    """What a repository's owners set: visibility, tag rules, lifecycle policy."""

    name: str
    private: bool
    tag_mutability: str = "MUTABLE"
    mutability_filters: tuple[str, ...] = ()
    latest_tag: str | None = None  # None: the registry-wide rule
    lifecycle_policy: str | None = None


@dataclass(frozen=True, slots=True)
class MemberRecord:
    namespace: str
    username: str
    role: str


@dataclass(frozen=True, slots=True)
class ScopeGrant:
    """Actions on repositories whose name matches ``repository`` (``*`` wildcards)."""

    repository: str
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    id: str
    kind: str  # pat | login | robot | refresh
    owner: str
    name: str
    secret_digest: str
    scopes: tuple[ScopeGrant, ...] | None  # None: everything the owner may do
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    parent_id: str | None
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RobotRecord:
    name: str  # "namespace+short"
    namespace: str
    description: str
    credential_id: str
    created_at: datetime


class AccountStore(Protocol):
    # users and namespaces
    async def create_user(self, user: UserRecord, default_private: bool) -> bool:
        """Create the user and its namespace; False if the name is taken."""
        ...

    async def get_user(self, name: str) -> UserRecord | None: ...

    async def list_users(self) -> list[UserRecord]: ...

    async def count_users(self) -> int: ...

    async def any_user(self) -> bool:
        """Cheap: whether at least one user exists (asked on every request in setup mode)."""
        ...

    async def update_user(
        self,
        name: str,
        *,
        password_hash: str | None = None,
        is_admin: bool | None = None,
        sessions_valid_after: datetime | None = None,
    ) -> bool: ...

    async def delete_user(self, name: str) -> bool:
        """Delete the user, its namespace, memberships, credentials and robots."""
        ...

    async def create_org(self, namespace: NamespaceRecord, owner: str) -> bool:
        """Create an organisation with ``owner`` as its first owner; False if taken."""
        ...

    async def get_namespace(self, name: str) -> NamespaceRecord | None: ...

    async def list_namespaces(self, kind: str | None = None) -> list[NamespaceRecord]: ...

    async def set_namespace_default(self, name: str, private: bool) -> bool: ...

    async def delete_org(self, name: str) -> bool:
        """Delete the organisation, its members and its robots."""
        ...

    # members
    async def member_role(self, namespace: str, username: str) -> str | None: ...

    async def set_member(self, namespace: str, username: str, role: str | None) -> None:
        """Add or change a member, or remove it with ``role=None``."""
        ...

    async def list_members(self, namespace: str) -> list[MemberRecord]: ...

    async def memberships(self, username: str) -> list[MemberRecord]: ...

    # repositories
    async def repository_private(self, name: str) -> bool | None:
        """The repository's visibility, or None when it was never set."""
        ...

    async def set_repository_private(self, name: str, private: bool, *, only_new: bool) -> None:
        """Record visibility; with ``only_new`` an existing setting is kept."""
        ...

    async def repository_settings(self, name: str) -> RepositorySettings | None: ...

    async def put_repository_settings(
        self, settings: RepositorySettings, *, only_new: bool
    ) -> bool:
        """Store all settings; with ``only_new`` nothing changes if some exist.
        True when written."""
        ...

    async def delete_repository_settings(self, name: str) -> None: ...

    async def repositories_with_policy(self) -> list[str]: ...

    async def set_namespace_template(self, name: str, template: str | None) -> bool: ...

    async def set_namespace_quota(self, name: str, quota_bytes: int | None) -> bool: ...

    # credentials
    async def add_credential(self, cred: CredentialRecord) -> None: ...

    async def get_credential(self, cred_id: str) -> CredentialRecord | None: ...

    async def list_credentials(
        self, owner: str, kind: str | None = None
    ) -> list[CredentialRecord]: ...

    async def revoke_credential(self, cred_id: str, at: datetime) -> bool: ...

    async def touch_credential(self, cred_id: str, at: datetime) -> None: ...

    # robots
    async def add_robot(self, robot: RobotRecord, cred: CredentialRecord) -> bool:
        """False if a robot of that name exists."""
        ...

    async def get_robot(self, name: str) -> RobotRecord | None: ...

    async def list_robots(self, namespace: str) -> list[RobotRecord]: ...

    async def delete_robot(self, name: str, at: datetime) -> bool:
        """Remove the robot and revoke its secret."""
        ...

    # token signing
    async def signing_key(self, make_pem: Callable[[], str]) -> tuple[str, str]:
        """The registry's signing key (its id and PEM), storing one from ``make_pem``
        if there is none yet. Every process and replica gets the same key."""
        ...

    # failed logins
    async def add_failure(self, keys: list[str], window: int) -> None: ...

    async def failures(self, keys: list[str], window: int) -> dict[str, int]:
        """Failures counted for each key in the given window."""
        ...
