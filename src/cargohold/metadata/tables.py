"""The metadata schema, in SQLAlchemy Core so SQLite and PostgreSQL share it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

DIGEST = String(200)


def _name(length: int) -> String:
    """Byte-order collation everywhere, so listings sort as the spec expects."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", _name(255), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Which repositories may see which blob. The bytes themselves live in storage,
# once, whoever pushed them.
repository_blobs = Table(
    "repository_blobs",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE")),
    Column("digest", DIGEST, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("linked_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("repository_id", "digest"),
    Index("ix_repository_blobs_digest", "digest"),
)

# Small blobs (a config, a signature, a tiny layer) are kept here rather than as
# files: storing one is then a row in the transaction that links it, with no file
# to create, fsync, rename and fsync the directory of. Shared by digest, like files.
blob_contents = Table(
    "blob_contents",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)

# Uploads that were finished or cancelled. An upload gets a file only with its first
# bytes, so a missing file alone cannot tell "not written to yet" from "over".
ended_uploads = Table(
    "ended_uploads",
    metadata,
    Column("upload_id", String(64), primary_key=True),
    Column("ended_at", DateTime(timezone=True), nullable=False, index=True),
)

manifests = Table(
    "manifests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("digest", DIGEST, nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255)),
    Column("size", BigInteger, nullable=False),
    Column("subject_digest", DIGEST),
    Column("annotations", Text),
    Column("pushed_at", DateTime(timezone=True), nullable=False),
    Column("last_pulled_at", DateTime(timezone=True)),
    Column("pull_count", BigInteger, nullable=False, default=0),
    # The manifest's bytes, committed with the row: one durable write per push
    # instead of a file, its fsyncs and a rename. NULL for manifests stored by
    # releases that kept them only as content-addressed files in storage.
    Column("content", LargeBinary),
    UniqueConstraint("repository_id", "digest", name="uq_manifests_repository_digest"),
    Index("ix_manifests_subject", "repository_id", "subject_digest"),
    Index("ix_manifests_digest", "digest"),
)

# What a manifest points at: blobs (config, layers) and child manifests (index).
manifest_references = Table(
    "manifest_references",
    metadata,
    Column("manifest_id", Integer, ForeignKey("manifests.id", ondelete="CASCADE")),
    Column("digest", DIGEST, nullable=False),
    Column("kind", String(16), nullable=False),
    PrimaryKeyConstraint("manifest_id", "digest", "kind"),
    Index("ix_manifest_references_digest", "digest"),
)

tags = Table(
    "tags",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE")),
    Column("name", _name(128), nullable=False),
    Column("manifest_id", Integer, ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("pushed_at", DateTime(timezone=True), nullable=False),
    Column("last_pulled_at", DateTime(timezone=True)),
    Column("pull_count", BigInteger, nullable=False, default=0),
    PrimaryKeyConstraint("repository_id", "name"),
    Index("ix_tags_manifest", "manifest_id"),
)
