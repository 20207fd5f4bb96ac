"""A record's candidates together: an incoming record with two or more pending candidates
is one question (which golden record, if any), not two unrelated rows. The queue says how
many candidates each row's record has, and the compare page lists the others beside it
(issue 16, must-have 1, in part)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.domain.errors import ConcordError
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


def field_rows(
    record: dict[str, Any], columns: list[dict[str, Any]], fields: list[str]
) -> list[dict[str, Any]]:
    """One row per field: the incoming value, then each candidate's, with whether it agrees."""
    rows = []
    for f in fields:
        mine = record.get(f)
        theirs = [(c.get("golden_attributes") or {}).get(f) for c in columns]
        if mine in (None, "") and all(t in (None, "") for t in theirs):
            continue
        rows.append({"field": f, "record": mine, "theirs": theirs})
    return rows


def parse_choice(ids: str, chosen: str) -> tuple[tuple[int, ...], int | None]:
    """The form's ``ids`` ("12,13") and ``chosen`` (an id, or "none")."""
    try:
        listed = tuple(int(p) for p in ids.split(",") if p.strip())
        pick = None if chosen == "none" else int(chosen)
    except ValueError:
        raise ConcordError(f"candidates {ids!r}, choice {chosen!r}: not candidate ids") from None
    return listed, pick


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
