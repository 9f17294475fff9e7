"""Online garbage collection: the registry keeps serving pushes and pulls.

A round, safe against concurrent pushes without any read-only mode:

1. recycle-bin entries past their retention are forgotten;
2. stale links go: a repository's link to a blob that no manifest there uses,
   made longer ago than the grace period (a push uploads its blobs first and
   sends the manifest last; the grace period is how long that may take). Each
   link is removed under a row lock after checking again, and storing a manifest
   re-checks its links under a share lock, so neither can miss the other;
3. blobs nothing needs (no link, no manifest, no recycle-bin entry) and not
   written within the grace period are deleted in two steps: moved aside, checked
   again, then removed, or moved back if a push wrote them meanwhile. Content is
   addressed by digest, so moving back an identical copy is harmless. Small blobs
   kept in the database go in one transaction that checks again under a row lock;
4. uploads untouched for longer than the upload age limit are purged, and the
   records of uploads that ended longer ago are forgotten.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cargohold.config import GcSettings, upload_id_lifetime
from cargohold.core.policies import RecycleBin
from cargohold.metadata.governance import GovernanceStore
from cargohold.storage import layout
from cargohold.storage.driver import PathNotFound, StorageDriver
from cargohold.types import Digest

log = logging.getLogger(__name__)


@dataclass
class GcReport:
    dry_run: bool
    trash_purged: int = 0
    links_removed: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    blobs_kept_recent: int = 0
    uploads_purged: int = 0
    deleted: list[str] = field(default_factory=list)


class GarbageCollector:
    def __init__(
        self,
        driver: StorageDriver,
        governance: GovernanceStore,
        trash: RecycleBin,
        settings: GcSettings,
    ) -> None:
        self.driver = driver
        self.governance = governance
        self.trash = trash
        self.settings = settings

    async def run(self, dry_run: bool = False, grace: timedelta | None = None) -> GcReport:
        """One round; with ``dry_run`` nothing changes and the report says what would."""
        report = GcReport(dry_run)
        grace = grace if grace is not None else timedelta(seconds=self.settings.grace_seconds)
        now = datetime.now(UTC)
        cutoff = now - grace
        # Entries past retention: forgotten now, or (dry run) treated as forgotten.
        trash_since = now - self.trash.retention
        if dry_run:
            report.trash_purged = sum(
                1 for e in await self.governance.list_trash() if e.deleted_at < trash_since
            )
        else:
            report.trash_purged = await self.trash.purge(now)
        stale = await self.governance.stale_links(cutoff, trash_since)
        removed: set[tuple[str, str]] = set()
        for repository, digest in stale:
            if dry_run or await self.governance.unlink_if_unreferenced(repository, digest, cutoff):
                removed.add((repository, digest))
        report.links_removed = len(removed)
        ignore = frozenset(removed) if dry_run else frozenset()
        async for info in self.driver.walk(layout.path_for(layout.BlobsRoot())):
            blob = layout.blob_digest(info.path)
            if blob is None:
                continue
            if info.modified > cutoff.timestamp():
                report.blobs_kept_recent += 1
                continue
            if await self.governance.blob_in_use(str(blob), ignore, trash_since):
                continue
            if dry_run or await self._delete_blob(blob, cutoff, trash_since):
                report.blobs_deleted += 1
                report.bytes_freed += info.size
                report.deleted.append(str(blob))
        report.blobs_kept_recent += await self.governance.count_stored_blobs_since(cutoff)
        files_deleted = set(report.deleted)
        for digest, size in await self.governance.stored_blobs_before(cutoff):
            # A read first, as for files: most rows are in use, and the delete is a
            # write transaction that pushes would queue behind.
            if await self.governance.blob_in_use(digest, ignore, trash_since):
                continue
            if dry_run or await self.governance.delete_stored_blob_if_unused(
                digest, cutoff, trash_since
            ):
                report.bytes_freed += size
                if digest not in files_deleted:  # kept both ways: one blob, two copies
                    report.blobs_deleted += 1
                    report.deleted.append(digest)
        report.uploads_purged = await self._purge_uploads(dry_run)
        if not dry_run:
            await self.forget_ended_uploads()
        if not dry_run and (report.blobs_deleted or report.links_removed):
            log.info(
                "gc: %d links, %d blobs, %d bytes freed, %d uploads purged",
                report.links_removed,
                report.blobs_deleted,
                report.bytes_freed,
                report.uploads_purged,
            )
        return report

    async def forget_ended_uploads(self) -> int:
        """Drop the records of ended uploads whose ids no longer open anything (they
        are kept as long as an upload id with no file is honoured: `UploadIds`)."""
        kept = timedelta(seconds=upload_id_lifetime(self.settings))
        return await self.governance.forget_ended_uploads(datetime.now(UTC) - kept)

    async def _delete_blob(self, digest: Digest, cutoff: datetime, trash_since: datetime) -> bool:
        path = layout.path_for(layout.BlobData(digest))
        hold = layout.path_for(layout.GcHold(digest, secrets.token_hex(6)))
        try:
            await self.driver.move(path, hold)
        except PathNotFound:
            return False
        # Moved aside: a push that wrote the blob just now left a fresh file (the
        # one we moved, or a new one at the path), or linked it in the database.
        fresh = (await self.driver.stat(hold)).modified > cutoff.timestamp()
        if fresh or await self.governance.blob_in_use(str(digest), trash_since=trash_since):
            try:
                await self.driver.stat(path)
                await self.driver.delete(hold)  # a new identical copy is in place
            except PathNotFound:
                await self.driver.move(hold, path)
            return False
        await self.driver.delete(hold)
        return True

    async def _purge_uploads(self, dry_run: bool) -> int:
        limit = time.time() - self.settings.upload_max_age_seconds
        stale: set[str] = set()
        fresh: set[str] = set()
        paths: dict[str, list[str]] = {}
        async for info in self.driver.walk(layout.path_for(layout.UploadsRoot())):
            upload_id = layout.upload_id_of(info.path)
            if upload_id is None:
                continue
            paths.setdefault(upload_id, []).append(info.path)
            (stale if info.modified < limit else fresh).add(upload_id)
        purged = 0
        gone = sorted(stale - fresh)
        if gone and not dry_run:
            # Over, not "nothing written yet": its id must not open it again.
            await self.governance.record_ended_uploads(gone)
        for upload_id in gone:
            purged += 1
            if dry_run:
                continue
            for path in paths[upload_id]:
                with contextlib.suppress(PathNotFound):
                    await self.driver.delete(path)
        return purged
