"""Match candidates, read: the API's listing, and for one candidate the records it compares,
the other candidates of its record, the decision an undo would take back, and the names a
flash gives them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.domain.errors import RecordNotFound
from hub.store.claims import claims_of, comments
from hub.store.tables import GoldenRecordRow, MatchCandidate, SourceRecordRow

__all__ = [
    "claims_of",
    "comments",
    "domain_of",
    "listing",
    "names",
    "pair",
    "side_by_side",
    "undoable",
]


def pair(session: Session, candidate_id: int) -> tuple[Any, Any, Any]:
    """The candidate, its incoming source record and its golden record (rows).

    Raises:
        RecordNotFound: no such candidate, or its record or golden record is gone.
    """
    cand = session.get(MatchCandidate, candidate_id)
    if cand is None:
        raise RecordNotFound(f"no match candidate {candidate_id}")
    record = session.get(SourceRecordRow, cand.source_record_id)
    golden = session.get(GoldenRecordRow, cand.golden_id)
    if record is None or golden is None:
        raise RecordNotFound(f"match candidate {candidate_id}: its record or golden record is gone")
    return cand, record, golden


def domain_of(session: Session, candidate_id: int) -> str | None:
    cand = session.get(MatchCandidate, candidate_id)
    return cand.domain if cand else None


def side_by_side(session: Session, record_id: int) -> list[dict[str, Any]]:
    """Every pending candidate of the record with its golden record's values, most likely
    first: the columns of the compare page's "pick one or none" table."""
    mc, g = MatchCandidate, GoldenRecordRow
    stmt = (
        select(mc.id, mc.probability, mc.golden_id, g.attributes.label("golden_attributes"))
        .outerjoin(g, g.id == mc.golden_id)
        .where(mc.source_record_id == record_id, mc.status == "pending")
        .order_by(mc.probability.desc(), mc.id.desc())
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def undoable(session: Session, candidate_id: int, window_seconds: int) -> list[int]:
    """The candidates decided together with this one (a cluster decision shares its moment
    and steward), if that was a steward's merge or rejection less than the window ago."""
    cand = session.get(MatchCandidate, candidate_id)
    if cand is None or cand.status not in ("merged", "rejected") or cand.decided_at is None:
        return []
    if cand.rule == "steward:split" or cand.reason == "undo":
        return []
    at = cand.decided_at if cand.decided_at.tzinfo else cand.decided_at.replace(tzinfo=UTC)
    if datetime.now(UTC) - at > timedelta(seconds=window_seconds):
        return []
    mc = MatchCandidate
    return list(
        session.scalars(
            select(mc.id)
            .where(
                mc.source_record_id == cand.source_record_id,
                mc.decided_at == cand.decided_at,
                mc.decided_by == cand.decided_by,
                mc.status.in_(("merged", "rejected")),
            )
            .order_by(mc.id)
        )
    )


def names(session: Session, ids: list[int]) -> list[tuple[int, Any, Any]]:
    """Per candidate: its id, its incoming record's attributes and its golden record's."""
    mc, sr, g = MatchCandidate, SourceRecordRow, GoldenRecordRow
    rows = session.execute(
        select(mc.id, sr.attributes, g.attributes)
        .join(sr, sr.id == mc.source_record_id)
        .outerjoin(g, g.id == mc.golden_id)
        .where(mc.id.in_(ids))
    ).all()
    return [(int(cid), attrs, gattrs) for cid, attrs, gattrs in rows]


def listing(
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
