"""What the compare, golden-record and dashboard pages show: reads only, no decisions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.domain.errors import RecordNotFound
from hub.store import queries
from hub.store.tables import (
    DeadLetter,
    DeliveryRow,
    GoldenRecordRow,
    MatchCandidate,
    OutboxRow,
    SourceRecordRow,
    SubscriptionRow,
)
from matching import DEFAULT_SPECS, NULL_LEVEL, Comparison


def _levels(domain: str) -> dict[str, Comparison]:
    build = DEFAULT_SPECS.get(domain)
    return {c.label: c for c in build().comparisons} if build else {}


def level_of(
    comparison: Comparison | None, mine: Mapping[str, Any], theirs: Mapping[str, Any]
) -> str:
    """The comparison level two records reach ("exact", "jw>=0.92", "else"...), as scored.

    A comparison that reads more than its own field (names entered the wrong way round) says
    what it compares through ``value``; a plain one compares its field, normalised.
    """
    if comparison is None:
        return ""
    value = getattr(comparison, "value", None)
    if callable(value):
        left, right = value(mine), value(theirs)
    else:
        field = comparison.field
        left, right = comparison.normalise(mine.get(field)), comparison.normalise(theirs.get(field))
    level = int(comparison.levels([left], [right])[0])
    return "missing" if level == NULL_LEVEL else comparison.level_names[level]


def linked_records(session: Session, golden_id: str) -> list[SourceRecordRow]:
    return list(
        session.scalars(
            select(SourceRecordRow)
            .where(SourceRecordRow.golden_id == golden_id, SourceRecordRow.deleted.is_(False))
            .order_by(SourceRecordRow.source, SourceRecordRow.source_key)
        )
    )


def compare(session: Session, candidate_id: int) -> dict[str, Any]:
    """The incoming record beside the candidate golden record, field by field, with weights."""
    cand = session.get(MatchCandidate, candidate_id)
    if cand is None:
        raise RecordNotFound(f"no match candidate {candidate_id}")
    record = session.get(SourceRecordRow, cand.source_record_id)
    golden = session.get(GoldenRecordRow, cand.golden_id)
    if record is None or golden is None:
        raise RecordNotFound(f"match candidate {candidate_id}: its record or golden record is gone")
    comparisons = _levels(cand.domain)
    weights = {k: float(v) for k, v in cand.weights.items()}
    notes = dict(cand.notes or {})
    levels = dict(cand.levels or {})  # scored with the weights, never read apart from them
    scale = max((abs(w) for w in weights.values()), default=1.0) or 1.0
    rows = []
    for label, weight in weights.items():
        comp = comparisons.get(label)
        name = comp.field if comp else label
        rows.append(
            {
                "field": name,
                "label": label,
                "record": record.attributes.get(name),
                "golden": golden.attributes.get(name),
                "level": levels.get(label) or level_of(comp, record.attributes, golden.attributes),
                "weight": weight,
                "note": notes.get(label),
                "bar": round(100 * abs(weight) / scale),
            }
        )
    compared = {r["field"] for r in rows}
    others = sorted(
        (set(record.attributes) | set(golden.attributes)) - compared - {"id"},
    )
    return {
        "candidate": cand,
        "record": record,
        "golden": golden,
        "fields": rows,
        "other_fields": [
            {"field": f, "record": record.attributes.get(f), "golden": golden.attributes.get(f)}
            for f in others
        ],
        "total_weight": round(sum(weights.values()), 2),
        "tier_note": notes.get("tier"),
        "linked": linked_records(session, golden.id),
    }


def history_diffs(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each version with, per changed field, the value before and after (newest first)."""
    out = []
    previous: dict[str, Any] = {}
    for v in history:
        attrs = v["attributes"]
        changed = v["changed_fields"] or sorted(set(attrs) | set(previous))
        diffs = [
            {"field": f, "before": previous.get(f), "after": attrs.get(f)}
            for f in changed
            if previous.get(f) != attrs.get(f) or not previous
        ]
        out.append({**v, "diffs": diffs})
        previous = attrs
    return list(reversed(out))


def dashboard(session: Session, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    golden = queries.golden_per_domain(session)
    pending = dict(
        session.execute(
            select(MatchCandidate.domain, func.count())
            .where(MatchCandidate.status == "pending")
            .group_by(MatchCandidate.domain)
        ).all()
    )
    rules = dict(
        session.execute(
            select(SourceRecordRow.link_rule, func.count())
            .where(SourceRecordRow.deleted.is_(False))
            .group_by(SourceRecordRow.link_rule)
        ).all()
    )
    link = auto_link(session, rules)
    dead = session.execute(
        select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
    ).scalar_one()
    head = session.execute(select(func.coalesce(func.max(OutboxRow.seq), 0))).scalar_one()
    waiting = dict(
        session.execute(
            select(DeliveryRow.subscription_id, func.count())
            .where(DeliveryRow.status == "pending")
            .group_by(DeliveryRow.subscription_id)
        ).all()
    )
    subscribers = [
        {
            "name": s.name,
            "status": s.status,
            "lag": int(head) - s.cursor + int(waiting.get(s.id, 0)),
            "last_success_at": s.last_success_at,
        }
        for s in session.scalars(select(SubscriptionRow).order_by(SubscriptionRow.name))
    ]
    return {
        "golden": golden,
        "pending": pending,
        **link,
        "links": sum(rules.values()),
        "dead_letters": dead,
        "subscribers": subscribers,
        "hourly": hourly_changes(session, now),
    }


def auto_link(session: Session, rules: Mapping[str, int]) -> dict[str, Any]:
    """The share of records the hub linked by itself, out of all that were linked to an
    existing golden record or wait for a steward to decide: a record in review is work the
    hub did not do, so leaving it out once showed 100 % beside a full queue."""
    alone = ("new", "revived", "", None, "steward:split")  # on a golden record of their own
    joined = sum(n for rule, n in rules.items() if rule not in alone)
    by_steward = rules.get("steward", 0)
    in_review = session.execute(
        select(func.count(func.distinct(MatchCandidate.source_record_id)))
        .join(SourceRecordRow, SourceRecordRow.id == MatchCandidate.source_record_id)
        .where(MatchCandidate.status == "pending", SourceRecordRow.deleted.is_(False))
    ).scalar_one()
    automatic = joined - by_steward
    total = joined + int(in_review)
    return {
        "auto_link_rate": automatic / total if total else None,
        "auto_linked": automatic,
        "linked_or_pending": total,
        "in_review": int(in_review),
    }


def hourly_changes(session: Session, now: datetime) -> list[tuple[str, int]]:
    """Golden-record changes (outbox events) per hour over the last 24 hours, oldest first."""
    start = (now - timedelta(hours=23)).replace(minute=0, second=0, microsecond=0)
    if session.get_bind().dialect.name == "postgresql":
        bucket = func.to_char(func.timezone("UTC", OutboxRow.created_at), "HH24")
    else:
        bucket = func.strftime("%H", OutboxRow.created_at)
    counts: dict[str, int] = dict(
        session.execute(
            select(bucket, func.count()).where(OutboxRow.created_at >= start).group_by(bucket)
        ).all()
    )
    hours = [(start + timedelta(hours=i)).strftime("%H") for i in range(24)]
    return [(h, int(counts.get(h, 0))) for h in hours]
