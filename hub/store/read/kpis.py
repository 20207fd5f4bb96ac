"""The business KPIs (issue 17): how long a won deal takes to become a project consultants can
book on, how fast subscribers hear of a change, how much stewards and finance reconcile, and
how often integrations fail. Read-only queries over the hub's own tables, for the dashboard,
``/metrics`` and ``GET /api/v1/kpis``.

Percentiles are computed in Python over the window's rows: the windows are days and weeks of
one firm's deals and deliveries, thousands of rows, and both stores then give the same answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.store import tables as t
from hub.store.jsonref import json_text

MAX_ROWS = 100_000


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile ``q`` (0-100) of ``values``; None when there are none.

    Examples:
        >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
        2.0
        >>> percentile([1.0, 2.0, 3.0, 4.0], 90)
        4.0
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def _aware(at: datetime | None) -> datetime | None:
    if at is not None and at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at


def _week(at: datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def setup_cycle(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Per ISO week of the deal's contract: contracted -> shell made, -> published, -> joined
    by PSA's (or ERP's) project, p50 and p90 in seconds, and how many deals."""
    rows = session.execute(
        select(
            t.ProjectShell.contracted_at,
            t.ProjectShell.created_at,
            t.ProjectShell.published_at,
            t.ProjectShell.linked_at,
        )
        .where(t.ProjectShell.created_at >= since)
        .limit(MAX_ROWS)
    ).all()
    weeks: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for contracted, created, published, linked in rows:
        start = _aware(contracted) or _aware(created)
        assert start is not None
        spans = weeks[_week(start)]
        spans["deals"].append(1)
        for name, at in (("shell", created), ("published", published), ("linked", linked)):
            if (end := _aware(at)) is not None:
                spans[name].append((end - start).total_seconds())
    out = []
    for week, spans in sorted(weeks.items()):
        entry: dict[str, Any] = {"week": week, "deals": len(spans["deals"])}
        for name in ("shell", "published", "linked"):
            entry[f"{name}_p50_seconds"] = percentile(spans[name], 50)
            entry[f"{name}_p90_seconds"] = percentile(spans[name], 90)
            entry[f"{name}_count"] = len(spans[name])
        out.append(entry)
    return out


def delivery_latency(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Per subscription: golden change committed -> delivered (2xx), p50 and p99 in ms."""
    rows = session.execute(
        select(t.SubscriptionRow.name, t.DeliveryRow.last_attempt_at, t.OutboxRow.created_at)
        .join(t.DeliveryRow, t.DeliveryRow.subscription_id == t.SubscriptionRow.id)
        .join(t.OutboxRow, t.OutboxRow.seq == t.DeliveryRow.seq)
        .where(t.DeliveryRow.status == "delivered", t.DeliveryRow.last_attempt_at >= since)
        .limit(MAX_ROWS)
    ).all()
    waits: dict[str, list[float]] = defaultdict(list)
    for name, delivered, committed in rows:
        end, start = _aware(delivered), _aware(committed)
        if end is not None and start is not None:
            waits[name].append((end - start).total_seconds() * 1000)
    return [
        {
            "subscription": name,
            "delivered": len(ms),
            "p50_ms": percentile(ms, 50),
            "p99_ms": percentile(ms, 99),
        }
        for name, ms in sorted(waits.items())
    ]


def _per_day(session: Session, column: Any, since: datetime, *where: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for (at,) in session.execute(select(column).where(column >= since, *where).limit(MAX_ROWS)):
        if (aware := _aware(at)) is not None:
            counts[aware.date().isoformat()] += 1
    return counts


def reconciliation(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Per day: steward decisions on match candidates, and setup exceptions opened."""
    decisions = _per_day(
        session, t.MatchCandidate.decided_at, since, t.MatchCandidate.decided_by.is_not(None)
    )
    exceptions = _per_day(session, t.SetupException.created_at, since)
    days = sorted(set(decisions) | set(exceptions))
    return [
        {
            "day": d,
            "steward_decisions": decisions.get(d, 0),
            "setup_exceptions": exceptions.get(d, 0),
        }
        for d in days
    ]


def _per_day_and(
    session: Session, at: Any, key: Any, since: datetime, *where: Any
) -> dict[tuple[str, str], int]:
    """Rows per (UTC day, key): grouped here, not in SQL, so both stores cut days alike."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for when, name in session.execute(select(at, key).where(at >= since, *where).limit(MAX_ROWS)):
        if (aware := _aware(when)) is not None:
            counts[(aware.astimezone(UTC).date().isoformat(), str(name))] += 1
    return counts


def integration_failures(session: Session, since: datetime) -> dict[str, list[dict[str, Any]]]:
    """Per day: dead letters per source over the changes it sent, and dead deliveries per
    subscription over the deliveries attempted."""
    sent = _per_day_and(session, t.InboxRow.received_at, t.InboxRow.source, since)
    dead = _per_day_and(session, t.DeadLetter.created_at, t.DeadLetter.source, since)
    sources = [
        {
            "day": day,
            "source": source,
            "dead_letters": n,
            "changes": sent.get((day, source), 0),
            "rate": n / sent[(day, source)] if sent.get((day, source)) else None,
        }
        for (day, source), n in sorted(dead.items())
    ]
    names = dict(session.execute(select(t.SubscriptionRow.id, t.SubscriptionRow.name)).all())
    attempted = _per_day_and(
        session, t.DeliveryRow.last_attempt_at, t.DeliveryRow.subscription_id, since
    )
    failed = _per_day_and(
        session,
        t.DeliveryRow.last_attempt_at,
        t.DeliveryRow.subscription_id,
        since,
        t.DeliveryRow.status == "dead",
    )
    subscriptions = [
        {
            "day": day,
            "subscription": names.get(sub, sub),
            "dead": failed.get((day, sub), 0),
            "deliveries": n,
            "rate": failed.get((day, sub), 0) / n,
        }
        for (day, sub), n in sorted(attempted.items())
    ]
    return {"sources": sources, "subscriptions": subscriptions}


def unknown_stages(session: Session, known: Callable[[Any], bool]) -> list[dict[str, Any]]:
    """Active deals whose stage no ``project_setup`` stage list names, per stage: they are
    kept, and never make a shell, so a stage renamed in CRM shows here before it costs a
    project."""
    stage = json_text(t.GoldenRecordRow.attributes, "stage")
    rows = session.execute(
        select(stage, func.count())
        .where(t.GoldenRecordRow.domain == "opportunity", t.GoldenRecordRow.status == "active")
        .group_by(stage)
    ).all()
    return [{"stage": s, "deals": int(n)} for s, n in sorted(rows, key=str) if not known(s)]


def all_kpis(
    session: Session,
    days: int = 28,
    now: datetime | None = None,
    known_stage: Callable[[Any], bool] | None = None,
) -> dict[str, Any]:
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    return {
        "unknown_stages": unknown_stages(session, known_stage) if known_stage else [],
        "since": since,
        "setup_cycle": setup_cycle(session, since),
        "delivery_latency": delivery_latency(session, since),
        "reconciliation": reconciliation(session, since),
        "integration_failures": integration_failures(session, since),
    }
