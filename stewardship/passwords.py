"""Password hashes with argon2id (argon2-cffi), the OWASP first choice.

The hasher is module state so that tests can swap in cheap parameters once
(:func:`use_cost`) instead of paying ~50 ms per hash on every login they make.
"""

from __future__ import annotations

import base64
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


def _dummy_for(hasher: PasswordHasher) -> str:
    """A hash no password matches, with ``hasher``'s parameters.

    Verified when the name is unknown, so that a wrong name costs as long as a wrong password
    and response times do not tell which names exist. Verifying costs what the parameters in
    the string say, whatever its salt and digest, so random bytes do: hashing a password here
    instead cost every process that imports this module one full hash (~0.1 s) at start.
    """

    def b64(n: int) -> str:
        return base64.b64encode(secrets.token_bytes(n)).decode().rstrip("=")

    params = f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
    return f"$argon2id$v=19${params}${b64(hasher.salt_len)}${b64(hasher.hash_len)}"


_hasher = PasswordHasher()
_dummy = _dummy_for(_hasher)


def use_cost(time_cost: int, memory_cost_kib: int) -> None:
    """Change the hashing cost (tests use the cheapest; production keeps the default)."""
    global _hasher, _dummy
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1)
    _dummy = _dummy_for(_hasher)


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash still costs one verification."""
    try:
        return _hasher.verify(password_hash or _dummy, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
