"""Repositories as things people manage: creation (on push, or explicitly first, as
ECR), visibility, tag mutability and the ``latest`` rule, namespace templates.

Tag mutability follows ECR: ``MUTABLE``, ``IMMUTABLE``, and the ``*_WITH_EXCLUSION``
forms whose wildcard filters (at most five) name the tags that behave the other way.
An immutable tag cannot be moved to another manifest or deleted; pushing the same
digest to it again is fine.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, replace

from cargohold.config import RepositoryPolicySettings
from cargohold.core.access import Access, Principal
from cargohold.errors import (
    Conflict,
    Denied,
    NameUnknown,
    RequestInvalid,
    TagImmutable,
)
from cargohold.formats.lifecycle import parse_policy
from cargohold.metadata.accounts import AccountStore, RepositorySettings
from cargohold.metadata.store import MetadataStore, RepositoryRecord
from cargohold.types import check_name

MUTABILITIES = ("MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")
LATEST_RULES = ("allow", "warn", "refuse")
MAX_FILTERS = 5
_FILTER_RE = re.compile(r"[0-9a-zA-Z._*-]{1,128}")
_TEMPLATE_KEYS = {"tag_mutability", "mutability_filters", "latest_tag", "lifecycle_policy"}


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    settings: RepositorySettings
    record: RepositoryRecord | None  # None: created settings, nothing pushed yet


@dataclass(frozen=True, slots=True)
class TagWrite:
    """What the rules say about writing a tag: fixed tags may not move."""

    fixed: bool
    warnings: tuple[str, ...] = ()


def check_mutability(mutability: str, filters: tuple[str, ...]) -> None:
    if mutability not in MUTABILITIES:
        raise RequestInvalid(f"tag mutability must be one of {', '.join(MUTABILITIES)}")
    if mutability.endswith("_WITH_EXCLUSION"):
        if not 1 <= len(filters) <= MAX_FILTERS:
            raise RequestInvalid(f"{mutability} needs 1 to {MAX_FILTERS} exclusion filters")
    elif filters:
        raise RequestInvalid(f"exclusion filters only go with *_WITH_EXCLUSION, not {mutability}")
    for f in filters:
        if not _FILTER_RE.fullmatch(f):
            raise RequestInvalid(
                f"invalid filter {f[:130]!r}: 1-128 characters of letters, digits, . _ - and *"
            )


def tag_fixed(settings: RepositorySettings, tag: str) -> bool:
    """Whether ``tag`` is immutable under the repository's rules."""
    excluded = any(fnmatch.fnmatchcase(tag, f) for f in settings.mutability_filters)
    mode = settings.tag_mutability
    if mode == "IMMUTABLE":
        return True
    if mode == "IMMUTABLE_WITH_EXCLUSION":
        return not excluded
    if mode == "MUTABLE_WITH_EXCLUSION":
        return excluded
    return False


def parse_template(text: str | None) -> dict[str, object]:
    return dict(json.loads(text)) if text else {}


class Repositories:
    def __init__(
        self,
        store: MetadataStore,
        accounts: AccountStore,
        access: Access,
        policy: RepositoryPolicySettings,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.access = access
        self.policy = policy

    # -- the push path ----------------------------------------------------------------

    async def prepare_push(self, name: str) -> None:
        """Before a push starts: refuse it when repositories must be created first,
        and give a repository being created its namespace's settings."""
        if await self.store.repository_exists(name):
            return
        settings = await self.accounts.repository_settings(name)
        if not self.policy.create_on_push and settings is None:
            raise NameUnknown(
                f"repository {name} does not exist: this registry creates repositories "
                f"explicitly; run `cargohold repo create {name}` first",
                detail={"name": name},
            )
        if settings is None:
            await self.accounts.put_repository_settings(await self._defaults(name), only_new=True)

    async def admit(self, repository: str, digest: str, size: int) -> None:
        """Refuse a blob that would take its namespace past its quota (a blob the
        namespace already stores costs nothing more)."""
        await self.admit_namespace(repository.split("/", 1)[0], digest, size)

    async def admit_namespace(self, namespace: str, digest: str | None, size: int) -> None:
        """The quota check for ``size`` more bytes in ``namespace`` (``digest``:
        free if the namespace's images already store it)."""
        ns = await self.accounts.get_namespace(namespace)
        if ns is None or ns.quota_bytes is None:
            return
        usage, present = await self.store.namespace_usage(namespace, digest)
        if not present and usage + size > ns.quota_bytes:
            raise Denied(
                f"namespace {namespace} would exceed its storage quota: "
                f"{usage} bytes used + {size} > {ns.quota_bytes} bytes",
                detail={"quota": ns.quota_bytes, "usage": usage, "size": size},
            )

    async def usage(self, actor: Principal, namespace: str) -> tuple[int, int | None]:
        """Bytes a namespace stores, and its quota (None: none)."""
        ns = await self.accounts.get_namespace(namespace)
        if ns is None:
            raise RequestInvalid(f"no user or organisation named {namespace!r}")
        member = actor.is_admin or actor.name == namespace
        if not member and await self.accounts.member_role(namespace, actor.name) is None:
            raise Denied(f"only members of {namespace!r} may see its usage")
        return (await self.store.namespace_usage(namespace))[0], ns.quota_bytes

    async def set_quota(self, actor: Principal, namespace: str, quota: int | None) -> None:
        if not actor.is_admin or actor.scopes is not None:
            raise Denied("only an administrator may set quotas")
        if quota is not None and quota < 0:
            raise RequestInvalid("a quota is a number of bytes, 0 or more")
        if not await self.accounts.set_namespace_quota(namespace, quota):
            raise RequestInvalid(f"no user or organisation named {namespace!r}")

    async def _defaults(self, name: str) -> RepositorySettings:
        ns = await self.accounts.get_namespace(name.split("/", 1)[0])
        template = parse_template(ns.template if ns else None)
        filters = template.get("mutability_filters") or ()
        latest = template.get("latest_tag")
        policy = template.get("lifecycle_policy")
        return RepositorySettings(
            name=name,
            private=bool(ns and ns.default_private),
            tag_mutability=str(template.get("tag_mutability") or "MUTABLE"),
            mutability_filters=tuple(map(str, filters)),  # type: ignore[call-overload]
            latest_tag=str(latest) if latest else None,
            lifecycle_policy=str(policy) if policy else None,
        )

    async def settings(self, name: str) -> RepositorySettings:
        """The repository's settings, or what a new one there would get."""
        found = await self.accounts.repository_settings(name)
        return found if found is not None else await self._defaults(name)

    async def tag_write(self, name: str, tag: str) -> TagWrite:
        """The rules for pushing ``tag``: refuse ``latest`` where that is the rule."""
        settings = await self.settings(name)
        warnings: tuple[str, ...] = ()
        if tag == "latest":
            rule = settings.latest_tag or self.policy.latest_tag
            message = (
                f"the tag 'latest' is not allowed in {name}: push a version tag and pin "
                "deployments by digest"
            )
            if rule == "refuse":
                raise TagImmutable(message, detail={"tag": tag})
            if rule == "warn":
                warnings = ("tags named 'latest' move under deployments: prefer version tags",)
        return TagWrite(tag_fixed(settings, tag), warnings)

    async def check_tag_delete(self, name: str, tags: list[str]) -> None:
        settings = await self.accounts.repository_settings(name)
        if settings is None:
            return
        for tag in tags:
            if tag_fixed(settings, tag):
                raise TagImmutable(
                    f"tag {tag!r} in {name!r} is immutable ({settings.tag_mutability}) "
                    "and cannot be deleted",
                    detail={"tag": tag},
                )

    # -- management -------------------------------------------------------------------

    async def _require(self, actor: Principal, name: str, *actions: str) -> None:
        granted = await self.access.actions(actor, name)
        if not set(actions) <= granted:
            if "pull" not in granted:
                raise NameUnknown(f"no repository named {name!r}", detail={"name": name})
            raise Denied(f"you may not {' and '.join(actions)} {name!r}")

    async def create(
        self,
        actor: Principal,
        name: str,
        *,
        private: bool | None = None,
        tag_mutability: str | None = None,
        mutability_filters: tuple[str, ...] = (),
    ) -> RepositoryInfo:
        check_name(name)
        await self._require(actor, name, "push")
        settings = await self._defaults(name)
        if private is not None:
            settings = replace(settings, private=private)
        if tag_mutability is not None:
            check_mutability(tag_mutability, mutability_filters)
            settings = replace(
                settings, tag_mutability=tag_mutability, mutability_filters=mutability_filters
            )
        if not await self.store.create_repository(name):
            raise Conflict(f"repository {name} exists")
        await self.accounts.put_repository_settings(settings, only_new=False)
        return RepositoryInfo(settings, await self.store.describe_repository(name))

    async def describe(self, actor: Principal, name: str) -> RepositoryInfo:
        check_name(name)
        await self._require(actor, name, "pull")
        record = await self.store.describe_repository(name)
        settings = await self.accounts.repository_settings(name)
        if record is None and settings is None:
            raise NameUnknown(f"no repository named {name!r}", detail={"name": name})
        return RepositoryInfo(settings or await self._defaults(name), record)

    async def list(self, actor: Principal, limit: int = 1000) -> list[RepositoryInfo]:
        """Repositories the caller may pull, by name."""
        found: list[RepositoryInfo] = []
        last: str | None = None
        while len(found) < limit:
            names = await self.store.list_repositories(last, 200)
            for name in names:
                if "pull" in await self.access.actions(actor, name):
                    found.append(
                        RepositoryInfo(
                            await self.settings(name), await self.store.describe_repository(name)
                        )
                    )
            if len(names) < 200:
                break
            last = names[-1]
        return found[:limit]

    async def delete(self, actor: Principal, name: str, *, force: bool = False) -> None:
        """Delete a repository; one with images only with ``force`` (as ECR)."""
        check_name(name)
        await self._require(actor, name, "delete")
        record = await self.store.describe_repository(name)
        if record is None:
            if await self.accounts.repository_settings(name) is None:
                raise NameUnknown(f"no repository named {name!r}", detail={"name": name})
        elif record.manifest_count and not force:
            raise Conflict(
                f"repository {name} holds {record.manifest_count} manifest(s); "
                "delete them first or use --force"
            )
        # As ECR's delete-repository --force: immutable tags go with the repository.
        await self.store.delete_repository(name)
        await self.accounts.delete_repository_settings(name)

    async def set_tag_mutability(
        self, actor: Principal, name: str, mutability: str, filters: tuple[str, ...]
    ) -> RepositorySettings:
        check_name(name)
        check_mutability(mutability, filters)
        await self._require(actor, name, "push", "delete")
        settings = replace(
            await self.settings(name), tag_mutability=mutability, mutability_filters=filters
        )
        await self.accounts.put_repository_settings(settings, only_new=False)
        return settings

    async def set_template(
        self, actor: Principal, namespace: str, template: dict[str, object]
    ) -> dict[str, object]:
        """Settings for repositories created in ``namespace`` from now on."""
        unknown = set(template) - _TEMPLATE_KEYS
        if unknown:
            raise RequestInvalid(f"unknown template setting {sorted(unknown)[0]!r}")
        mutability = str(template.get("tag_mutability") or "MUTABLE")
        raw_filters = template.get("mutability_filters") or []
        if not isinstance(raw_filters, list):
            raise RequestInvalid("mutability_filters is a list of wildcard patterns")
        check_mutability(mutability, tuple(map(str, raw_filters)))
        latest = template.get("latest_tag")
        if latest is not None and latest not in LATEST_RULES:
            raise RequestInvalid(f"latest_tag must be one of {', '.join(LATEST_RULES)}")
        policy = template.get("lifecycle_policy")
        if policy is not None:
            parse_policy(str(policy))
        ns = await self.accounts.get_namespace(namespace)
        if ns is None:
            raise RequestInvalid(f"no user or organisation named {namespace!r}")
        if actor.kind != "user" or actor.scopes is not None:
            raise Denied("setting a template needs your account's full rights")
        owner = actor.is_admin or actor.name == namespace
        if not owner and await self.accounts.member_role(namespace, actor.name) != "owner":
            raise Denied(f"only an owner of {namespace!r} may set its template")
        clean = {k: v for k, v in template.items() if v not in (None, [], "")}
        await self.accounts.set_namespace_template(namespace, json.dumps(clean) if clean else None)
        return clean
