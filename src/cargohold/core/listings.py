"""Content discovery: tag lists, the catalog and the referrers index."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cargohold.errors import NameUnknown, PaginationInvalid
from cargohold.formats.manifests import OCI_INDEX
from cargohold.metadata.store import MetadataStore
from cargohold.types import Digest, is_count

MAX_PAGE = 10_000
CATALOG_DEFAULT_PAGE = 1_000


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    more: bool


def page_size(raw: str | None, default: int | None) -> int | None:
    """The ``n`` query parameter: a non-negative integer, capped at `MAX_PAGE`."""
    if raw is None or raw == "":
        return default
    if not is_count(raw):
        raise PaginationInvalid(f"n must be a non-negative integer, got {raw[:50]!r}")
    return min(int(raw), MAX_PAGE)


class Listings:
    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    async def tags(self, repository: str, n: int | None, last: str | None) -> Page:
        """Tags in lexical order after ``last``; `NameUnknown` for a missing repository."""
        if n == 0:
            if not await self._store.repository_exists(repository):
                raise NameUnknown(detail={"name": repository})
            return Page([], False)
        items = await self._store.list_tags(repository, last, None if n is None else n + 1)
        if not items and not await self._store.repository_exists(repository):
            raise NameUnknown(detail={"name": repository})
        more = n is not None and len(items) > n
        return Page(items[:n] if n is not None else items, more)

    async def catalog(
        self,
        n: int | None,
        last: str | None,
        visible: Callable[[str], Awaitable[bool]] | None = None,
    ) -> Page:
        """Repository names after ``last``; with ``visible``, only those it accepts
        (pages are filled from further rows, so a hidden name leaves no gap)."""
        limit = CATALOG_DEFAULT_PAGE if n is None else n
        if limit == 0:
            return Page([], False)
        if visible is None:
            items = await self._store.list_repositories(last, limit + 1)
            return Page(items[:limit], len(items) > limit)
        found: list[str] = []
        while True:
            batch = await self._store.list_repositories(last, max(limit + 1, 100))
            for name in batch:
                if await visible(name):
                    found.append(name)
                    if len(found) > limit:
                        return Page(found[:limit], True)
            if len(batch) < max(limit + 1, 100):
                return Page(found, False)
            last = batch[-1]

    async def referrers(self, repository: str, subject: Digest, artifact_type: str | None) -> bytes:
        """An OCI image index of the manifests whose subject is ``subject``."""
        records = await self._store.referrers(repository, str(subject), artifact_type)
        entries = []
        for r in records:
            entry: dict[str, object] = {
                "mediaType": r.media_type,
                "digest": r.digest,
                "size": r.size,
            }
            if r.artifact_type:
                entry["artifactType"] = r.artifact_type
            if r.annotations:
                entry["annotations"] = dict(r.annotations)
            entries.append(entry)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        return json.dumps(index, separators=(",", ":")).encode()
