"""Steward accounts: who may log in to the steward page, with which role.

The password hash arrives ready-made (the steward page hashes with argon2), so this module
stays free of any crypto choice. Every change to an account goes to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.domain.errors import ConcordError, RecordNotFound
from hub.store.access import audit
from hub.store.sql import advisory_locks
from hub.store.tables import StewardRow

ROLES = ("viewer", "steward", "finance", "admin")  # finance: setup exceptions, not matches


def add_steward(
    session: Session, name: str, role: str, password_hash: str, actor: str = "cli"
) -> StewardRow:
    if role not in ROLES:
        raise ConcordError(f"steward {name}: role {role!r} is not one of {', '.join(ROLES)}")
    if not name or len(name) > 100 or not name.isprintable() or name != name.strip():
        raise ConcordError(f"steward {name!r}: a name is 1 to 100 printable characters")
    if find(session, name) is not None:
        raise ConcordError(f"steward {name} exists already")
    row = StewardRow(
        name=name,
        role=role,
        password_hash=password_hash,
        created_at=datetime.now(UTC),
        disabled=False,
        failed_logins=0,
    )
    session.add(row)
    session.flush()
    audit(session, actor, "steward.add", {"name": name, "role": role})
    return row


def find(session: Session, name: str) -> StewardRow | None:
    return session.execute(select(StewardRow).where(StewardRow.name == name)).scalar_one_or_none()


def get(session: Session, steward_id: int) -> StewardRow | None:
    return session.get(StewardRow, steward_id)


def list_stewards(session: Session) -> list[StewardRow]:
    return list(session.scalars(select(StewardRow).order_by(StewardRow.name)))


def set_disabled(session: Session, name: str, disabled: bool, actor: str = "cli") -> None:
    row = find(session, name)
    if row is None:
        raise RecordNotFound(f"no steward {name}")
    before = row.disabled
    row.disabled = disabled
    audit(
        session,
        actor,
        "steward.disable" if disabled else "steward.enable",
        {"name": name, "before": {"disabled": before}, "after": {"disabled": disabled}},
    )


def set_password(session: Session, name: str, password_hash: str, actor: str = "cli") -> None:
    """A new password; the failed logins that locked the account are forgotten with the old."""
    row = find(session, name)
    if row is None:
        raise RecordNotFound(f"no steward {name}")
    row.password_hash, row.failed_logins, row.locked_until = password_hash, 0, None
    audit(session, actor, "steward.password", {"name": name})


def end_sessions(session: Session, steward_id: int) -> None:
    """Every session cookie issued to the steward so far stops working (logout).

    One UPDATE that adds one, so two logouts at once cannot both write the same number.
    """
    session.execute(
        update(StewardRow)
        .where(StewardRow.id == steward_id)
        .values(session_generation=StewardRow.session_generation + 1)
    )


def find_for_login(session: Session, name: str) -> StewardRow | None:
    """The account, once this transaction holds the lock on the name (PostgreSQL).

    Parallel attempts on one name then take turns: each sees the failures counted before it,
    so a burst of guesses locks the account after the free ones, as guesses one at a time do.
    The lock is on the name, not the row, so an unknown name waits its turn the same way and
    timing under parallel attempts does not tell which names exist. SQLite's writing
    transaction (``BEGIN IMMEDIATE``) serialises every attempt anyway.
    """
    advisory_locks(session, "login", [name])
    return find(session, name)


def count_failure(session: Session, steward_id: int) -> int:
    """Add one failed login in the database, not in Python: no attempt overwrites another's."""
    failures: int = session.execute(
        update(StewardRow)
        .where(StewardRow.id == steward_id)
        .values(failed_logins=StewardRow.failed_logins + 1)
        .returning(StewardRow.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return failures


def record_login(
    session: Session, name: str, ok: bool, now: datetime, lock_for: Callable[[int], int]
) -> StewardRow | None:
    """A login attempt's outcome, under the name's lock; the account if it is let in, None
    when it is refused. A failure counts and locks the account for ``lock_for(failures)``
    seconds (the steward page's rule)."""
    row = find_for_login(session, name)
    if row is None or (row.locked_until is not None and row.locked_until > now):
        return None  # unknown, or a guess during the lock: it neither counts nor lengthens it
    if not ok or row.disabled:
        failures = count_failure(session, row.id)
        seconds = lock_for(failures)
        row.locked_until = now + timedelta(seconds=seconds) if seconds else None
        audit(session, name, "steward.login-failed", {"failures": failures})
        return None
    row.failed_logins = 0
    row.locked_until = None
    row.last_login_at = now
    return row
