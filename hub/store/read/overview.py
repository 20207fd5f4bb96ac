"""The steward dashboard and the queue's drop-downs, read: golden records and candidates per
domain, how many links the hub made by itself, subscribers' lag, changes per hour, decisions
per steward, the backlog by age, and the sources and onboarding runs a filter can name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.store.read.golden import golden_per_domain
from hub.store.tables import (
    DeadLetter,
    DeliveryRow,
    MatchCandidate,
    OnboardingRun,
    OutboxRow,
    SourceRecordRow,
    SourceSystem,
    SubscriptionRow,
)


def dashboard(session: Session, now: datetime) -> dict[str, Any]:
    """The dashboard's counts, each one grouped query."""
    mc, sr = MatchCandidate, SourceRecordRow
    pending = dict(
        session.execute(
            select(mc.domain, func.count()).where(mc.status == "pending").group_by(mc.domain)
        ).all()
    )
    rules = dict(
        session.execute(
            select(sr.link_rule, func.count()).where(sr.deleted.is_(False)).group_by(sr.link_rule)
        ).all()
    )
    dead = session.execute(
        select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
    ).scalar_one()
    return {
        "golden": golden_per_domain(session),
        "pending": pending,
        **auto_link(session, rules),
        "links": sum(rules.values()),
        "dead_letters": dead,
        "subscribers": subscribers(session),
        "hourly": hourly_changes(session, now),
    }


def subscribers(session: Session) -> list[dict[str, Any]]:
    """Each subscription with its lag: events it has not been sent, and sends still pending."""
    head = session.execute(select(func.coalesce(func.max(OutboxRow.seq), 0))).scalar_one()
    waiting = dict(
        session.execute(
            select(DeliveryRow.subscription_id, func.count())
            .where(DeliveryRow.status == "pending")
            .group_by(DeliveryRow.subscription_id)
        ).all()
    )
    return [
        {
            "name": s.name,
            "status": s.status,
            "lag": int(head) - s.cursor + int(waiting.get(s.id, 0)),
            "last_success_at": s.last_success_at,
        }
        for s in session.scalars(select(SubscriptionRow).order_by(SubscriptionRow.name))
    ]


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


def decided_since(session: Session, since: datetime) -> list[tuple[str, datetime]]:
    """(steward, when) of every steward's merge and rejection since then. Superseded
    candidates were no one's decision and are left out."""
    mc = MatchCandidate
    rows = session.execute(
        select(mc.decided_by, mc.decided_at).where(
            mc.status.in_(("merged", "rejected")),
            mc.decided_at >= since,
            mc.decided_by.is_not(None),
        )
    )
    return [(str(who), at.astimezone(UTC)) for who, at in rows if at is not None]


def pending_between(session: Session, newer_than: datetime | None, at_most: datetime | None) -> int:
    """Pending candidates created after ``newer_than`` and at or before ``at_most`` (either
    end open when None)."""
    mc = MatchCandidate
    stmt = select(func.count()).where(mc.status == "pending")
    if newer_than is not None:
        stmt = stmt.where(mc.created_at > newer_than)
    if at_most is not None:
        stmt = stmt.where(mc.created_at <= at_most)
    return int(session.execute(stmt).scalar_one())


def oldest_pending(session: Session) -> dict[str, Any] | None:
    mc = MatchCandidate
    oldest = session.execute(
        select(mc.id, mc.domain, mc.created_at)
        .where(mc.status == "pending")
        .order_by(mc.created_at, mc.id)
        .limit(1)
    ).first()
    return dict(oldest._mapping) if oldest is not None else None


def source_names(session: Session) -> list[str]:
    return list(session.scalars(select(SourceSystem.name).order_by(SourceSystem.name)))


def loading_runs(session: Session, limit: int) -> list[tuple[str, str, str, datetime]]:
    """(id, file name, source, created at) of the newest onboarding runs that loaded records."""
    r = OnboardingRun
    stmt = (
        select(r.id, r.file_name, r.source, r.created_at)
        .where(r.status != "dry_run")
        .order_by(r.created_at.desc())
        .limit(limit)
    )
    return [(str(i), str(f), str(s), at) for i, f, s, at in session.execute(stmt)]


def run_report(session: Session, run_id: str) -> dict[str, Any] | None:
    """The JSON report stored with an onboarding run; None if there is no such run."""
    row = session.get(OnboardingRun, run_id)
    return dict(row.report) if row is not None else None
