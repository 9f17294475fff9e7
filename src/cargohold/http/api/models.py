"""Request and response bodies of the management API; they also make its OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Visibility = Literal["public", "private"]


class UserCreate(_Body):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    admin: bool = False


class PasswordChange(_Body):
    password: str = Field(max_length=1024)


class User(_Body):
    name: str
    admin: bool
    created_at: datetime


class OrgCreate(_Body):
    name: str = Field(max_length=64)
    default_visibility: Visibility = "public"


class Namespace(_Body):
    name: str
    kind: Literal["user", "org"]
    default_visibility: Visibility
    created_at: datetime


class NamespaceUpdate(_Body):
    default_visibility: Visibility


class MemberSet(_Body):
    role: Literal["owner", "maintainer", "reader"]


class Member(_Body):
    username: str
    role: str


class TokenCreate(_Body):
    name: str = Field(max_length=200)
    scopes: list[str] | None = Field(
        None, max_length=50, description="REPOSITORY-PATTERN:ACTIONS items; none: all your rights"
    )
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class Token(_Body):
    id: str
    name: str
    kind: str
    scopes: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    secret: str | None = Field(None, description="only in the response that creates it")


class LoginPasswordRequest(_Body):
    ttl_seconds: int | None = Field(None, ge=60, le=366 * 24 * 3600)


class LoginPassword(_Body):
    username: str
    password: str
    expires_at: datetime


class RobotCreate(_Body):
    name: str = Field(max_length=64)
    scopes: list[str] = Field(max_length=50)
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    description: str = Field("", max_length=500)


class Robot(_Body):
    name: str
    namespace: str
    description: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    secret: str | None = Field(None, description="only in the response that creates it")


class RepositoryVisibility(_Body):
    visibility: Visibility


class RepositoryVisibilityState(_Body):
    name: str
    visibility: Visibility


TagMutability = Literal[
    "MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"
]


class RepositoryCreate(_Body):
    name: str = Field(max_length=255)
    visibility: Visibility | None = Field(None, description="default: the namespace's")
    tag_mutability: TagMutability | None = None
    mutability_filters: list[str] = Field(default_factory=list, max_length=5)


class TagMutabilityUpdate(_Body):
    tag_mutability: TagMutability
    mutability_filters: list[str] = Field(default_factory=list, max_length=5)


class Repository(_Body):
    name: str
    visibility: Visibility
    tag_mutability: str
    mutability_filters: list[str]
    latest_tag: str | None
    created_at: datetime | None
    manifest_count: int
    tag_count: int
    last_pushed_at: datetime | None


class NamespaceTemplate(_Body):
    tag_mutability: TagMutability | None = None
    mutability_filters: list[str] | None = Field(None, max_length=5)
    latest_tag: Literal["allow", "warn", "refuse"] | None = None
    lifecycle_policy: str | None = Field(None, description="ECR lifecycle policy JSON text")


class Me(_Body):
    name: str
    kind: str
    admin: bool


class LifecyclePolicyDoc(_Body):
    repository: str
    lifecyclePolicyText: str


class PreviewAction(_Body):
    type: Literal["EXPIRE"] = "EXPIRE"


class PreviewResult(_Body):
    imageDigest: str
    imageTags: list[str]
    imagePushedAt: datetime
    action: PreviewAction
    appliedRulePriority: int


class PreviewSummary(_Body):
    expiringImageTotalCount: int


class LifecyclePreview(_Body):
    """As ECR's GetLifecyclePolicyPreview answers."""

    repository: str
    status: Literal["COMPLETE"] = "COMPLETE"
    results: list[PreviewResult]
    summary: PreviewSummary


class LifecycleRunDoc(_Body):
    id: int | None
    repository: str
    trigger: str
    started_at: datetime
    finished_at: datetime
    expired: list[dict[str, object]]
    bytes: int


class TrashEntry(_Body):
    id: int
    repository: str
    kind: Literal["manifest", "tag"]
    digest: str
    tags: list[str]
    deleted_at: datetime
    deleted_by: str
    reason: str


class Restored(_Body):
    entry: TrashEntry
    restored_tags: list[str]


class GcRequest(_Body):
    dry_run: bool = False


class GcReportDoc(_Body):
    dry_run: bool
    trash_purged: int
    links_removed: int
    blobs_deleted: int
    bytes_freed: int
    blobs_kept_recent: int
    uploads_purged: int


class QuotaSet(_Body):
    quota_bytes: int | None = Field(description="null: no quota", ge=0, le=2**62)


class NamespaceUsage(_Body):
    namespace: str
    usage_bytes: int
    quota_bytes: int | None


PackageFormat = Literal["maven", "npm", "pypi"]
WritePolicy = Literal["allow", "deny", "readonly"]


class PackageRepositoryCreate(_Body):
    name: str = Field(max_length=64)
    format: PackageFormat
    namespace: str | None = Field(
        None, max_length=64, description="the owning user or organisation; default: you"
    )
    visibility: Visibility | None = Field(None, description="default: the namespace's")
    write_policy: WritePolicy | None = Field(
        None,
        description="allow: redeploy; deny: each file is written once; readonly. "
        "Default: allow for Maven snapshot repositories, deny otherwise",
    )
    version_policy: Literal["release", "snapshot", "mixed"] | None = Field(
        None, description="Maven only; default release"
    )


class PackageRepositoryUpdate(_Body):
    visibility: Visibility | None = None
    write_policy: WritePolicy | None = None


class PackageRepository(_Body):
    name: str
    format: PackageFormat
    namespace: str
    visibility: Visibility
    write_policy: WritePolicy
    version_policy: str
    url: str
    created_at: datetime


class Yank(_Body):
    reason: str = Field("", max_length=500)


class YankResult(_Body):
    files: int


class CleanupPolicy(_Body):
    keep_last_versions: int | None = Field(
        None, ge=1, le=100000, description="keep the newest N release versions of each package"
    )
    max_age_days: int | None = Field(
        None, ge=1, le=100000, description="remove versions published more than N days ago"
    )
    snapshot_max_age_days: int | None = Field(
        None, ge=1, le=100000, description="Maven: remove snapshot builds older than N days"
    )


class CleanupRemoval(_Body):
    package: str
    version: str
    paths: list[str]
    bytes: int
    reason: str


class CleanupReport(_Body):
    repository: str
    removals: list[CleanupRemoval]
    files: int
    bytes: int
