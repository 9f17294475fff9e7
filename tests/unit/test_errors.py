from __future__ import annotations

import json

import pytest

from cargohold import errors
from cargohold.http.errors import STATUS, error_response, status_for


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


ALL = sorted(_subclasses(errors.RegistryError), key=lambda c: c.__name__)

EXPECTED_STATUS = {
    "BlobUnknown": 404,
    "BlobUploadInvalid": 400,
    "BlobUploadUnknown": 404,
    "DigestInvalid": 400,
    "ManifestBlobUnknown": 400,
    "ManifestInvalid": 400,
    "ManifestTooLarge": 413,
    "ManifestUnknown": 404,
    "NameInvalid": 400,
    "NameUnknown": 404,
    "SizeInvalid": 400,
    "RangeInvalid": 416,
    "Unauthorized": 401,
    "Denied": 403,
    "Unsupported": 405,
    "RouteUnknown": 404,
    "TooManyRequests": 429,
    "PaginationInvalid": 400,
    "TagInvalid": 400,
    "Unavailable": 503,
    "NotAcceptable": 406,
    "Conflict": 409,
    "InsufficientScope": 401,
    "TagImmutable": 403,
    "ResourceUnknown": 404,
    "RequestInvalid": 400,
}


@pytest.mark.parametrize("cls", [c for c in ALL if c not in (errors.NotFound, errors.Invalid)])
def test_every_error_has_a_code_and_status(cls: type[errors.RegistryError]) -> None:
    assert cls.code != "UNKNOWN"
    assert status_for(cls()) == EXPECTED_STATUS[cls.__name__]


def test_status_table_only_names_registry_errors() -> None:
    assert all(issubclass(c, errors.RegistryError) for c in STATUS)


def test_exports_match_public_names() -> None:
    public = sorted(
        n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, Exception)
    )
    assert sorted(errors.__all__) == public


def test_envelope_shape() -> None:
    response = error_response(errors.BlobUnknown(detail={"digest": "sha256:x"}))
    assert response.status_code == 404
    assert json.loads(response.body) == {
        "errors": [
            {
                "code": "BLOB_UNKNOWN",
                "message": "blob unknown to registry",
                "detail": {"digest": "sha256:x"},
            }
        ]
    }
