"""The steward account's lockout rule: how long an account pauses logins after failures.

The lock is short and grows (30 s, doubling, at most 15 min) so that someone guessing a
steward's name cannot lock them out for long, while guessing a password at that rate takes
forever. It lives in the domain because the login command's handler applies it where the
failure is counted, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

FREE_FAILURES = 5
FIRST_LOCK_SECONDS = 30
MAX_LOCK_SECONDS = 15 * 60


def lock_seconds(failures: int) -> int:
    """How long an account stays locked after ``failures`` consecutive failures.

    Examples:
        >>> [lock_seconds(n) for n in (4, 5, 6, 7, 20)]
        [0, 30, 60, 120, 900]
    """
    if failures < FREE_FAILURES:
        return 0
    return int(min(FIRST_LOCK_SECONDS * 2 ** (failures - FREE_FAILURES), MAX_LOCK_SECONDS))


@dataclass(frozen=True)
class LoggedIn:
    """A steward let in: what the session cookie carries."""

    id: int
    name: str
    role: str
    generation: int = 0  # the session generation the cookie must carry
