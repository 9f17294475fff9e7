"""Generated secrets: personal access tokens, login passwords, robot and refresh tokens.

A secret reads ``<prefix>_<id>_<random>``. The id finds the row; the random part is
stored only as its SHA-256 (it has 256 bits of entropy, so a slow hash adds nothing)
and compared in constant time. The prefix tells a human and a secret scanner what
leaked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _random
from dataclasses import dataclass
from typing import Literal

Kind = Literal["pat", "login", "robot", "refresh"]

PREFIXES: dict[Kind, str] = {"pat": "chp", "login": "chl", "robot": "chr", "refresh": "chf"}
_KINDS = {v: k for k, v in PREFIXES.items()}
_ID_RE = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class NewSecret:
    id: str
    kind: Kind
    text: str  # shown once, never stored
    digest: str  # what is stored


@dataclass(frozen=True, slots=True)
class ParsedSecret:
    id: str
    kind: Kind
    digest: str


def digest_of(random_part: str) -> str:
    return hashlib.sha256(random_part.encode()).hexdigest()


def new_secret(kind: Kind) -> NewSecret:
    ident = _random.token_hex(8)
    random_part = _random.token_urlsafe(32)
    text = f"{PREFIXES[kind]}_{ident}_{random_part}"
    return NewSecret(id=ident, kind=kind, text=text, digest=digest_of(random_part))


def parse_secret(text: str) -> ParsedSecret | None:
    """The id and digest of something shaped like our secret, else None."""
    if len(text) > 200:
        return None
    prefix, _, rest = text.partition("_")
    ident, _, random_part = rest.partition("_")
    kind = _KINDS.get(prefix)
    if kind is None or not _ID_RE.fullmatch(ident) or not random_part:
        return None
    return ParsedSecret(id=ident, kind=kind, digest=digest_of(random_part))


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
