"""The registry's one error model.

Core and storage code raise these; `cargohold.http.errors` is the only place that
turns them into HTTP statuses and response bodies. Each OCI error code is one class
named after the code::

    RegistryError
    ├── NotFound
    │   ├── BlobUnknown            BLOB_UNKNOWN
    │   ├── BlobUploadUnknown      BLOB_UPLOAD_UNKNOWN
    │   ├── ManifestUnknown        MANIFEST_UNKNOWN
    │   ├── NameUnknown            NAME_UNKNOWN
    │   └── ResourceUnknown        NOT_FOUND (users, organisations, robots, tokens)
    ├── Invalid
    │   ├── BlobUploadInvalid      BLOB_UPLOAD_INVALID
    │   │   └── RangeInvalid       BLOB_UPLOAD_INVALID (416)
    │   ├── DigestInvalid          DIGEST_INVALID
    │   ├── ManifestBlobUnknown    MANIFEST_BLOB_UNKNOWN
    │   ├── ManifestInvalid        MANIFEST_INVALID
    │   ├── NameInvalid            NAME_INVALID
    │   ├── SizeInvalid            SIZE_INVALID
    │   │   └── ManifestTooLarge   SIZE_INVALID (413)
    │   ├── TagInvalid             TAG_INVALID
    │   ├── PaginationInvalid      PAGINATION_NUMBER_INVALID
    │   ├── RequestInvalid         INVALID_REQUEST (management API, token requests,
    │   │                          package uploads)
    │   └── NotAcceptable          NOT_ACCEPTABLE (406: no format the Accept header takes)
    ├── Unauthorized               UNAUTHORIZED
    ├── Denied                     DENIED
    │   ├── InsufficientScope      DENIED (401: the bearer token lacks the grant)
    │   └── TagImmutable           DENIED (the repository's tag rules refuse it)
    ├── Unsupported                UNSUPPORTED
    │   └── RouteUnknown           UNSUPPORTED (404)
    ├── Conflict                   CONFLICT (a name already taken)
    ├── TooManyRequests            TOO_MANY_REQUESTS
    └── Unavailable                UNAVAILABLE
"""

from __future__ import annotations

from typing import Any, ClassVar


class RegistryError(Exception):
    """Base of every error a client may see."""

    code: ClassVar[str] = "UNKNOWN"
    message: ClassVar[str] = "unknown error"

    def __init__(
        self,
        message: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.text = message or self.message
        self.detail = detail
        # Response headers the error needs (Range on a 416, for instance).
        self.headers = dict(headers or {})
        super().__init__(self.text)


class NotFound(RegistryError):
    pass


class Invalid(RegistryError):
    pass


class BlobUnknown(NotFound):
    code = "BLOB_UNKNOWN"
    message = "blob unknown to registry"


class BlobUploadUnknown(NotFound):
    code = "BLOB_UPLOAD_UNKNOWN"
    message = "blob upload unknown to registry"


class ManifestUnknown(NotFound):
    code = "MANIFEST_UNKNOWN"
    message = "manifest unknown"


class NameUnknown(NotFound):
    code = "NAME_UNKNOWN"
    message = "repository name not known to registry"


class BlobUploadInvalid(Invalid):
    code = "BLOB_UPLOAD_INVALID"
    message = "blob upload invalid"


class RangeInvalid(BlobUploadInvalid):
    """A chunk that does not start where the upload ends (HTTP 416)."""

    message = "requested range not satisfiable"


class DigestInvalid(Invalid):
    code = "DIGEST_INVALID"
    message = "provided digest did not match uploaded content"


class ManifestBlobUnknown(Invalid):
    code = "MANIFEST_BLOB_UNKNOWN"
    message = "manifest references a manifest or blob unknown to registry"


class ManifestInvalid(Invalid):
    code = "MANIFEST_INVALID"
    message = "manifest invalid"


class NameInvalid(Invalid):
    code = "NAME_INVALID"
    message = "invalid repository name"


class SizeInvalid(Invalid):
    code = "SIZE_INVALID"
    message = "provided length did not match content length"


class ManifestTooLarge(SizeInvalid):
    """A manifest over the configured limit (HTTP 413)."""

    message = "manifest is larger than the registry accepts"


class TagInvalid(Invalid):
    code = "TAG_INVALID"
    message = "manifest tag did not match URI"


class PaginationInvalid(Invalid):
    code = "PAGINATION_NUMBER_INVALID"
    message = "invalid number of results requested"


class Unauthorized(RegistryError):
    code = "UNAUTHORIZED"
    message = "authentication required"


class Denied(RegistryError):
    code = "DENIED"
    message = "requested access to the resource is denied"


class InsufficientScope(Denied):
    """A bearer token without the needed grant. Answered with 401 and an
    ``insufficient_scope`` challenge, as distribution does: docker stops at once
    on that, where a 403 makes it retry the push for minutes."""


class TagImmutable(Denied):
    """Moving or deleting a tag that the repository's mutability rules fix."""


class ResourceUnknown(NotFound):
    code = "NOT_FOUND"
    message = "not found"


class RequestInvalid(Invalid):
    code = "INVALID_REQUEST"
    message = "invalid request"


class NotAcceptable(Invalid):
    code = "NOT_ACCEPTABLE"
    message = "none of the requested media types is available"


class Conflict(RegistryError):
    code = "CONFLICT"
    message = "already exists"


class Unsupported(RegistryError):
    code = "UNSUPPORTED"
    message = "the operation is unsupported"


class RouteUnknown(Unsupported):
    """A path outside the API (HTTP 404)."""

    message = "no such endpoint"


class TooManyRequests(RegistryError):
    code = "TOO_MANY_REQUESTS"
    message = "too many requests"


class Unavailable(RegistryError):
    code = "UNAVAILABLE"
    message = "service unavailable"


__all__ = [
    "BlobUnknown",
    "BlobUploadInvalid",
    "BlobUploadUnknown",
    "Conflict",
    "Denied",
    "DigestInvalid",
    "InsufficientScope",
    "Invalid",
    "ManifestBlobUnknown",
    "ManifestInvalid",
    "ManifestTooLarge",
    "ManifestUnknown",
    "NameInvalid",
    "NameUnknown",
    "NotAcceptable",
    "NotFound",
    "PaginationInvalid",
    "RangeInvalid",
    "RegistryError",
    "RequestInvalid",
    "ResourceUnknown",
    "RouteUnknown",
    "SizeInvalid",
    "TagImmutable",
    "TagInvalid",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "Unsupported",
]
