"""Lifecycle policies on repositories: store, preview, run (on demand and on a
schedule), and the record of every run.

Expired images go to the recycle bin, not away: a run is undone with
`cargohold trash restore`. Images referenced by an index in the repository, and
referrers (signatures, SBOMs), are not judged on their own; they follow what
refers to them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from cargohold.core.access import Access, Principal
from cargohold.core.lifecycle import Expiry, ImageInfo, evaluate
from cargohold.core.repositories import Repositories
from cargohold.errors import Denied, NameUnknown, RequestInvalid
from cargohold.formats.lifecycle import parse_policy
from cargohold.metadata.accounts import AccountStore, RepositorySettings
from cargohold.metadata.governance import GovernanceStore, LifecycleRun, TrashRecord
from cargohold.types import check_name

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _entry_bytes(entry: TrashRecord) -> int:
    blobs = (entry.refs or {}).get("blob") or {}
    size = (entry.manifest or {}).get("size")
    return (size if isinstance(size, int) else 0) + sum(int(v) for v in blobs.values())


@dataclass(frozen=True, slots=True)
class Preview:
    repository: str
    expiries: tuple[Expiry, ...]
    sizes: dict[str, int]


class LifecyclePolicies:
    def __init__(
        self,
        accounts: AccountStore,
        governance: GovernanceStore,
        access: Access,
        repositories: Repositories,
    ) -> None:
        self.accounts = accounts
        self.governance = governance
        self.access = access
        self.repositories = repositories

    async def _require(self, actor: Principal | None, name: str, *actions: str) -> None:
        check_name(name)
        if actor is None:
            return  # the server's own schedule
        granted = await self.access.actions(actor, name)
        if "pull" not in granted:
            raise NameUnknown(f"no repository named {name!r}", detail={"name": name})
        if not set(actions) <= granted:
            raise Denied(f"you may not change the lifecycle policy of {name!r}")

    async def _settings(self, name: str) -> RepositorySettings:
        # Never-set settings are the namespace's defaults (a private default stays
        # private when a policy is the first setting written).
        return await self.repositories.settings(name)

    async def put(self, actor: Principal, name: str, text: str) -> str:
        """Validate and store a policy as given (ECR hands back the text as stored)."""
        await self._require(actor, name, "push", "delete")
        parse_policy(text)
        settings = await self._settings(name)
        await self.accounts.put_repository_settings(
            replace(settings, lifecycle_policy=text), only_new=False
        )
        return text

    async def get(self, actor: Principal, name: str) -> str:
        await self._require(actor, name, "pull")
        policy = (await self._settings(name)).lifecycle_policy
        if policy is None:
            raise NameUnknown(f"repository {name} has no lifecycle policy", detail={"name": name})
        return policy

    async def delete(self, actor: Principal, name: str) -> None:
        await self._require(actor, name, "push", "delete")
        settings = await self._settings(name)
        if settings.lifecycle_policy is None:
            raise NameUnknown(f"repository {name} has no lifecycle policy")
        await self.accounts.put_repository_settings(
            replace(settings, lifecycle_policy=None), only_new=False
        )

    async def preview(self, actor: Principal | None, name: str, text: str | None = None) -> Preview:
        """What a run would expire now, with the rule that selects each image; with
        ``text``, for that policy instead of the stored one."""
        await self._require(actor, name, "pull")
        if text is None:
            text = (await self._settings(name)).lifecycle_policy
            if text is None:
                raise RequestInvalid(f"repository {name} has no lifecycle policy to preview")
        policy = parse_policy(text)
        images = await self.governance.list_images(name)
        infos = [ImageInfo(i.digest, i.tags, i.pushed_at, i.last_pulled_at) for i in images]
        expiries = evaluate(policy, infos, _now())
        return Preview(name, tuple(expiries), {i.digest: i.size for i in images})

    async def run(
        self, actor: Principal | None, name: str, trigger: str = "manual"
    ) -> LifecycleRun:
        """Expire what the stored policy selects, into the recycle bin, and record it."""
        await self._require(actor, name, "push", "delete")
        started = _now()
        preview = await self.preview(None, name)
        expired: list[dict[str, object]] = []
        freed = 0
        by = actor.name if actor else "lifecycle"
        for expiry in preview.expiries:
            reason = f"lifecycle rule {expiry.rule_priority}"
            entry = await self.governance.trash_manifest(name, expiry.digest, by=by, reason=reason)
            if entry is None:
                continue  # deleted meanwhile
            freed += preview.sizes.get(expiry.digest, 0)
            expired.append(
                {
                    "digest": expiry.digest,
                    "tags": list(expiry.tags),
                    "rulePriority": expiry.rule_priority,
                    "pushedAt": expiry.pushed_at.isoformat(),
                    "trashId": entry.id,
                }
            )
            for follower in await self._followers(name, entry, by, reason):
                freed += _entry_bytes(follower)
                expired.append(
                    {
                        "digest": follower.digest,
                        "tags": list(follower.tags),
                        "rulePriority": expiry.rule_priority,
                        "followed": expiry.digest,
                        "trashId": follower.id,
                    }
                )
        run = LifecycleRun(name, started, _now(), trigger, tuple(expired), freed)
        run_id = await self.governance.add_lifecycle_run(run)
        if expired:
            log.info("lifecycle run on %s expired %d image(s)", name, len(expired))
        return LifecycleRun(
            name, run.started_at, run.finished_at, trigger, run.expired, freed, run_id
        )

    async def _followers(
        self, name: str, entry: TrashRecord, by: str, reason: str
    ) -> list[TrashRecord]:
        """What follows an expired image into the bin: its referrers (signatures,
        SBOMs) and, for an index, the child manifests no other index still names."""
        followers: list[TrashRecord] = []
        pending = [entry]
        while pending:
            current = pending.pop()
            candidates = [
                r.digest for r in await self.access.store.referrers(name, current.digest, None)
            ]
            for child in (current.refs or {}).get("manifest") or []:
                if not await self.governance.manifest_referenced(name, child):
                    candidates.append(child)
            for digest in candidates:
                moved = await self.governance.trash_manifest(
                    name, digest, by=by, reason=f"{reason} (follows {current.digest[:19]})"
                )
                if moved is not None:
                    followers.append(moved)
                    pending.append(moved)
        return followers

    async def runs(self, actor: Principal, name: str) -> list[LifecycleRun]:
        await self._require(actor, name, "pull")
        return await self.governance.lifecycle_runs(name)

    async def run_all(self) -> list[LifecycleRun]:
        """Every repository with a policy, as the schedule does."""
        done = []
        for name in await self.accounts.repositories_with_policy():
            try:
                done.append(await self.run(None, name, "schedule"))
            except Exception:  # one bad repository must not stop the others
                log.exception("lifecycle run on %s failed", name)
        return done


class RecycleBin:
    """Deleted manifests and tags, kept for the retention period, restorable."""

    def __init__(self, governance: GovernanceStore, access: Access, retention: timedelta) -> None:
        self.governance = governance
        self.access = access
        self.retention = retention

    async def entries(self, actor: Principal, repository: str | None = None) -> list[TrashRecord]:
        entries = await self.governance.list_trash(repository)
        if actor.is_admin:
            return list(entries)
        # Who deleted what is for the repository's maintainers, not its readers.
        visible = []
        for entry in entries:
            if {"push", "delete"} <= await self.access.actions(actor, entry.repository):
                visible.append(entry)
        return visible

    async def restore(self, actor: Principal, entry_id: int) -> tuple[TrashRecord, list[str]]:
        entries = {e.id: e for e in await self.governance.list_trash()}
        entry = entries.get(entry_id)
        if entry is None or "pull" not in await self.access.actions(actor, entry.repository):
            raise NameUnknown(f"no entry {entry_id} in the recycle bin")
        if not {"push", "delete"} <= await self.access.actions(actor, entry.repository):
            raise Denied(f"you may not restore into {entry.repository!r}")
        if not await self.access.store.repository_exists(entry.repository):
            # Its settings (visibility, tag rules) went with it: make it again first.
            raise RequestInvalid(
                f"repository {entry.repository} no longer exists: create it "
                f"(`cargohold repo create {entry.repository}`), then restore"
            )
        children = (entry.refs or {}).get("manifest") or []
        missing = [
            d for d in children if await self.access.store.get_manifest(entry.repository, d) is None
        ]
        if missing and await self.access.store.get_manifest(entry.repository, entry.digest) is None:
            raise RequestInvalid(
                f"index {entry.digest} names {len(missing)} manifest(s) no longer in "
                f"{entry.repository}: restore them first ({', '.join(m[:19] for m in missing[:5])})"
            )
        result = await self.governance.restore(entry_id)
        if result is None:
            raise NameUnknown(f"no entry {entry_id} in the recycle bin")
        restored_entry, tags = result
        if restored_entry.manifest is None and not tags:
            raise RequestInvalid(
                f"the manifest of tag {restored_entry.tags[0]!r} is gone too: restore it first"
            )
        return restored_entry, tags

    async def purge(self, now: datetime | None = None) -> int:
        """Forget entries older than the retention; garbage collection may then take
        their blobs."""
        return len(await self.governance.purge_trash((now or _now()) - self.retention))
