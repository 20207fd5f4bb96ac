"""Logging in, with failed logins throttled per account.

The count of failures and the lock live on the steward's row, not in process memory: with
several API processes behind a balancer, a per-process count would give an attacker one
allowance per process, and a restart would reset it. The lock is short and grows (30 s,
doubling, at most 15 min) so that someone guessing a steward's name cannot lock them out
for long, while guessing a password at that rate takes forever.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hub.domain.accounts import (
    FIRST_LOCK_SECONDS,
    FREE_FAILURES,
    MAX_LOCK_SECONDS,
    LoggedIn,
    lock_seconds,
)
from hub.domain.commands import RecordLogin
from hub.services.bus import MessageBus
from hub.store import stewards
from hub.store.db import Engine
from hub.store.uow import session_factory
from stewardship import passwords

__all__ = [
    "FIRST_LOCK_SECONDS",
    "FREE_FAILURES",
    "MAX_LOCK_SECONDS",
    "REFUSED",
    "LoggedIn",
    "LoginRefused",
    "lock_seconds",
    "login",
]

# One message for a wrong name, a wrong password, a disabled and a locked account, so that the
# answer never tells which names exist.
REFUSED = (
    f"wrong name or password (after {FREE_FAILURES} failures in a row, "
    "an account pauses logins for a while)"
)


class LoginRefused(Exception):
    """Wrong name or password, disabled account, or too many failures: one message for all."""


def login(
    engine: Engine, bus: MessageBus, name: str, password: str, now: datetime | None = None
) -> LoggedIn:
    """Check a name and password; count the failure or reset the count, and commit that.

    Every attempt takes the same path: one password verification (against a dummy hash for an
    unknown name), then one refusal with one message, whether the name is unknown, disabled,
    locked or the password wrong, so neither the answer nor its timing tells which names
    exist (issue 19, item 5).

    The hash is checked outside any transaction: a writing transaction held through argon2
    made every other writer (and, on SQLite, ``/healthz``) wait for it. The outcome is then
    recorded through the bus (``RecordLogin``) in a short transaction that holds the name's
    lock and reads the account again, so attempts are counted in the order they are recorded:
    a right password recorded after the failures that locked the account is refused, however
    the attempts overlapped.

    Raises:
        LoginRefused: with a message that never says whether the name exists or is locked.
    """
    with session_factory(engine, readonly=True)() as session:
        row = stewards.find(session, name)
        known_hash = row.password_hash if row is not None else None
    ok = passwords.verify(known_hash, password)
    # the outcome through the bus, committed whichever it is: a refusal's count must stay
    who: LoggedIn | None = bus.handle(
        RecordLogin(name, ok and known_hash is not None, now or datetime.now(UTC))
    )
    if who is None:
        raise LoginRefused(REFUSED)
    return who
