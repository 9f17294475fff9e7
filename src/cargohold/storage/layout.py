"""The one place that knows where things live in storage.

Every storage path the registry uses is built by `path_for` from one of the specs
below. The tree, under the driver's root::

    v1/
    ├── blobs/<algorithm>/<first two hex>/<hex>    content, immutable, shared
    ├── gc/<algorithm>-<hex>.<token>               a blob garbage collection is
    │                                              about to delete (moved back if
    │                                              a push needs it after all)
    └── uploads/
        └── <upload id>.data                       bytes received so far; the id
                                                   says which repository owns it

Flat names on purpose: publishing a blob is one rename into an existing
directory (no mkdir per blob, and one directory fsync makes the name durable),
and finishing an upload leaves nothing behind to remove. (Uploads used to have an
``<upload id>.json`` beside the data too; garbage collection still purges strays.)

Blobs are content addressed and stored once for all repositories. Which
repositories may see a blob, and everything about manifests and tags, lives in
the metadata database, not here. The ``v1`` prefix lets a later layout live beside
this one during a migration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cargohold.errors import RegistryError
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
class UploadData:
    upload_id: str


@dataclass(frozen=True, slots=True)
class BlobsRoot:
    pass


@dataclass(frozen=True, slots=True)
class GcHold:
    digest: Digest
    token: str


PathSpec = BlobData | BlobsRoot | UploadsRoot | UploadData | GcHold

_BLOB_PATH_RE = re.compile(rf"^/{VERSION}/blobs/([a-z0-9]+)/([a-f0-9]{{2}})/([a-f0-9]+)$")
_UPLOAD_PATH_RE = re.compile(rf"^/{VERSION}/uploads/([a-f0-9-]{{8,64}})\.(data|json)$")


def blob_digest(path: str) -> Digest | None:
    """The digest a blob path stores, or None for anything else (temp files...)."""
    found = _BLOB_PATH_RE.match(path)
    if found is None or found.group(3)[:2] != found.group(2):
        return None
    try:
        return Digest.parse(f"{found.group(1)}:{found.group(3)}")
    except RegistryError:  # an unknown algorithm or a wrong length: not one of ours
        return None


def upload_id_of(path: str) -> str | None:
    """The upload id of an upload's data or info file, else None."""
    found = _UPLOAD_PATH_RE.match(path)
    return found.group(1) if found else None


def valid_upload_id(upload_id: str) -> bool:
    return bool(_UPLOAD_ID_RE.match(upload_id))


def _upload(upload_id: str, suffix: str) -> str:
    # Upload ids come from URLs; refuse anything that is not one of ours before it
    # can become part of a path.
    if not valid_upload_id(upload_id):
        raise ValueError(f"invalid upload id {upload_id!r}")
    return f"/{VERSION}/uploads/{upload_id}{suffix}"


def path_for(spec: PathSpec) -> str:
    # A match on concrete types keeps every path visible in one screen, as
    # distribution's paths.go does with its type switch.
    match spec:
        case BlobData(digest):
            return f"/{VERSION}/blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"
        case BlobsRoot():
            return f"/{VERSION}/blobs"
        case UploadsRoot():
            return f"/{VERSION}/uploads"
        case UploadData(upload_id):
            return _upload(upload_id, ".data")
        case GcHold(digest, token):
            return f"/{VERSION}/gc/{digest.algorithm}-{digest.hex}.{token}"
    raise TypeError(f"unknown path spec {spec!r}")  # pragma: no cover
