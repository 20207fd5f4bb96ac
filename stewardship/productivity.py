"""Steward productivity for the dashboard: decisions per steward per day, the backlog by age
and the oldest waiting candidate. Each is one grouped query over match candidates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.store.tables import MatchCandidate

# Backlog buckets by how long a candidate has waited, as (label, at most this old).
AGES: tuple[tuple[str, timedelta | None], ...] = (
    ("under 1 day", timedelta(days=1)),
    ("1 to 7 days", timedelta(days=7)),
    ("1 to 4 weeks", timedelta(days=28)),
    ("older", None),
)
DAYS = 14


def decisions(session: Session, now: datetime, days: int = DAYS) -> list[dict[str, Any]]:
    """Merges and rejections per steward per UTC day, newest day first. Superseded ones
    were no one's decision and are not counted."""
    mc = MatchCandidate
    since = now - timedelta(days=days)
    rows = session.execute(
        select(mc.decided_by, mc.decided_at).where(
            mc.status.in_(("merged", "rejected")),
            mc.decided_at >= since,
            mc.decided_by.is_not(None),
        )
    )
    counts: dict[tuple[str, str], int] = {}
    for who, at in rows:
        if at is None:
            continue
        key = (at.astimezone(UTC).strftime("%Y-%m-%d"), str(who))
        counts[key] = counts.get(key, 0) + 1
    return [
        {"day": day, "steward": who, "decisions": n}
        for (day, who), n in sorted(counts.items(), key=lambda x: (x[0][0], x[0][1]), reverse=True)
    ]


def backlog(session: Session, now: datetime) -> dict[str, Any]:
    """Pending candidates per age bucket, and the oldest one waiting."""
    mc = MatchCandidate
    buckets: list[dict[str, Any]] = []
    newer_than: datetime | None = None
    for label, age in AGES:
        stmt = select(func.count()).where(mc.status == "pending")
        if age is not None:
            stmt = stmt.where(mc.created_at > now - age)
        if newer_than is not None:
            stmt = stmt.where(mc.created_at <= newer_than)
        buckets.append({"age": label, "candidates": int(session.execute(stmt).scalar_one())})
        newer_than = now - age if age is not None else None
    oldest = session.execute(
        select(mc.id, mc.domain, mc.created_at)
        .where(mc.status == "pending")
        .order_by(mc.created_at, mc.id)
        .limit(1)
    ).first()
    return {
        "buckets": buckets,
        "oldest": dict(oldest._mapping) if oldest is not None else None,
    }
