"""Tables for hosted package repositories (Maven, npm, PyPI).

A package repository holds files (assets) at paths of its format's layout; each
asset's bytes are a content-addressed blob in storage, shared with everything else
that stores the same bytes. npm's dist-tags have a table of their own.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from cargohold.metadata.tables import DIGEST, _name, metadata

package_repositories = Table(
    "package_repositories",
    metadata,
    Column("name", _name(64), primary_key=True),
    Column("format", String(16), nullable=False),  # "maven" | "npm" | "pypi"
    Column("namespace", _name(64), nullable=False),  # whose members may write
    Column("private", Boolean, nullable=False),
    Column("write_policy", String(16), nullable=False),  # "allow" | "deny" | "readonly"
    Column("version_policy", String(16), nullable=False),  # maven: release|snapshot|mixed
    Column("cleanup_policy", Text),  # JSON, or NULL
    Column("created_at", DateTime(timezone=True), nullable=False),
)

package_assets = Table(
    "package_assets",
    metadata,
    Column(
        "repository",
        _name(64),
        ForeignKey("package_repositories.name", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("path", _name(1024), nullable=False),
    # The component the file belongs to: "group:artifact" (Maven), the package
    # name (npm), the normalised project name (PyPI); and its version, if any.
    Column("package", _name(255), nullable=False),
    Column("version", _name(255)),
    Column("digest", DIGEST, nullable=False),
    # A second blob that belongs to this file (a wheel's METADATA, PEP 658): it
    # lives and dies with the file, and garbage collection keeps it while it does.
    Column("extra_digest", DIGEST),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attributes", Text, nullable=False),  # JSON: format-specific facts
    PrimaryKeyConstraint("repository", "path"),
    Index("ix_package_assets_package", "repository", "package", "version"),
    Index("ix_package_assets_digest", "digest"),
    Index("ix_package_assets_extra_digest", "extra_digest"),
)

package_tags = Table(
    "package_tags",
    metadata,
    Column(
        "repository",
        _name(64),
        ForeignKey("package_repositories.name", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("package", _name(255), nullable=False),
    Column("tag", _name(255), nullable=False),
    Column("version", _name(255), nullable=False),
    PrimaryKeyConstraint("repository", "package", "tag"),
)
