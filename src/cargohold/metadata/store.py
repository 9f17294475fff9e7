"""The metadata data-access contract: repositories, manifests, tags, blob links, usage.

Core services depend on `MetadataStore` only. `SqlMetadataStore` implements it for
SQLite and PostgreSQL with the same code; the shared suite in
``tests/conformance/test_metadata.py`` runs against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    repository: str
    digest: str
    media_type: str
    size: int
    artifact_type: str | None = None
    subject: str | None = None
    annotations: Mapping[str, str] | None = None
    pushed_at: datetime | None = None
    last_pulled_at: datetime | None = None
    pull_count: int = 0


@dataclass(frozen=True, slots=True)
class TagRecord:
    name: str
    digest: str
    pushed_at: datetime
    last_pulled_at: datetime | None
    pull_count: int


@dataclass(frozen=True, slots=True)
class ManifestReferences:
    """What a manifest needs present in its repository before it is accepted."""

    blobs: frozenset[str] = field(default_factory=frozenset)
    manifests: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class RepositoryRecord:
    name: str
    created_at: datetime
    manifest_count: int
    tag_count: int
    last_pushed_at: datetime | None


@dataclass(frozen=True, slots=True)
class PullEvent:
    repository: str
    digest: str
    tag: str | None
    at: datetime


class MetadataStore(Protocol):
    async def create_schema(self) -> None:
        """Create missing tables. Idempotent."""
        ...

    async def close(self) -> None: ...

    async def repository_exists(self, name: str) -> bool: ...

    async def create_repository(self, name: str) -> bool:
        """Create an empty repository; False if it exists."""
        ...

    async def describe_repository(self, name: str) -> RepositoryRecord | None: ...

    async def namespace_usage(self, namespace: str, digest: str | None = None) -> tuple[int, bool]:
        """Bytes stored for a namespace's repositories (each blob once, plus their
        manifests, plus the files of hosted package repositories it owns), and
        whether ``digest`` is already among its image blobs."""
        ...

    async def delete_repository(self, name: str) -> bool:
        """Delete the repository with its tags, manifests and blob links (the blobs
        stay in storage for garbage collection); False if unknown."""
        ...

    async def list_repositories(self, last: str | None, limit: int | None) -> list[str]:
        """Names sorted in byte order, strictly after ``last``, at most ``limit``."""
        ...

    async def link_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        *,
        content: bytes | None = None,
        ended_upload: str | None = None,
    ) -> None:
        """Let ``repository`` see the blob; creates the repository. Idempotent.

        In the same transaction: with ``content``, the blob's bytes are stored here
        (a small blob kept out of storage); with ``ended_upload``, that upload is
        recorded as over (`upload_ended`)."""
        ...

    async def blob_content(self, digest: str) -> bytes | None:
        """The bytes of a blob stored here by `link_blob`, or None."""
        ...

    async def blob_stored(self, digest: str) -> bool:
        """Whether the blob's bytes are stored here; waits for a garbage collector
        deciding about it (a mount checks this after linking)."""
        ...

    async def end_upload(self, upload_id: str) -> None:
        """Record that the upload is over (cancelled, or discarded after a digest
        mismatch or a refusal): it must not be continued."""
        ...

    async def upload_ended(self, upload_id: str) -> bool:
        """Whether the upload is over: finished, cancelled, discarded or purged.
        Records are kept as long as an upload id lives (`upload_id_lifetime`);
        garbage collection forgets older ones."""
        ...

    async def linked_blob_size(self, repository: str, digest: str) -> int | None:
        """Size of a blob linked to ``repository``, or None if it is not linked."""
        ...

    async def any_blob_link(self, digest: str) -> int | None:
        """Size of the blob if any repository links it, else None."""
        ...

    async def unlink_blob(self, repository: str, digest: str) -> bool:
        """Remove the link; False if there was none."""
        ...

    async def missing_references(self, repository: str, refs: ManifestReferences) -> list[str]:
        """Digests from ``refs`` that ``repository`` does not have, sorted."""
        ...

    async def put_manifest(
        self,
        record: ManifestRecord,
        refs: ManifestReferences,
        tag: str | None,
        *,
        tag_fixed: bool = False,
        content: bytes | None = None,
    ) -> None:
        """Store the manifest (idempotent by digest) and point ``tag`` at it. With
        ``tag_fixed``, a tag already on another manifest raises `TagImmutable` and
        nothing is stored (checked in the same transaction, so racing pushes cannot
        both move it). ``content`` (the manifest's bytes) is kept with the row and
        committed with it; a row stored without it has its bytes in storage."""
        ...

    async def manifest_content(self, repository: str, digest: str) -> bytes | None:
        """The bytes kept with the manifest's row; None if unknown or kept in storage."""
        ...

    async def get_manifest(self, repository: str, digest: str) -> ManifestRecord | None: ...

    async def resolve_tag(self, repository: str, tag: str) -> ManifestRecord | None: ...

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete the manifest and every tag pointing at it; False if unknown."""
        ...

    async def delete_tag(self, repository: str, tag: str) -> bool: ...

    async def list_tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        """Tag names in byte order, strictly after ``last``, at most ``limit``."""
        ...

    async def tag_details(self, repository: str) -> list[TagRecord]: ...

    async def referrers(
        self, repository: str, subject: str, artifact_type: str | None
    ) -> list[ManifestRecord]:
        """Manifests in ``repository`` whose subject is ``subject``, by digest."""
        ...

    async def record_pulls(self, events: Iterable[PullEvent]) -> None:
        """Add pull counts and last-pulled times; unknown manifests are ignored."""
        ...
