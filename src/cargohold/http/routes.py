"""The route table: route names, their handlers per method, and the path matcher.

Repository names contain slashes, so a path is matched from its right end on the
fixed words of the API (``/manifests/``, ``/blobs/uploads/`` ...), the way
distribution's router does with its name regexp, but with plain string searches:
one pass over the path instead of one regular expression per route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from cargohold.http import token
from cargohold.http.oci import base, blobs, listings, manifests, uploads
from cargohold.http.route_names import (
    BASE,
    BLOB,
    CATALOG,
    MANIFEST,
    REFERRERS,
    TAGS,
    TOKEN,
    UPLOAD,
    UPLOAD_START,
)

Handler = Callable[[Request], Awaitable[Response]]

ROUTES: dict[str, dict[str, Handler]] = {
    BASE: {"GET": base.version_check},
    CATALOG: {"GET": listings.catalog},
    TAGS: {"GET": listings.list_tags},
    MANIFEST: {
        "GET": manifests.get_manifest,
        "HEAD": manifests.get_manifest,
        "PUT": manifests.put_manifest,
        "DELETE": manifests.delete_manifest,
    },
    BLOB: {"GET": blobs.get_blob, "HEAD": blobs.get_blob, "DELETE": blobs.delete_blob},
    UPLOAD_START: {"POST": uploads.start_upload},
    UPLOAD: {
        "GET": uploads.upload_status,
        "PATCH": uploads.patch_upload,
        "PUT": uploads.finish_upload,
        "DELETE": uploads.cancel_upload,
    },
    REFERRERS: {"GET": listings.referrers},
    TOKEN: {"GET": token.get_token, "POST": token.post_token},
}


@dataclass(frozen=True, slots=True)
class Match:
    route: str
    params: dict[str, str]


def _split(rest: str, word: str, key: str) -> dict[str, str] | None:
    """``<name><word><value>`` with a non-empty name and a slash-free value."""
    name, sep, value = rest.rpartition(word)
    if not sep or not name or not value or "/" in value:
        return None
    return {"name": name, key: value}


def match(path: str) -> Match | None:
    if not path.startswith("/v2/"):
        if path == "/token":
            return Match(TOKEN, {})
        return None
    rest = path[4:]
    if rest == "":
        return Match(BASE, {})
    if rest == "_catalog":
        return Match(CATALOG, {})
    if rest.endswith("/tags/list") and len(rest) > 10:
        return Match(TAGS, {"name": rest[:-10]})
    if rest.endswith("/blobs/uploads/") and len(rest) > 15:
        return Match(UPLOAD_START, {"name": rest[:-15]})
    for word, route, key in (
        ("/manifests/", MANIFEST, "reference"),
        ("/blobs/uploads/", UPLOAD, "upload_id"),
        ("/blobs/", BLOB, "digest"),
        ("/referrers/", REFERRERS, "digest"),
    ):
        params = _split(rest, word, key)
        if params is not None:
            return Match(route, params)
    return None
