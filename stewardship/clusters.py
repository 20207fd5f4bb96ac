"""A record's candidates together: an incoming record with two or more pending candidates
is one question (which golden record, if any), not two unrelated rows. The queue says how
many candidates each row's record has, and the compare page lists the others beside it
(issue 16, must-have 1, in part)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.store.tables import GoldenRecordRow, MatchCandidate


def pending_per_record(session: Session, record_ids: list[int]) -> dict[int, int]:
    """How many pending candidates each of these source records has: one grouped query."""
    if not record_ids:
        return {}
    mc = MatchCandidate
    stmt = (
        select(mc.source_record_id, func.count())
        .where(mc.source_record_id.in_(sorted(set(record_ids))), mc.status == "pending")
        .group_by(mc.source_record_id)
    )
    return {int(r): int(n) for r, n in session.execute(stmt)}


def others(session: Session, record_id: int, candidate_id: int) -> list[dict[str, Any]]:
    """The record's other pending candidates, most likely first."""
    mc, g = MatchCandidate, GoldenRecordRow
    stmt = (
        select(mc.id, mc.probability, mc.golden_id, g.attributes.label("golden_attributes"))
        .outerjoin(g, g.id == mc.golden_id)
        .where(mc.source_record_id == record_id, mc.status == "pending", mc.id != candidate_id)
        .order_by(mc.probability.desc(), mc.id.desc())
    )
    return [dict(r._mapping) for r in session.execute(stmt)]
