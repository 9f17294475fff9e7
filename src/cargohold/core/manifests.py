"""Manifests: accept, serve and delete image manifests and indexes by tag or digest.

Manifest bytes are kept in the metadata store with what they mean (media type,
subject, references, tags), committed in one transaction; manifests stored by
older releases have their bytes in storage, content-addressed beside the blobs. A
manifest is accepted only when every blob and child manifest it names is already
in its repository, so a pull of anything we accepted can always complete.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cargohold.core.repositories import Repositories, TagWrite
from cargohold.core.streams import read_limited
from cargohold.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestTooLarge,
    ManifestUnknown,
    NameUnknown,
    NotFound,
)
from cargohold.formats.manifests import parse_manifest
from cargohold.metadata.governance import GovernanceStore
from cargohold.metadata.store import ManifestRecord, ManifestReferences, MetadataStore
from cargohold.storage import layout
from cargohold.storage.driver import PathNotFound, StorageDriver
from cargohold.types import Digest, Reference


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: Digest
    subject: str | None
    warnings: tuple[str, ...] = ()


class ContentCache:
    """Manifest bytes by digest. Safe to cache: content never changes for a digest."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._size = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def get(self, digest: str) -> bytes | None:
        data = self._items.get(digest)
        if data is not None:
            self._items.move_to_end(digest)
        return data

    def put(self, digest: str, data: bytes) -> None:
        if len(data) > self._max or digest in self._items:
            return
        self._items[digest] = data
        self._size += len(data)
        while self._size > self._max:
            _, evicted = self._items.popitem(last=False)
            self._size -= len(evicted)


class Manifests:
    def __init__(
        self,
        driver: StorageDriver,
        store: MetadataStore,
        max_bytes: int,
        rules: Repositories | None = None,
        trash: GovernanceStore | None = None,
        cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._rules = rules
        self._trash = trash
        self._driver = driver
        self._store = store
        self._max_bytes = max_bytes
        self._cache = ContentCache(cache_bytes)

    async def put(
        self,
        repository: str,
        reference: Reference,
        body: AsyncIterator[bytes],
        content_type: str,
    ) -> PushedManifest:
        """Validate and store a manifest; tag it when ``reference`` is a tag.

        Raises `ManifestTooLarge`, `ManifestInvalid`, `DigestInvalid` (body does not
        match a digest reference) or `ManifestBlobUnknown` (listing what is missing).
        """
        data = await read_limited(body, self._max_bytes)
        if data is None:
            raise ManifestTooLarge(
                f"manifest exceeds {self._max_bytes} bytes", detail={"limit": self._max_bytes}
            )
        parsed = parse_manifest(data, content_type)
        algorithm = reference.digest.algorithm if reference.digest else "sha256"
        digest = Digest.of(data, algorithm)
        if reference.digest is not None and reference.digest != digest:
            raise DigestInvalid(
                "manifest content does not match the digest in the URL",
                detail={"digest": str(reference.digest), "actual": str(digest)},
            )
        write = TagWrite(False)
        if reference.tag is not None and self._rules is not None:
            write = await self._rules.tag_write(repository, reference.tag)
        refs = ManifestReferences(parsed.blobs, parsed.manifests)
        missing = await self._store.missing_references(repository, refs)
        if missing:
            raise ManifestBlobUnknown(
                f"manifest references {len(missing)} blob(s) or manifest(s) "
                "not pushed to this repository",
                detail={"missing": missing[:50]},
            )
        if self._rules is not None:  # a namespace quota counts manifests too
            await self._rules.admit(repository, str(digest), len(data))
        record = ManifestRecord(
            repository=repository,
            digest=str(digest),
            media_type=parsed.media_type,
            size=len(data),
            artifact_type=parsed.artifact_type,
            subject=parsed.subject.digest if parsed.subject else None,
            annotations=parsed.annotations,
        )
        # The bytes are committed with the row: one durable write for the push.
        await self._store.put_manifest(
            record, refs, reference.tag, tag_fixed=write.fixed, content=data
        )
        self._cache.put(str(digest), data)
        return PushedManifest(digest, record.subject, write.warnings)

    async def resolve(self, repository: str, reference: Reference) -> ManifestRecord:
        """The manifest a reference names; `ManifestUnknown` or `NameUnknown` if none."""
        if reference.digest is not None:
            record = await self._store.get_manifest(repository, str(reference.digest))
        else:
            assert reference.tag is not None
            record = await self._store.resolve_tag(repository, reference.tag)
        if record is None:
            raise await self._unknown(repository, reference)
        return record

    async def content(self, record: ManifestRecord) -> bytes:
        data = self._cache.get(record.digest)
        if data is None:
            data = await self._store.manifest_content(record.repository, record.digest)
        if data is None:
            # Stored by a release that kept manifest bytes only in storage.
            path = layout.path_for(layout.BlobData(Digest.parse(record.digest)))
            try:
                data = await self._driver.get_content(path)
            except PathNotFound:
                raise ManifestUnknown(detail={"digest": record.digest}) from None
        self._cache.put(record.digest, data)
        return data

    async def delete(self, repository: str, reference: Reference, by: str = "") -> None:
        """Delete a tag, or a manifest with every tag on it, into the recycle bin;
        `TagImmutable` when a tag it would remove is fixed."""
        if self._rules is not None:
            if reference.tag is not None:
                await self._rules.check_tag_delete(repository, [reference.tag])
            else:
                tags = [
                    t.name
                    for t in await self._store.tag_details(repository)
                    if t.digest == str(reference.digest)
                ]
                await self._rules.check_tag_delete(repository, tags)
        deleted: object
        if self._trash is not None:
            who = by or "anonymous"
            if reference.digest is not None:
                deleted = await self._trash.trash_manifest(
                    repository, str(reference.digest), by=who, reason="deleted"
                )
            else:
                assert reference.tag is not None
                deleted = await self._trash.trash_tag(
                    repository, reference.tag, by=who, reason="deleted"
                )
        elif reference.digest is not None:
            deleted = await self._store.delete_manifest(repository, str(reference.digest))
        else:
            assert reference.tag is not None
            deleted = await self._store.delete_tag(repository, reference.tag)
        if not deleted:
            raise await self._unknown(repository, reference)

    async def _unknown(self, repository: str, reference: Reference) -> NotFound:
        """The error for a reference that names nothing: is it the repository or the manifest?"""
        if not await self._store.repository_exists(repository):
            return NameUnknown(detail={"name": repository})
        return ManifestUnknown(detail={"reference": str(reference)})
