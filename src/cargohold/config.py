"""Settings: one typed, frozen tree, loaded once by the CLI and passed down.

Sources, highest first: command-line flags (passed as overrides), ``CARGOHOLD_*``
environment variables (nested with ``__``, e.g. ``CARGOHOLD_HTTP__PORT``), a TOML
file (``--config`` or ``CARGOHOLD_CONFIG``), then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "cargohold"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=0, le=65535)
    workers: int = Field(1, ge=1, description="server processes sharing the port")
    base_url: str | None = Field(
        None, description="external URL used in Location headers when behind a proxy"
    )


class StorageSettings(_Section):
    driver: Literal["filesystem", "inmemory"] = "filesystem"
    root: Path | None = Field(None, description="filesystem root; default DATA_DIR/storage")


class MetadataSettings(_Section):
    url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite:///DATA_DIR/metadata.db. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )


class LimitSettings(_Section):
    max_manifest_bytes: int = 4 * 1024 * 1024
    upload_chunk_bytes: int = Field(
        1024 * 1024, description="bytes buffered before hashing and writing a chunk"
    )
    inline_blob_max_bytes: int = Field(
        64 * 1024,
        ge=0,
        le=1024 * 1024,
        description="blobs up to this size, pushed in one request, are kept in the "
        "metadata database instead of as files; 0: never",
    )
    stats_flush_seconds: float = Field(
        5.0, description="how often pull counts and times are written to the database"
    )


class RepositoryPolicySettings(_Section):
    create_on_push: bool = Field(
        True,
        description="a push creates its repository (Docker Hub); false: repositories "
        "must be created first (`cargohold repo create`, as ECR)",
    )
    latest_tag: Literal["allow", "warn", "refuse"] = Field(
        "allow", description="what a push of the tag `latest` gets, unless a namespace says"
    )


class PackageSettings(_Section):
    max_file_bytes: int = Field(
        2 * 1024**3, description="largest file a Maven, npm or PyPI upload may store"
    )
    max_npm_publish_bytes: int = Field(
        200 * 1024**2,
        description="largest npm publish document (JSON with the tarball inside, base64)",
    )


class GovernanceSettings(_Section):
    lifecycle_interval_seconds: float = Field(
        3600, ge=0, description="how often lifecycle policies run inside the server; 0: never"
    )
    trash_retention_days: float = Field(
        7, ge=0, description="how long deleted tags and manifests can be restored"
    )


class GcSettings(_Section):
    interval_seconds: float = Field(
        24 * 3600, ge=0, description="how often garbage collection runs inside the server; 0: never"
    )
    grace_seconds: float = Field(
        24 * 3600,
        ge=0,
        description="blobs and links younger than this are kept: the time a push may take "
        "between uploading its blobs and sending its manifest",
    )
    upload_max_age_seconds: float = Field(
        24 * 3600, ge=0, description="uploads untouched for longer are purged"
    )


class AuthSettings(_Section):
    anonymous_pull: bool = Field(True, description="let anonymous clients pull public repositories")
    service: str = Field("cargohold", description="the token service name (JWT audience)")
    issuer: str = Field("cargohold", description="the JWT issuer")
    token_ttl_seconds: int = Field(300, ge=60, description="lifetime of registry bearer tokens")
    refresh_ttl_seconds: int = Field(
        30 * 24 * 3600, ge=60, description="lifetime of refresh tokens (docker's identity token)"
    )
    login_password_ttl_seconds: int = Field(
        12 * 3600, ge=60, description="lifetime of `get-login-password` passwords"
    )
    failure_limit: int = Field(
        10, ge=1, description="failed logins per account and address before 429"
    )
    failure_window_seconds: int = Field(300, ge=1, description="window for failure_limit")
    bootstrap_admin: str | None = Field(
        None,
        description="USER:PASSWORD of an administrator created at first start "
        "(prefer `cargohold admin create`)",
    )


def upload_id_lifetime(gc: GcSettings) -> float:
    """How long an upload id with no bytes behind it is honoured, and the record of
    an ended upload kept: as long as an idle upload's file (at least a minute)."""
    return max(gc.upload_max_age_seconds, 60.0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CARGOHOLD_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    http: HttpSettings = HttpSettings()
    storage: StorageSettings = StorageSettings()
    metadata: MetadataSettings = MetadataSettings()
    limits: LimitSettings = LimitSettings()
    auth: AuthSettings = AuthSettings()
    repositories: RepositoryPolicySettings = RepositoryPolicySettings()
    governance: GovernanceSettings = GovernanceSettings()
    packages: PackageSettings = PackageSettings()
    gc: GcSettings = GcSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get("CARGOHOLD_CONFIG")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def storage_root(self) -> Path:
        return self.storage.root or self.data_dir / "storage"

    @property
    def metadata_url(self) -> str:
        return self.metadata.url or f"sqlite:///{self.data_dir / 'metadata.db'}"


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Build settings from the sources; ``overrides`` are nested dicts from CLI flags."""
    if config_file:
        os.environ["CARGOHOLD_CONFIG"] = config_file
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
