"""Tables for governance: the recycle bin, lifecycle runs, and scheduler leases."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from cargohold.metadata.tables import DIGEST, _name, metadata

# What was deleted (a manifest with its tags, or a tag alone), kept until its
# retention ends so it can be restored. The manifest's bytes come along in
# `content` (NULL for manifests whose bytes are a file in storage, from older
# releases); its blobs, and such a file, stay in storage while an entry names them
# (garbage collection asks).
trash = Table(
    "trash",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repository", _name(255), nullable=False),
    Column("kind", String(8), nullable=False),  # "manifest" | "tag"
    Column("digest", DIGEST, nullable=False),
    Column("tags", Text, nullable=False),  # JSON list of tag names removed with it
    Column("manifest", Text),  # JSON: the manifest row (media type, size, subject, ...)
    Column("refs", Text),  # JSON: {"blob": [...], "manifest": [...]}
    Column("deleted_at", DateTime(timezone=True), nullable=False),
    Column("deleted_by", String(140), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("content", LargeBinary),  # read only to restore: listings leave it out
    Index("ix_trash_repository", "repository", "deleted_at"),
    Index("ix_trash_digest", "digest"),
)

lifecycle_runs = Table(
    "lifecycle_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repository", _name(255), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("trigger", String(16), nullable=False),  # "schedule" | "manual"
    Column("expired", Text, nullable=False),  # JSON list of {digest, tags, rulePriority}
    Column("bytes", BigInteger, nullable=False, default=0),
    Index("ix_lifecycle_runs_repository", "repository", "started_at"),
)

# One holder at a time for scheduled jobs across workers and replicas.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
