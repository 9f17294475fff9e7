"""Validated value objects: digests, repository names and references.

Everything that arrives from a client passes through here before it is used to
build a path or a query, so nothing else needs to re-check the grammar.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cargohold.errors import DigestInvalid, NameInvalid, TagInvalid, Unsupported

# OCI distribution-spec grammar for <name>.
_NAME_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
MAX_NAME_LENGTH = 255

# Algorithms we verify, and the length of their hex encoding.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
_HEX_RE = re.compile(r"^[a-f0-9]+$")
_COUNT_RE = re.compile(r"^[0-9]{1,18}$")


def is_count(text: str) -> bool:
    """ASCII decimal digits that fit in 64 bits: ``str.isdigit`` also accepts
    Unicode digits and numbers too long for ``int()``."""
    return bool(_COUNT_RE.match(text))


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest such as ``sha256:9f86...``, checked against its algorithm."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, value: str) -> Digest:
        if not DIGEST_RE.match(value):
            raise DigestInvalid(f"invalid digest {value[:200]!r}", detail={"digest": value[:200]})
        algorithm, _, encoded = value.partition(":")
        if algorithm not in ALGORITHMS:
            raise Unsupported(
                f"digest algorithm {algorithm!r} is not supported (use sha256 or sha512)",
                detail={"digest": value[:200]},
            )
        if len(encoded) != ALGORITHMS[algorithm] or not _HEX_RE.match(encoded):
            raise DigestInvalid(f"invalid {algorithm} digest {value[:200]!r}")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> Any:
        return hashlib.new(self.algorithm)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def is_digest(reference: str) -> bool:
    return ":" in reference


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name, else raise `NameInvalid`."""
    if len(name) > MAX_NAME_LENGTH or not NAME_RE.match(name):
        raise NameInvalid(
            "repository name must be lower-case components of [a-z0-9] joined by "
            f"'.', '_', '__', '-' or '/', at most {MAX_NAME_LENGTH} characters",
            detail={"name": name[:300]},
        )
    return name


def check_tag(tag: str) -> str:
    if not TAG_RE.match(tag):
        raise TagInvalid(
            "tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", detail={"tag": tag[:200]}
        )
    return tag


@dataclass(frozen=True, slots=True)
class Reference:
    """A manifest reference from a URL: exactly one of tag or digest."""

    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, value: str) -> Reference:
        if is_digest(value):
            return cls(digest=Digest.parse(value))
        return cls(tag=check_tag(value))

    def __str__(self) -> str:
        return self.tag if self.tag is not None else str(self.digest)
