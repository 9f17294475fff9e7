"""The one place that knows where things live in storage.

Every storage path the registry uses is built by `path_for` from one of the specs
below. The tree, under the driver's root::

    v1/
    ├── blobs/<algorithm>/<first two hex>/<hex>/data    content, immutable, shared
    └── uploads/<upload id>/
        ├── data                                        bytes received so far
        └── info.json                                   repository and start time

Blobs are content addressed and stored once for all repositories. Which
repositories may see a blob, and everything about manifests and tags, lives in
the metadata database, not here. The ``v1`` prefix lets a later layout live beside
this one during a migration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cargohold.types import Digest

VERSION = "v1"
_UPLOAD_ID_RE = re.compile(r"^[a-f0-9-]{8,64}$")


@dataclass(frozen=True, slots=True)
class BlobData:
    digest: Digest


@dataclass(frozen=True, slots=True)
class UploadsRoot:
    pass


@dataclass(frozen=True, slots=True)
class UploadDir:
    upload_id: str


@dataclass(frozen=True, slots=True)
class UploadData:
    upload_id: str


@dataclass(frozen=True, slots=True)
class UploadInfo:
    upload_id: str


@dataclass(frozen=True, slots=True)
class BlobsRoot:
    pass


PathSpec = BlobData | BlobsRoot | UploadsRoot | UploadDir | UploadData | UploadInfo


def valid_upload_id(upload_id: str) -> bool:
    return bool(_UPLOAD_ID_RE.match(upload_id))


def _upload_dir(upload_id: str) -> str:
    # Upload ids come from URLs; refuse anything that is not one of ours before it
    # can become a path component.
    if not valid_upload_id(upload_id):
        raise ValueError(f"invalid upload id {upload_id!r}")
    return f"/{VERSION}/uploads/{upload_id}"


def path_for(spec: PathSpec) -> str:
    # A match on concrete types keeps every path visible in one screen, as
    # distribution's paths.go does with its type switch.
    match spec:
        case BlobData(digest):
            return f"/{VERSION}/blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}/data"
        case BlobsRoot():
            return f"/{VERSION}/blobs"
        case UploadsRoot():
            return f"/{VERSION}/uploads"
        case UploadDir(upload_id):
            return _upload_dir(upload_id)
        case UploadData(upload_id):
            return f"{_upload_dir(upload_id)}/data"
        case UploadInfo(upload_id):
            return f"{_upload_dir(upload_id)}/info.json"
    raise TypeError(f"unknown path spec {spec!r}")  # pragma: no cover
