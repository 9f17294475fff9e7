"""Registry bearer tokens: ES256-signed JWTs as distribution's token spec describes.

The signing key is shared by every process and replica (it lives in the metadata
database), so a token issued by one is accepted by all. PyJWT and cryptography are
imported when the first signer is built, so a worker that never sees a token does
not carry them.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from cargohold.auth.scopes import Access

ALGORITHM = "ES256"
LEEWAY_SECONDS = 5


class InvalidToken(Exception):
    """Signature, expiry, audience, issuer or shape is wrong."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    access: tuple[Access, ...]
    issued_at: int
    issued_at_ms: int
    expires_at: int
    session: str  # what the holder logged in with; checked for revocation


class TokenSigner:
    def __init__(self, key_id: str, private_pem: str, issuer: str, audience: str) -> None:
        # PyJWT and cryptography load here, on the first token, not with the app.
        import jwt
        from cryptography.hazmat.primitives import serialization

        self._jwt = jwt
        self.key_id = key_id
        self.issuer = issuer
        self.audience = audience
        self._private = serialization.load_pem_private_key(private_pem.encode(), password=None)
        self._public = self._private.public_key()

    def issue(self, subject: str, access: list[Access], ttl: int, session: str) -> tuple[str, int]:
        """A signed token and its issue time (seconds since the epoch)."""
        exact = time.time()
        now = int(exact)
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "exp": now + ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(12),
            "access": [a.claim() for a in access],
            "sid": session,
            # iat has whole seconds; a password change must end tokens issued
            # earlier in the same second, and not those issued just after it.
            "iat_ms": int(exact * 1000),
        }
        token: str = self._jwt.encode(
            claims,
            self._private,  # type: ignore[arg-type]
            algorithm=ALGORITHM,
            headers={"kid": self.key_id},
        )
        return token, now

    def verify(self, token: str) -> TokenClaims:
        try:
            claims: dict[str, Any] = self._jwt.decode(
                token,
                self._public,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "aud", "iss", "sub"]},
            )
            access = tuple(
                Access(str(a["type"]), str(a["name"]), frozenset(map(str, a["actions"])))
                for a in claims.get("access", [])
            )
            return TokenClaims(
                subject=str(claims["sub"]),
                access=access,
                issued_at=int(claims["iat"]),
                issued_at_ms=int(claims.get("iat_ms", int(claims["iat"]) * 1000)),
                expires_at=int(claims["exp"]),
                session=str(claims.get("sid", "")),
            )
        except (self._jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            raise InvalidToken(str(exc)) from exc
