from __future__ import annotations

import pytest

from cargohold.http.routes import Match, match

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/", Match("base", {})),
        ("/v2/_catalog", Match("catalog", {})),
        ("/v2/a/b/tags/list", Match("tags", {"name": "a/b"})),
        ("/v2/a/manifests/v1", Match("manifest", {"name": "a", "reference": "v1"})),
        (
            "/v2/p/manifests/q/manifests/v1",
            Match("manifest", {"name": "p/manifests/q", "reference": "v1"}),
        ),
        (f"/v2/a/b/c/blobs/{D}", Match("blob", {"name": "a/b/c", "digest": D})),
        ("/v2/a/blobs/uploads/", Match("upload-start", {"name": "a"})),
        ("/v2/a/blobs/uploads/123", Match("upload", {"name": "a", "upload_id": "123"})),
        (f"/v2/a/referrers/{D}", Match("referrers", {"name": "a", "digest": D})),
        ("/v2/blobs/uploads/", None),
        ("/v2/a/manifests/", None),
        ("/v2/a/manifests/x/y", None),
        ("/v2/tags/list", None),
        ("/v2", None),
        ("/other", None),
        ("/v2/a/unknown", None),
    ],
)
def test_match(path: str, expected: Match | None) -> None:
    assert match(path) == expected
