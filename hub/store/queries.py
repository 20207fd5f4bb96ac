"""The read side: what the API, the CLI and the metrics show. Plain selects, no business
rules (docs/architecture.md, "The parts").

The listings that live beside the tables they read (KPIs, onboarding runs, project setup,
deliveries) are named here too, so that the API and the metrics read the store through this
one module.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.domain.errors import RecordNotFound
from hub.store.deliveries import get_subscription, list_deliveries, list_subscriptions
from hub.store.deliveries import state as delivery_state
from hub.store.kpis import all_kpis, delivery_latency, integration_failures, setup_cycle
from hub.store.onboarding import run_status
from hub.store.project_setup import list_exceptions, list_shells
from hub.store.tables import (
    DataQuality,
    DeadLetter,
    GoldenRecordRow,
    GoldenVersionRow,
    InboxRow,
    MatchCandidate,
    OutboxRow,
    PendingReference,
    SourceRecordRow,
)

__all__ = [
    "all_kpis",
    "backlog",
    "candidates",
    "counts",
    "dead_letter",
    "dead_letters",
    "delivery_latency",
    "delivery_state",
    "feed",
    "get_subscription",
    "golden_history",
    "golden_per_domain",
    "golden_view",
    "integration_failures",
    "list_deliveries",
    "list_exceptions",
    "list_shells",
    "list_subscriptions",
    "run_status",
    "search_golden",
    "setup_cycle",
    "xref_view",
]


def golden_view(session: Session, domain: str, golden_id: str) -> dict[str, Any]:
    row = session.get(GoldenRecordRow, golden_id)
    if row is None or row.domain != domain:
        raise RecordNotFound(f"no golden {domain} {golden_id}")
    links = session.execute(
        select(
            SourceRecordRow.source,
            SourceRecordRow.source_key,
            SourceRecordRow.deleted,
            SourceRecordRow.link_rule,
        )
        .where(SourceRecordRow.golden_id == golden_id)
        .order_by(SourceRecordRow.source, SourceRecordRow.source_key)
    ).all()
    pending = session.execute(
        select(PendingReference.name, PendingReference.source, PendingReference.target_key).where(
            PendingReference.golden_id == golden_id
        )
    ).all()
    return {
        "id": row.id,
        "domain": row.domain,
        "version": row.version,
        "status": row.status,
        "attributes": row.attributes,
        "provenance": {k: v for k, v in row.provenance.items() if not k.startswith("ref:")},
        "references": row.references,
        "reference_provenance": {
            k[4:]: v for k, v in row.provenance.items() if k.startswith("ref:")
        },
        "pending_references": [
            {"name": p.name, "source": p.source, "key": p.target_key} for p in pending
        ],
        "xref": [
            {"source": s, "key": k, "link": rule} for s, k, deleted, rule in links if not deleted
        ],
        "overrides": row.overrides,
        "merged_into": row.merged_into,
        "issues": quality.issues if (quality := session.get(DataQuality, golden_id)) else [],
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def search_golden(
    session: Session, domain: str, q: str, limit: int, active_only: bool = False
) -> list[dict[str, Any]]:
    """Golden records by name; ``active_only`` for what may still be merged (a merged or
    retired record offered to a steward's merge only failed when chosen)."""
    stmt = select(GoldenRecordRow).where(GoldenRecordRow.domain == domain)
    if active_only:
        stmt = stmt.where(GoldenRecordRow.status == "active")
    if q:
        escaped = q.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(GoldenRecordRow.search_name.like(f"%{escaped}%", escape="\\"))
    stmt = stmt.order_by(GoldenRecordRow.search_name, GoldenRecordRow.id).limit(limit)
    return [
        {
            "id": r.id,
            "domain": r.domain,
            "version": r.version,
            "status": r.status,
            "attributes": r.attributes,
        }
        for r in session.scalars(stmt)
    ]


def golden_history(session: Session, domain: str, golden_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(GoldenVersionRow)
        .where(GoldenVersionRow.golden_id == golden_id, GoldenVersionRow.domain == domain)
        .order_by(GoldenVersionRow.version)
    ).all()
    if not rows:
        raise RecordNotFound(f"no golden {domain} {golden_id}")
    return [
        {
            "version": v.version,
            "status": v.status,
            "cause": v.cause,
            "changed_fields": v.changed_fields,
            "attributes": v.attributes,
            "provenance": v.provenance,
            "references": v.references,
            "created_at": v.created_at,
        }
        for v in rows
    ]


def xref_view(session: Session, source: str, domain: str, key: str) -> dict[str, Any]:
    row = session.execute(
        select(SourceRecordRow).where(
            SourceRecordRow.source == source,
            SourceRecordRow.domain == domain,
            SourceRecordRow.source_key == key,
        )
    ).scalar_one_or_none()
    if row is None or row.golden_id is None:
        raise RecordNotFound(f"no {domain} record {key!r} from {source} has been applied")
    return {
        "golden_id": row.golden_id,
        "domain": domain,
        "source": source,
        "key": key,
        "status": "deleted" if row.deleted else "linked",
        "rule": row.link_rule,
    }


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


def golden_per_domain(session: Session) -> dict[str, int]:
    """Active golden records per domain (status, the steward dashboard)."""
    return dict(
        session.execute(
            select(GoldenRecordRow.domain, func.count())
            .where(GoldenRecordRow.status == "active")
            .group_by(GoldenRecordRow.domain)
        ).all()
    )


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


def candidates(
    session: Session, status: str, domain: str | None, limit: int, run_id: str | None = None
) -> list[dict[str, Any]]:
    """The steward queue; ``run_id`` keeps only the candidates one onboarding run raised."""
    stmt = (
        select(MatchCandidate, SourceRecordRow)
        .join(SourceRecordRow, SourceRecordRow.id == MatchCandidate.source_record_id)
        .where(MatchCandidate.status == status)
    )
    if domain:
        stmt = stmt.where(MatchCandidate.domain == domain)
    if run_id:
        stmt = stmt.where(MatchCandidate.run_id == run_id)
    stmt = stmt.order_by(MatchCandidate.probability.desc(), MatchCandidate.id).limit(limit)
    rows = session.execute(stmt).all()
    goldens = (
        {
            g.id: g
            for g in session.scalars(
                select(GoldenRecordRow).where(
                    GoldenRecordRow.id.in_({c.golden_id for c, _ in rows})
                )
            )
        }
        if rows
        else {}
    )
    out = []
    for cand, record in rows:
        golden = goldens.get(cand.golden_id)
        golden_attrs = golden.attributes if golden else {}
        out.append(
            {
                "id": cand.id,
                "domain": cand.domain,
                "probability": cand.probability,
                "status": cand.status,
                "source": record.source,
                "source_key": record.source_key,
                "golden_id": cand.golden_id,
                "rule": cand.rule,
                "fields": {
                    name: {
                        "record": record.attributes.get(name),
                        "golden": golden_attrs.get(name),
                        "weight": weight,
                    }
                    for name, weight in cand.weights.items()
                },
                "notes": dict(cand.notes or {}),
                "decided_by": cand.decided_by,
                "reason": cand.reason,
                "run_id": cand.run_id,
            }
        )
    return out


def backlog(session: Session) -> tuple[int, datetime | None, int, int]:
    """What is waiting (metrics' store gauges): pending inbox rows and the oldest one's
    arrival (UTC), pending match candidates, dead letters not replayed yet."""
    depth, oldest = session.execute(
        select(func.count(), func.min(InboxRow.received_at)).where(InboxRow.status == "pending")
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
