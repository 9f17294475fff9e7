"""The body ``npm publish`` PUTs (libnpmpublish's shape), for tests at any layer."""

from __future__ import annotations

import base64
import hashlib
from typing import Any


def publish_body(
    name: str, version: str, tarball: bytes, tag: str = "latest", **fields: Any
) -> dict[str, Any]:
    """One version of ``name`` with ``tarball`` attached and correct checksums;
    ``fields`` go into the version's manifest (``description`` also at the top)."""
    filename = f"{name.split('/')[-1]}-{version}.tgz"
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    manifest = {
        "name": name,
        "version": version,
        "description": fields.pop("description", "a test package"),
        "_id": f"{name}@{version}",
        "dist": {
            "integrity": integrity,
            "shasum": hashlib.sha1(tarball).hexdigest(),
            "tarball": f"http://elsewhere/{name}/-/{filename}",
        },
        **fields,
    }
    return {
        "_id": name,
        "name": name,
        "description": manifest["description"],
        "dist-tags": {tag: version},
        "versions": {version: manifest},
        "access": None,
        "_attachments": {
            filename: {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(tarball).decode(),
                "length": len(tarball),
            }
        },
    }
