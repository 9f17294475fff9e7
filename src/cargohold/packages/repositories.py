"""Hosted package repositories: creation, settings, and who may do what.

A package repository has a global name (``maven-releases``, as in Nexus) and an
owning namespace, whose owners and maintainers may write and delete and whose
readers may read, exactly as for the namespace's images. Robot and token scopes
are matched against ``NAMESPACE/NAME``. A public repository is readable by
everyone (anonymous too unless `auth.anonymous_pull` is off).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from cargohold.core.access import Access, Principal
from cargohold.errors import Conflict, Denied, RequestInvalid, ResourceUnknown, Unauthorized
from cargohold.metadata.accounts import AccountStore
from cargohold.metadata.packages import (
    FORMATS,
    VERSION_POLICIES,
    WRITE_POLICIES,
    PackageRepositoryRecord,
    PackageStore,
)

_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


def check_repository_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name) or ".." in name:
        raise RequestInvalid(
            f"invalid repository name {name[:80]!r}: 1 to 64 lower-case letters, digits, "
            "'.', '_' or '-', starting and ending with a letter or digit"
        )
    return name


class PackageRepositories:
    def __init__(self, store: PackageStore, accounts: AccountStore, access: Access) -> None:
        self.store = store
        self.accounts = accounts
        self.access = access

    async def rights(self, principal: Principal, repo: PackageRepositoryRecord) -> frozenset[str]:
        return await self.access.package_actions(principal, repo.namespace, repo.name, repo.private)

    async def resolve(
        self, principal: Principal, name: str, action: str
    ) -> PackageRepositoryRecord:
        """The repository, if ``principal`` may ``action`` (pull, push, delete) on it.

        Anonymous callers are asked to log in whether or not the repository exists;
        a logged-in caller who may not read it hears it does not exist; one who may
        read but not write is denied."""
        repo = await self.store.get_package_repository(name)
        rights = await self.rights(principal, repo) if repo is not None else frozenset[str]()
        if repo is not None and action in rights:
            return repo
        if principal.anonymous:
            raise Unauthorized("authentication required")
        if repo is None or "pull" not in rights:
            raise ResourceUnknown(f"no repository named {name[:80]!r}")
        raise Denied(f"{principal.name} may not {action} in repository {name}")

    async def writable(
        self, principal: Principal, name: str, action: str
    ) -> PackageRepositoryRecord:
        """`resolve` for a change (push or delete): a read-only repository refuses."""
        repo = await self.resolve(principal, name, action)
        if repo.write_policy == "readonly":
            raise Denied(f"repository {repo.name} is read-only")
        return repo

    async def _may_manage(self, actor: Principal, namespace: str) -> bool:
        if actor.anonymous or actor.kind == "robot":
            return False
        if actor.is_admin and actor.scopes is None:
            return True
        if actor.scopes is not None:
            return False
        if namespace == actor.name:
            return True
        return await self.accounts.member_role(namespace, actor.name) in ("owner", "maintainer")

    async def create(
        self,
        actor: Principal,
        name: str,
        format: str,
        namespace: str | None = None,
        private: bool | None = None,
        write_policy: str | None = None,
        version_policy: str | None = None,
    ) -> PackageRepositoryRecord:
        check_repository_name(name)
        if format not in FORMATS:
            raise RequestInvalid(f"unknown format {format!r}: one of {', '.join(FORMATS)}")
        namespace = namespace or actor.name
        ns = await self.accounts.get_namespace(namespace) if namespace else None
        if ns is None:
            raise RequestInvalid(f"no user or organisation named {namespace!r}")
        if not await self._may_manage(actor, namespace):
            raise Denied(f"only owners and maintainers of {namespace!r} may create repositories")
        if version_policy is None:
            version_policy = "release" if format == "maven" else "mixed"
        if version_policy not in VERSION_POLICIES:
            raise RequestInvalid(f"version policy must be one of {', '.join(VERSION_POLICIES)}")
        if format != "maven" and version_policy != "mixed":
            raise RequestInvalid("only Maven repositories have a release/snapshot policy")
        if write_policy is None:
            # Nexus's defaults: releases are written once, snapshots are redeployed.
            write_policy = "allow" if version_policy == "snapshot" else "deny"
        if write_policy not in WRITE_POLICIES:
            raise RequestInvalid(f"write policy must be one of {', '.join(WRITE_POLICIES)}")
        record = PackageRepositoryRecord(
            name=name,
            format=format,
            namespace=namespace,
            private=ns.default_private if private is None else private,
            write_policy=write_policy,
            version_policy=version_policy,
            created_at=datetime.now(UTC),
        )
        if not await self.store.create_package_repository(record):
            raise Conflict(f"a repository named {name!r} exists")
        return record

    async def get(self, actor: Principal, name: str) -> PackageRepositoryRecord:
        return await self.resolve(actor, name, "pull")

    async def list(self, actor: Principal) -> list[PackageRepositoryRecord]:
        out = []
        for repo in await self.store.list_package_repositories():
            if "pull" in await self.rights(actor, repo):
                out.append(repo)
        return out

    async def update(
        self,
        actor: Principal,
        name: str,
        private: bool | None = None,
        write_policy: str | None = None,
    ) -> PackageRepositoryRecord:
        repo = await self.resolve(actor, name, "pull")
        if not await self._may_manage(actor, repo.namespace):
            raise Denied(f"only owners and maintainers of {repo.namespace!r} may change {name}")
        if write_policy is not None and write_policy not in WRITE_POLICIES:
            raise RequestInvalid(f"write policy must be one of {', '.join(WRITE_POLICIES)}")
        changes: dict[str, object] = {}
        if private is not None:
            changes["private"] = private
        if write_policy is not None:
            changes["write_policy"] = write_policy
        if changes:
            await self.store.update_package_repository(name, changes)
        return replace(repo, **changes)  # type: ignore[arg-type]

    async def set_cleanup_policy(
        self, actor: Principal, name: str, policy: str | None
    ) -> PackageRepositoryRecord:
        repo = await self.resolve(actor, name, "pull")
        if not await self._may_manage(actor, repo.namespace):
            raise Denied(f"only owners and maintainers of {repo.namespace!r} may change {name}")
        await self.store.update_package_repository(name, {"cleanup_policy": policy})
        return replace(repo, cleanup_policy=policy)

    async def delete(self, actor: Principal, name: str) -> None:
        repo = await self.resolve(actor, name, "pull")
        if not await self._may_manage(actor, repo.namespace):
            raise Denied(f"only owners and maintainers of {repo.namespace!r} may delete {name}")
        await self.store.delete_package_repository(name)
