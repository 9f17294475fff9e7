"""The governance data-access contract: the recycle bin, lifecycle runs, leases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """A top-level manifest as lifecycle policies see it: not a child of an index
    in the repository, not a referrer (those follow their index or subject)."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    last_pulled_at: datetime | None
    size: int  # the manifest and the blobs it names, as ECR's imageSizeInBytes
    media_type: str


@dataclass(frozen=True, slots=True)
class TrashRecord:
    id: int
    repository: str
    kind: str  # "manifest" | "tag"
    digest: str
    tags: tuple[str, ...]
    deleted_at: datetime
    deleted_by: str
    reason: str
    manifest: Mapping[str, object] | None = field(default=None, compare=False)
    # {"blob": {digest: size}, "manifest": [digest, ...]}
    refs: Mapping[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class LifecycleRun:
    repository: str
    started_at: datetime
    finished_at: datetime
    trigger: str
    expired: tuple[Mapping[str, object], ...]
    bytes: int
    id: int | None = None


class GovernanceStore(Protocol):
    async def list_images(self, repository: str) -> list[ImageRecord]: ...

    async def trash_manifest(
        self, repository: str, digest: str, *, by: str, reason: str
    ) -> TrashRecord | None:
        """Move a manifest and its tags to the recycle bin; None if unknown."""
        ...

    async def trash_tag(
        self, repository: str, tag: str, *, by: str, reason: str
    ) -> TrashRecord | None:
        """Move a tag to the recycle bin (its manifest stays); None if unknown."""
        ...

    async def list_trash(self, repository: str | None = None) -> list[TrashRecord]: ...

    async def restore(self, entry_id: int) -> tuple[TrashRecord, list[str]] | None:
        """Put an entry back: the manifest (if gone) and every tag not taken since.
        Returns the entry and the tags restored; None if there is no such entry."""
        ...

    async def purge_trash(self, before: datetime) -> list[TrashRecord]:
        """Forget entries deleted before ``before``; returns them."""
        ...

    async def trashed_digests(self) -> set[str]:
        """Every manifest digest and blob the recycle bin still needs kept."""
        ...

    # garbage collection
    async def stale_links(
        self, older_than: datetime, trash_since: datetime | None = None
    ) -> list[tuple[str, str]]:
        """(repository, digest) links made before ``older_than`` that no manifest in
        that repository, and no recycle-bin entry (deleted at or after
        ``trash_since``, when given), still needs."""
        ...

    async def unlink_if_unreferenced(
        self, repository: str, digest: str, older_than: datetime
    ) -> bool:
        """Remove one stale link, checking again under a row lock that nothing took
        it meanwhile (a manifest being stored share-locks the links it needs)."""
        ...

    async def blob_in_use(
        self,
        digest: str,
        ignore_links: frozenset[tuple[str, str]] = frozenset(),
        trash_since: datetime | None = None,
    ) -> bool:
        """Whether anything still needs the blob: a repository link (other than those
        in ``ignore_links``), a manifest of that digest, a manifest referencing it,
        or a recycle-bin entry."""
        ...

    async def stored_blobs_before(self, cutoff: datetime) -> list[tuple[str, int]]:
        """(digest, size) of the small blobs kept in the database, stored (or stored
        again) before ``cutoff``."""
        ...

    async def count_stored_blobs_since(self, cutoff: datetime) -> int:
        """How many small blobs kept in the database were stored at or after
        ``cutoff`` (garbage collection leaves them alone)."""
        ...

    async def delete_stored_blob_if_unused(
        self, digest: str, cutoff: datetime, trash_since: datetime | None = None
    ) -> bool:
        """Delete a blob kept in the database if, checked again under a row lock, it
        is still older than ``cutoff`` and nothing needs it (as `blob_in_use`)."""
        ...

    async def record_ended_uploads(self, upload_ids: list[str]) -> None:
        """Record uploads as over (purged), like `MetadataStore.end_upload`."""
        ...

    async def forget_ended_uploads(self, before: datetime) -> int:
        """Drop the records of uploads that ended before ``before``; how many."""
        ...

    async def manifest_referenced(self, repository: str, digest: str) -> bool:
        """Whether a manifest in ``repository`` (an index) still names ``digest``."""
        ...

    async def add_lifecycle_run(self, run: LifecycleRun) -> int: ...

    async def lifecycle_runs(self, repository: str, limit: int = 50) -> list[LifecycleRun]: ...

    async def take_lease(self, name: str, holder: str, until: datetime, now: datetime) -> bool:
        """Hold ``name`` until ``until`` if it is free, expired or already ours."""
        ...
