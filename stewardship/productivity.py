"""Steward productivity for the dashboard: decisions per steward per day, the backlog by age
and the oldest waiting candidate. Each is read by ``hub.store.read.overview``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hub.store.read import overview
from hub.web.deps import ReadSession

# Backlog buckets by how long a candidate has waited, as (label, at most this old).
AGES: tuple[tuple[str, timedelta | None], ...] = (
    ("under 1 day", timedelta(days=1)),
    ("1 to 7 days", timedelta(days=7)),
    ("1 to 4 weeks", timedelta(days=28)),
    ("older", None),
)
DAYS = 14


def decisions(session: ReadSession, now: datetime, days: int = DAYS) -> list[dict[str, Any]]:
    """Merges and rejections per steward per UTC day, newest day first."""
    counts: dict[tuple[str, str], int] = {}
    for who, at in overview.decided_since(session, now - timedelta(days=days)):
        key = (at.strftime("%Y-%m-%d"), who)
        counts[key] = counts.get(key, 0) + 1
    return [
        {"day": day, "steward": who, "decisions": n}
        for (day, who), n in sorted(counts.items(), key=lambda x: (x[0][0], x[0][1]), reverse=True)
    ]


def backlog(session: ReadSession, now: datetime) -> dict[str, Any]:
    """Pending candidates per age bucket, and the oldest one waiting."""
    buckets: list[dict[str, Any]] = []
    newer_than: datetime | None = None
    for label, age in AGES:
        since = now - age if age is not None else None
        count = overview.pending_between(session, since, newer_than)
        buckets.append({"age": label, "candidates": count})
        newer_than = since
    return {"buckets": buckets, "oldest": overview.oldest_pending(session)}
