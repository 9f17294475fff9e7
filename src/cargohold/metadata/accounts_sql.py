"""`AccountStore` on SQL, sharing the registry metadata's engine and plumbing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cargohold.metadata import account_tables as a
from cargohold.metadata.accounts import (
    CredentialRecord,
    MemberRecord,
    NamespaceRecord,
    RepositorySettings,
    RobotRecord,
    ScopeGrant,
    UserRecord,
)
from cargohold.metadata.sql_engine import SqlStorePart, _dt, _now, _Query

_ANY_USER = _Query(select(a.users.c.name))
_USER = _Query(select(*a.users.c).where(a.users.c.name == bindparam("name")))
_CREDENTIAL = _Query(select(*a.credentials.c).where(a.credentials.c.id == bindparam("id")))
_ROLE = _Query(
    select(a.members.c.role).where(
        a.members.c.namespace == bindparam("ns"), a.members.c.username == bindparam("user")
    )
)
_REPO_SETTINGS = _Query(
    select(*a.repository_settings.c).where(a.repository_settings.c.name == bindparam("name"))
)
_ROBOT = _Query(select(*a.robots.c).where(a.robots.c.name == bindparam("name")))
_NAMESPACE = _Query(select(*a.namespaces.c).where(a.namespaces.c.name == bindparam("name")))


_KEY_NAME = "registry"


def _key_id(pem: str) -> str:
    return hashlib.sha256(pem.encode()).hexdigest()[:16]


def _user(row: Any) -> UserRecord:
    return UserRecord(
        name=row[0],
        password_hash=row[1],
        is_admin=bool(row[2]),
        created_at=_dt(row[3]),  # type: ignore[arg-type]
        sessions_valid_after=_dt(row[4]),  # type: ignore[arg-type]
    )


def _namespace(row: Any) -> NamespaceRecord:
    return NamespaceRecord(
        name=row[0],
        kind=row[1],
        default_private=bool(row[2]),
        created_at=_dt(row[3]),  # type: ignore[arg-type]
        template=row[4],
        quota_bytes=None if row[5] is None else int(row[5]),
    )


def _repo_settings(row: Any) -> RepositorySettings:
    return RepositorySettings(
        name=row[0],
        private=bool(row[1]),
        tag_mutability=row[2] or "MUTABLE",
        mutability_filters=tuple(json.loads(row[3])) if row[3] else (),
        latest_tag=row[4],
        lifecycle_policy=row[5],
    )


def _scopes_json(scopes: tuple[ScopeGrant, ...] | None) -> str | None:
    if scopes is None:
        return None
    return json.dumps([{"repository": s.repository, "actions": list(s.actions)} for s in scopes])


def _credential(row: Any) -> CredentialRecord:
    scopes = None
    if row[5] is not None:
        scopes = tuple(
            ScopeGrant(str(s["repository"]), tuple(map(str, s["actions"])))
            for s in json.loads(row[5])
        )
    return CredentialRecord(
        id=row[0],
        kind=row[1],
        owner=row[2],
        name=row[3],
        secret_digest=row[4],
        scopes=scopes,
        created_at=_dt(row[6]),  # type: ignore[arg-type]
        expires_at=_dt(row[7]),
        revoked_at=_dt(row[8]),
        parent_id=row[9],
        last_used_at=_dt(row[10]),
    )


def _robot(row: Any) -> RobotRecord:
    """From a row of ``robots`` in column order: name, namespace, description,
    credential_id, created_at."""
    return RobotRecord(
        name=row[0],
        namespace=row[1],
        description=row[2],
        credential_id=row[3],
        created_at=_dt(row[4]),  # type: ignore[arg-type]
    )


class SqlAccountStore(SqlStorePart):
    # -- users and namespaces ---------------------------------------------------------

    async def create_user(self, user: UserRecord, default_private: bool) -> bool:
        def q(conn: Connection) -> bool:
            if conn.execute(
                select(a.namespaces.c.name).where(a.namespaces.c.name == user.name)
            ).first():
                return False
            conn.execute(
                insert(a.namespaces).values(
                    name=user.name,
                    kind="user",
                    default_private=default_private,
                    created_at=user.created_at,
                )
            )
            conn.execute(
                insert(a.users).values(
                    name=user.name,
                    password_hash=user.password_hash,
                    is_admin=user.is_admin,
                    created_at=user.created_at,
                    sessions_valid_after=user.sessions_valid_after,
                )
            )
            return True

        try:
            return bool(await self._write(q))
        except IntegrityError:
            return False

    async def get_user(self, name: str) -> UserRecord | None:
        row = await self._base._fetchone(_USER, name=name)
        return None if row is None else _user(row)

    async def list_users(self) -> list[UserRecord]:
        def q(conn: Connection) -> list[UserRecord]:
            return [_user(r) for r in conn.execute(select(*a.users.c).order_by(a.users.c.name))]

        return list(await self._read(q))

    async def count_users(self) -> int:
        def q(conn: Connection) -> int:
            return int(conn.execute(select(func.count()).select_from(a.users)).scalar_one())

        return int(await self._read(q))

    async def any_user(self) -> bool:
        return await self._base._fetchone(_ANY_USER) is not None

    async def update_user(
        self,
        name: str,
        *,
        password_hash: str | None = None,
        is_admin: bool | None = None,
        sessions_valid_after: datetime | None = None,
    ) -> bool:
        values: dict[str, Any] = {}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if is_admin is not None:
            values["is_admin"] = is_admin
        if sessions_valid_after is not None:
            values["sessions_valid_after"] = sessions_valid_after
        if not values:
            return await self.get_user(name) is not None

        def q(conn: Connection) -> bool:
            return (
                conn.execute(
                    update(a.users).where(a.users.c.name == name).values(**values)
                ).rowcount
                > 0
            )

        return bool(await self._write(q))

    async def delete_user(self, name: str) -> bool:
        def q(conn: Connection) -> bool:
            found = conn.execute(delete(a.users).where(a.users.c.name == name)).rowcount > 0
            if not found:
                return False  # an organisation of that name is not touched
            conn.execute(
                delete(a.namespaces).where(
                    a.namespaces.c.name == name, a.namespaces.c.kind == "user"
                )
            )
            conn.execute(delete(a.members).where(a.members.c.username == name))
            conn.execute(delete(a.credentials).where(a.credentials.c.owner == name))
            self._delete_robots(conn, name)
            return found

        return bool(await self._write(q))

    async def create_org(self, namespace: NamespaceRecord, owner: str) -> bool:
        def q(conn: Connection) -> bool:
            if conn.execute(
                select(a.namespaces.c.name).where(a.namespaces.c.name == namespace.name)
            ).first():
                return False
            conn.execute(
                insert(a.namespaces).values(
                    name=namespace.name,
                    kind="org",
                    default_private=namespace.default_private,
                    created_at=namespace.created_at,
                )
            )
            conn.execute(
                insert(a.members).values(namespace=namespace.name, username=owner, role="owner")
            )
            return True

        try:
            return bool(await self._write(q))
        except IntegrityError:
            return False

    async def get_namespace(self, name: str) -> NamespaceRecord | None:
        row = await self._base._fetchone(_NAMESPACE, name=name)
        return None if row is None else _namespace(row)

    async def list_namespaces(self, kind: str | None = None) -> list[NamespaceRecord]:
        def q(conn: Connection) -> list[NamespaceRecord]:
            stmt = select(*a.namespaces.c).order_by(a.namespaces.c.name)
            if kind is not None:
                stmt = stmt.where(a.namespaces.c.kind == kind)
            return [_namespace(r) for r in conn.execute(stmt)]

        return list(await self._read(q))

    async def set_namespace_default(self, name: str, private: bool) -> bool:
        def q(conn: Connection) -> bool:
            stmt = (
                update(a.namespaces)
                .where(a.namespaces.c.name == name)
                .values(default_private=private)
            )
            return conn.execute(stmt).rowcount > 0

        return bool(await self._write(q))

    @staticmethod
    def _delete_robots(conn: Connection, namespace: str) -> None:
        """A namespace's robots go with it, secrets and all: a later namespace of the
        same name must not inherit them."""
        names = select(a.robots.c.name).where(a.robots.c.namespace == namespace)
        conn.execute(delete(a.credentials).where(a.credentials.c.owner.in_(names)))
        conn.execute(delete(a.robots).where(a.robots.c.namespace == namespace))

    async def delete_org(self, name: str) -> bool:
        def q(conn: Connection) -> bool:
            found = (
                conn.execute(
                    delete(a.namespaces).where(
                        a.namespaces.c.name == name, a.namespaces.c.kind == "org"
                    )
                ).rowcount
                > 0
            )
            if found:
                conn.execute(delete(a.members).where(a.members.c.namespace == name))
                self._delete_robots(conn, name)
            return found

        return bool(await self._write(q))

    # -- members ----------------------------------------------------------------------

    async def member_role(self, namespace: str, username: str) -> str | None:
        row = await self._base._fetchone(_ROLE, ns=namespace, user=username)
        return None if row is None else str(row[0])

    async def set_member(self, namespace: str, username: str, role: str | None) -> None:
        def q(conn: Connection) -> None:
            conn.execute(
                delete(a.members).where(
                    a.members.c.namespace == namespace, a.members.c.username == username
                )
            )
            if role is not None:
                conn.execute(
                    insert(a.members).values(namespace=namespace, username=username, role=role)
                )

        await self._write(q)

    async def list_members(self, namespace: str) -> list[MemberRecord]:
        def q(conn: Connection) -> list[MemberRecord]:
            stmt = (
                select(*a.members.c)
                .where(a.members.c.namespace == namespace)
                .order_by(a.members.c.username)
            )
            return [MemberRecord(r.namespace, r.username, r.role) for r in conn.execute(stmt)]

        return list(await self._read(q))

    async def memberships(self, username: str) -> list[MemberRecord]:
        def q(conn: Connection) -> list[MemberRecord]:
            stmt = (
                select(*a.members.c)
                .where(a.members.c.username == username)
                .order_by(a.members.c.namespace)
            )
            return [MemberRecord(r.namespace, r.username, r.role) for r in conn.execute(stmt)]

        return list(await self._read(q))

    # -- repositories -----------------------------------------------------------------

    async def repository_private(self, name: str) -> bool | None:
        found = await self.repository_settings(name)
        return None if found is None else found.private

    async def set_repository_private(self, name: str, private: bool, *, only_new: bool) -> None:
        def q(conn: Connection) -> None:
            table = a.repository_settings
            exists = conn.execute(select(table.c.name).where(table.c.name == name)).first()
            if exists is None:
                conn.execute(insert(table).values(name=name, private=private))
            elif not only_new:
                conn.execute(update(table).where(table.c.name == name).values(private=private))

        try:
            await self._write(q)
        except IntegrityError:
            if not only_new:
                raise

    async def repository_settings(self, name: str) -> RepositorySettings | None:
        row = await self._base._fetchone(_REPO_SETTINGS, name=name)
        return None if row is None else _repo_settings(row)

    async def put_repository_settings(
        self, settings: RepositorySettings, *, only_new: bool
    ) -> bool:
        values = {
            "private": settings.private,
            "tag_mutability": settings.tag_mutability,
            "mutability_filters": json.dumps(list(settings.mutability_filters))
            if settings.mutability_filters
            else None,
            "latest_tag": settings.latest_tag,
            "lifecycle_policy": settings.lifecycle_policy,
        }

        def q(conn: Connection) -> bool:
            table = a.repository_settings
            exists = conn.execute(select(table.c.name).where(table.c.name == settings.name)).first()
            if exists is None:
                conn.execute(insert(table).values(name=settings.name, **values))
                return True
            if only_new:
                return False
            conn.execute(update(table).where(table.c.name == settings.name).values(**values))
            return True

        try:
            return bool(await self._write(q))
        except IntegrityError:
            if only_new:
                return False
            raise

    async def delete_repository_settings(self, name: str) -> None:
        def q(conn: Connection) -> None:
            table = a.repository_settings
            conn.execute(delete(table).where(table.c.name == name))

        await self._write(q)

    async def repositories_with_policy(self) -> list[str]:
        def q(conn: Connection) -> list[str]:
            table = a.repository_settings
            stmt = select(table.c.name).where(table.c.lifecycle_policy.is_not(None))
            return list(conn.execute(stmt.order_by(table.c.name)).scalars())

        return list(await self._read(q))

    async def set_namespace_quota(self, name: str, quota_bytes: int | None) -> bool:
        def q(conn: Connection) -> bool:
            stmt = (
                update(a.namespaces)
                .where(a.namespaces.c.name == name)
                .values(quota_bytes=quota_bytes)
            )
            return conn.execute(stmt).rowcount > 0

        return bool(await self._write(q))

    async def set_namespace_template(self, name: str, template: str | None) -> bool:
        def q(conn: Connection) -> bool:
            stmt = update(a.namespaces).where(a.namespaces.c.name == name).values(template=template)
            return conn.execute(stmt).rowcount > 0

        return bool(await self._write(q))

    # -- credentials ------------------------------------------------------------------

    async def add_credential(self, cred: CredentialRecord) -> None:
        def q(conn: Connection) -> None:
            conn.execute(insert(a.credentials).values(**self._cred_values(cred)))

        await self._write(q)

    @staticmethod
    def _cred_values(cred: CredentialRecord) -> dict[str, Any]:
        return {
            "id": cred.id,
            "kind": cred.kind,
            "owner": cred.owner,
            "name": cred.name,
            "secret_digest": cred.secret_digest,
            "scopes": _scopes_json(cred.scopes),
            "created_at": cred.created_at,
            "expires_at": cred.expires_at,
            "revoked_at": cred.revoked_at,
            "parent_id": cred.parent_id,
            "last_used_at": cred.last_used_at,
        }

    async def get_credential(self, cred_id: str) -> CredentialRecord | None:
        row = await self._base._fetchone(_CREDENTIAL, id=cred_id)
        return None if row is None else _credential(row)

    async def list_credentials(self, owner: str, kind: str | None = None) -> list[CredentialRecord]:
        def q(conn: Connection) -> list[CredentialRecord]:
            stmt = select(*a.credentials.c).where(a.credentials.c.owner == owner)
            if kind is not None:
                stmt = stmt.where(a.credentials.c.kind == kind)
            stmt = stmt.order_by(a.credentials.c.created_at, a.credentials.c.id)
            return [_credential(r) for r in conn.execute(stmt)]

        return list(await self._read(q))

    async def revoke_credential(self, cred_id: str, at: datetime) -> bool:
        def q(conn: Connection) -> bool:
            stmt = (
                update(a.credentials)
                .where(a.credentials.c.id == cred_id, a.credentials.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            return conn.execute(stmt).rowcount > 0

        return bool(await self._write(q))

    async def touch_credential(self, cred_id: str, at: datetime) -> None:
        def q(conn: Connection) -> None:
            conn.execute(
                update(a.credentials).where(a.credentials.c.id == cred_id).values(last_used_at=at)
            )

        await self._write(q)

    # -- robots -----------------------------------------------------------------------

    async def add_robot(self, robot: RobotRecord, cred: CredentialRecord) -> bool:
        def q(conn: Connection) -> bool:
            if conn.execute(select(a.robots.c.name).where(a.robots.c.name == robot.name)).first():
                return False
            conn.execute(insert(a.credentials).values(**self._cred_values(cred)))
            conn.execute(
                insert(a.robots).values(
                    name=robot.name,
                    namespace=robot.namespace,
                    description=robot.description,
                    credential_id=robot.credential_id,
                    created_at=robot.created_at,
                )
            )
            return True

        try:
            return bool(await self._write(q))
        except IntegrityError:
            return False

    async def get_robot(self, name: str) -> RobotRecord | None:
        # Asked on every request a robot's token makes: an inline lookup on SQLite.
        row = await self._base._fetchone(_ROBOT, name=name)
        return None if row is None else _robot(row)

    async def list_robots(self, namespace: str) -> list[RobotRecord]:
        def q(conn: Connection) -> list[RobotRecord]:
            stmt = (
                select(*a.robots.c)
                .where(a.robots.c.namespace == namespace)
                .order_by(a.robots.c.name)
            )
            return [_robot(r) for r in conn.execute(stmt)]

        return list(await self._read(q))

    async def delete_robot(self, name: str, at: datetime) -> bool:
        def q(conn: Connection) -> bool:
            row = conn.execute(
                select(a.robots.c.credential_id).where(a.robots.c.name == name)
            ).first()
            if row is None:
                return False
            conn.execute(delete(a.robots).where(a.robots.c.name == name))
            conn.execute(
                update(a.credentials)
                .where(a.credentials.c.owner == name, a.credentials.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            return True

        return bool(await self._write(q))

    # -- signing key ------------------------------------------------------------------

    async def signing_key(self, make_pem: Callable[[], str]) -> tuple[str, str]:
        # One row under a fixed name: workers starting together on PostgreSQL cannot
        # each store their own key (the loser's insert conflicts and is retried).
        def q(conn: Connection) -> tuple[str, str]:
            table = a.signing_keys
            row = conn.execute(
                select(table.c.private_pem, table.c.created_at).where(table.c.id == _KEY_NAME)
            ).first()
            if row is not None:
                return _key_id(str(row[0])), str(row[0])
            pem = make_pem()
            conn.execute(insert(table).values(id=_KEY_NAME, private_pem=pem, created_at=_now()))
            return _key_id(pem), pem

        result: tuple[str, str] = await self._write(q)
        return result

    # -- failed logins ----------------------------------------------------------------

    async def add_failure(self, keys: list[str], window: int) -> None:
        def q(conn: Connection) -> None:
            table = a.auth_failures
            conn.execute(delete(table).where(table.c.window < window - 1))
            for key in keys:
                changed = conn.execute(
                    update(table)
                    .where(table.c.key == key, table.c.window == window)
                    .values(count=table.c.count + 1)
                ).rowcount
                if not changed:
                    conn.execute(insert(table).values(key=key, window=window, count=1))

        await self._write(q)

    async def failures(self, keys: list[str], window: int) -> dict[str, int]:
        def q(conn: Connection) -> dict[str, int]:
            table = a.auth_failures
            rows = conn.execute(
                select(table.c.key, func.sum(table.c.count))
                .where(table.c.key.in_(keys), table.c.window >= window - 1)
                .group_by(table.c.key)
            )
            return {str(k): int(v) for k, v in rows}

        return dict(await self._read(q))
