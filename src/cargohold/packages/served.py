"""What a package service answers a read with; the HTTP layer turns it into a response."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Served:
    content_type: str = "application/octet-stream"
    data: bytes | None = None  # a document the server generated
    digest: str | None = None  # or a stored file, by its blob digest
    size: int = 0
    modified: datetime | None = None
    etag: str | None = None
    redirect: str | None = None  # a path relative to the repository root
    status: int = 200

    @classmethod
    def document(cls, data: bytes, content_type: str, modified: datetime | None = None) -> Served:
        """A generated document, with an ETag of its bytes so clients (npm's and
        pip's caches) can revalidate it with If-None-Match."""
        etag = hashlib.sha256(data).hexdigest()[:40]
        return cls(
            content_type=content_type, data=data, size=len(data), modified=modified, etag=etag
        )
