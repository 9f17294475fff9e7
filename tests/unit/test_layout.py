"""Golden table: changing a storage path must be a deliberate, reviewed break."""

from __future__ import annotations

import pytest

from cargohold.storage import layout
from cargohold.types import Digest

HEX = "ab" + "0" * 62
UID = "123e4567-e89b-12d3-a456-426614174000"


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (layout.BlobData(Digest("sha256", HEX)), f"/v1/blobs/sha256/ab/{HEX}"),
        (layout.BlobsRoot(), "/v1/blobs"),
        (layout.UploadsRoot(), "/v1/uploads"),
        (layout.UploadData(UID), f"/v1/uploads/{UID}.data"),
    ],
)
def test_paths(spec: layout.PathSpec, path: str) -> None:
    assert layout.path_for(spec) == path


@pytest.mark.parametrize("bad", ["..", "../x", "a/b", "", "x" * 65, "ABCDEF12"])
def test_upload_ids_cannot_escape(bad: str) -> None:
    assert not layout.valid_upload_id(bad)
    with pytest.raises(ValueError):
        layout.path_for(layout.UploadData(bad))
