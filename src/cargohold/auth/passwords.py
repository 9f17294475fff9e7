"""Password hashing with argon2id (RFC 9106's second recommended parameter set).

argon2 is loaded on first use: a registry without accounts never needs it, and
every megabyte of a worker's baseline counts against its memory budget.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH = 8


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)


@cache
def _dummy() -> str:
    # Verified against when the user does not exist, so an unknown name costs the
    # same time as a wrong password and timing does not tell which it was.
    return _hasher().hash("cargohold-dummy-password")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; ``None`` burns the same time."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return _hasher().verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher().check_needs_rehash(stored)
