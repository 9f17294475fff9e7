"""Tables for accounts and access: users, namespaces, members, credentials, keys.

They share `tables.metadata` so one ``create_all`` makes the whole schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from cargohold.metadata.tables import _name, metadata

users = Table(
    "users",
    metadata,
    Column("name", _name(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Tokens issued before this instant stop working: a password change logs out.
    Column("sessions_valid_after", DateTime(timezone=True), nullable=False),
)

# Users and organisations share one space of names: each owns the namespace of its name.
namespaces = Table(
    "namespaces",
    metadata,
    Column("name", _name(64), primary_key=True),
    Column("kind", String(8), nullable=False),  # "user" | "org"
    Column("default_private", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A creation template for repositories made inside the namespace (JSON):
    # tag_mutability, mutability_filters, latest_tag, lifecycle_policy.
    Column("template", Text),
    Column("quota_bytes", BigInteger),  # NULL: no quota
)

members = Table(
    "members",
    metadata,
    Column("namespace", _name(64), nullable=False),
    Column("username", _name(64), nullable=False),
    Column("role", String(16), nullable=False),  # owner | maintainer | reader
    PrimaryKeyConstraint("namespace", "username"),
    Index("ix_members_username", "username"),
)

# Visibility per repository, by name: set when a push creates the repository (from
# the namespace default) or by an administrator.
repository_settings = Table(
    "repository_settings",
    metadata,
    Column("name", _name(255), primary_key=True),
    Column("private", Boolean, nullable=False),
    # ECR's imageTagMutability and its exclusion filters (a JSON list of wildcards).
    Column("tag_mutability", String(32), nullable=False, default="MUTABLE"),
    Column("mutability_filters", Text),
    Column("latest_tag", String(8)),  # allow | warn | refuse; NULL: the registry's rule
    Column("lifecycle_policy", Text),  # ECR lifecycle policy JSON
)

# Every generated secret: personal access tokens, login passwords, robot secrets,
# refresh tokens. Only the SHA-256 of the secret is kept.
credentials = Table(
    "credentials",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("owner", _name(140), nullable=False),  # a user, or a robot "namespace+name"
    Column("name", String(200), nullable=False, default=""),
    Column("secret_digest", String(64), nullable=False),
    Column("scopes", Text),  # JSON list of {"repository": pattern, "actions": [...]}
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("parent_id", String(16)),  # a refresh token dies with what it came from
    Column("last_used_at", DateTime(timezone=True)),
    Index("ix_credentials_owner", "owner", "kind"),
)

robots = Table(
    "robots",
    metadata,
    Column("name", _name(140), primary_key=True),  # "namespace+name"
    Column("namespace", _name(64), nullable=False),
    Column("description", String(500), nullable=False, default=""),
    Column("credential_id", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_robots_namespace", "namespace"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Failed logins per key ("user|address" and "address") in fixed windows.
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("key", String(200), nullable=False),
    Column("window", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("key", "window"),
)
