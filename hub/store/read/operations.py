"""The hub's state, read for the API, the metrics and the demo: the change feed, counts, dead
letters, what is waiting, a source's records and a deal's project shell (docs/architecture.md,
"The parts")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.domain.errors import RecordNotFound
from hub.store.inbox_partitions import waiting
from hub.store.read.golden import golden_per_domain
from hub.store.sql import table_of
from hub.store.tables import (
    DeadLetter,
    InboxRow,
    MatchCandidate,
    OutboxRow,
    PendingReference,
    ProjectShell,
    SourceRecordRow,
)


def feed(
    session: Session, after: int, domains: Sequence[str] | None, limit: int
) -> list[dict[str, Any]]:
    """Events after a cursor, in commit order (outbox sequence numbers are commit-ordered),
    of ``domains`` (None: every domain)."""
    stmt = select(OutboxRow).where(OutboxRow.seq > after)
    if domains is not None:
        stmt = stmt.where(OutboxRow.domain.in_(domains))
    stmt = stmt.order_by(OutboxRow.seq).limit(limit)
    return [{"seq": r.seq, "event": r.payload} for r in session.scalars(stmt)]


def counts(session: Session) -> dict[str, Any]:
    golden = golden_per_domain(session)
    links = session.execute(
        select(func.count()).select_from(SourceRecordRow).where(SourceRecordRow.deleted.is_(False))
    ).scalar_one()
    pending = session.execute(select(func.count()).select_from(PendingReference)).scalar_one()
    inbox = dict(
        session.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all()
    )
    candidates = session.execute(
        select(func.count()).select_from(MatchCandidate).where(MatchCandidate.status == "pending")
    ).scalar_one()
    return {
        "golden": golden,
        "links": links,
        "pending_references": pending,
        "pending_candidates": candidates,
        "inbox": inbox,
    }


def dead_letters(session: Session, limit: int, include_replayed: bool) -> list[DeadLetter]:
    stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if not include_replayed:
        stmt = stmt.where(DeadLetter.replayed_at.is_(None))
    return list(session.scalars(stmt))


def dead_letter(session: Session, dead_id: int) -> DeadLetter:
    row = session.get(DeadLetter, dead_id)
    if row is None:
        raise RecordNotFound(f"no dead letter {dead_id}")
    return row


def backlog(session: Session) -> tuple[int, datetime | None, int, int]:
    """What is waiting (metrics' store gauges): pending inbox rows and the oldest one's
    arrival (UTC), pending match candidates, dead letters not replayed yet."""
    depth, oldest = session.execute(
        select(func.count(), func.min(InboxRow.received_at)).where(waiting(table_of(InboxRow)))
    ).one()
    candidates = session.execute(
        select(func.count()).select_from(MatchCandidate).where(MatchCandidate.status == "pending")
    ).scalar_one()
    dead = session.execute(
        select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
    ).scalar_one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(depth), oldest, int(candidates), int(dead)


def source_attributes(session: Session, source: str, domain: str, limit: int) -> list[Any]:
    """The attributes of a source's first ``limit`` records of a domain, by key."""
    sr = SourceRecordRow
    return list(
        session.scalars(
            select(sr.attributes)
            .where(sr.source == source, sr.domain == domain)
            .order_by(sr.source_key)
            .limit(limit)
        )
    )


def shell_code(session: Session, source: str, domain: str, key: str) -> str | None:
    """The code of the project shell made for the golden record a source's record is linked
    to; None while there is none."""
    sr = SourceRecordRow
    golden_id = session.scalars(
        select(sr.golden_id).where(sr.source == source, sr.domain == domain, sr.source_key == key)
    ).first()
    shell = session.get(ProjectShell, golden_id) if golden_id else None
    return shell.code if shell is not None else None
