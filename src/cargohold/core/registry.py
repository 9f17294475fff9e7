"""The registry's services, built once from settings and handed to the HTTP layer and CLI."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cargohold.config import Settings, upload_id_lifetime
from cargohold.core.access import Access
from cargohold.core.accounts import Accounts
from cargohold.core.blobs import Blobs
from cargohold.core.gc import GarbageCollector
from cargohold.core.listings import Listings
from cargohold.core.manifests import Manifests
from cargohold.core.policies import LifecyclePolicies, RecycleBin
from cargohold.core.repositories import Repositories
from cargohold.core.uploads import UploadIds, Uploads
from cargohold.core.usage import PullRecorder
from cargohold.errors import Conflict
from cargohold.metadata.accounts import AccountStore
from cargohold.metadata.governance import GovernanceStore
from cargohold.metadata.packages import PackageStore
from cargohold.metadata.store import MetadataStore
from cargohold.storage.driver import StorageDriver

if TYPE_CHECKING:
    from cargohold.auth.tokens import TokenSigner

log = logging.getLogger(__name__)


@dataclass
class Registry:
    settings: Settings
    driver: StorageDriver
    store: MetadataStore
    account_store: AccountStore
    blobs: Blobs
    uploads: Uploads
    manifests: Manifests
    listings: Listings
    pulls: PullRecorder
    access: Access
    accounts: Accounts
    repositories: Repositories
    governance: GovernanceStore
    policies: LifecyclePolicies
    trash: RecycleBin
    gc: GarbageCollector
    package_store: PackageStore
    # Jobs of higher layers (package cleanup) run with each scheduled lifecycle round.
    scheduled_jobs: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    _signing_key: tuple[str, str] | None = field(default=None)
    _scheduler: asyncio.Task[None] | None = field(default=None)
    _signer: TokenSigner | None = field(default=None)

    @classmethod
    def build(
        cls,
        driver: StorageDriver,
        store: MetadataStore,
        account_store: AccountStore,
        governance: GovernanceStore,
        package_store: PackageStore,
        settings: Settings,
    ) -> Registry:
        limits = settings.limits
        access = Access(account_store, store, settings.auth)
        repositories = Repositories(store, account_store, access, settings.repositories)
        trash = RecycleBin(
            governance, access, timedelta(days=settings.governance.trash_retention_days)
        )
        return cls(
            settings=settings,
            driver=driver,
            store=store,
            account_store=account_store,
            blobs=Blobs(driver, store, repositories.admit),
            uploads=Uploads(
                driver,
                store,
                limits.upload_chunk_bytes,
                repositories.admit,
                inline_max_bytes=limits.inline_blob_max_bytes,
                ids=UploadIds(lifetime=upload_id_lifetime(settings.gc)),
            ),
            manifests=Manifests(driver, store, limits.max_manifest_bytes, repositories, governance),
            listings=Listings(store),
            pulls=PullRecorder(store, limits.stats_flush_seconds),
            access=access,
            accounts=Accounts(account_store, access, settings.auth, governance, package_store),
            repositories=repositories,
            governance=governance,
            policies=LifecyclePolicies(account_store, governance, access, repositories),
            trash=trash,
            gc=GarbageCollector(driver, governance, trash, settings.gc),
            package_store=package_store,
        )

    async def open(self) -> None:
        await self.store.create_schema()
        from cargohold.auth.keys import generate_private_key_pem

        self._signing_key = await self.account_store.signing_key(generate_private_key_pem)
        # Every worker and replica reads the same key, so each honours the others' ids.
        self.uploads.ids.use_key(
            hashlib.sha256(b"cargohold upload ids\n" + self._signing_key[1].encode()).digest()
        )
        await self._bootstrap_admin()
        self.pulls.start()
        self._scheduler = asyncio.get_running_loop().create_task(self._schedule())

    async def _schedule(self) -> None:
        """Scheduled lifecycle runs (with the package cleanup jobs), recycle-bin purges
        and garbage collection. Every worker and replica runs this loop; leases in the
        database decide who acts: one lease per job lasting its whole interval, so a
        job runs once per interval however many processes there are, and one for the
        round, so two rounds never overlap."""
        governance, gc = self.settings.governance, self.settings.gc
        periods = [p for p in (governance.lifecycle_interval_seconds, gc.interval_seconds) if p]
        tick = min([*periods, 3600.0])
        holder = secrets.token_hex(8)
        started = datetime.now(UTC)
        while True:
            await asyncio.sleep(tick)
            now = datetime.now(UTC)
            try:
                until = now + timedelta(seconds=tick * 0.9)
                if not await self.governance.take_lease("schedule", holder, until, now):
                    continue
                if await self._due("lifecycle", governance.lifecycle_interval_seconds, started):
                    await self.policies.run_all()
                    for job in self.scheduled_jobs:
                        await job()
                if await self._due("gc", gc.interval_seconds, started):
                    await self.gc.run()  # purges the recycle bin first
                else:
                    purged = await self.trash.purge()
                    if purged:
                        log.info("purged %d recycle bin entries past retention", purged)
                    # Also when collection is off: a row per finished upload adds up.
                    await self.gc.forget_ended_uploads()
            except Exception:  # keep the loop alive; the next round tries again
                log.exception("scheduled governance round failed")

    async def _due(self, job: str, interval: float, started: datetime) -> bool:
        """Whether ``job`` should run now: at most once per ``interval`` across all
        processes (a fresh token can only take the lease once the last one expired),
        and not before this process has been up for one interval."""
        if not interval:
            return False
        now = datetime.now(UTC)
        if now - started < timedelta(seconds=interval * 0.99):
            return False
        until = now + timedelta(seconds=interval * 0.99)
        return await self.governance.take_lease(f"due:{job}", secrets.token_hex(8), until, now)

    def token_signer(self) -> TokenSigner:
        """The bearer-token signer, built on first use (JWT and curve code load then)."""
        if self._signer is None:
            from cargohold.auth.tokens import TokenSigner

            assert self._signing_key is not None, "open() the registry first"
            key_id, pem = self._signing_key
            auth = self.settings.auth
            self._signer = TokenSigner(key_id, pem, auth.issuer, auth.service)
        return self._signer

    async def _bootstrap_admin(self) -> None:
        spec = self.settings.auth.bootstrap_admin
        if not spec or await self.account_store.any_user():
            return
        name, sep, password = spec.partition(":")
        if not sep:
            log.error("auth.bootstrap_admin must be USER:PASSWORD; no administrator created")
            return
        try:
            await self.accounts.create_user(None, name, password, admin=True)
            log.info("created the administrator %r from auth.bootstrap_admin", name)
        except Conflict:
            pass  # another worker made it first

    async def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)
        await self.pulls.stop()
        await self.store.close()
