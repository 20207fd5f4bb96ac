"""The queue of pending match candidates, read: its filter's conditions, keyset pages, counts
and the rows a bulk decision covers.

Pages are keyset-paginated on (probability, id), both descending, which the
``ix_match_candidate_order`` index serves directly: page 500 of 50k costs the same as page 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, UnaryExpression, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

from hub.store.tables import CandidateClaim, GoldenRecordRow, MatchCandidate, SourceRecordRow

# Probability bands a steward picks from, as [low, high).
BANDS: dict[str, tuple[float, float]] = {
    "high": (0.9, 1.01),
    "medium": (0.7, 0.9),
    "low": (0.0, 0.7),
}
_CHUNK = 500  # ids per IN list


@dataclass(frozen=True)
class QueueFilter:
    """Which pending candidates a queue shows: every value already checked by the page that
    parsed it (an unknown band or sort never reaches a query)."""

    domain: str = ""
    source: str = ""
    band: str = ""
    run: str = ""  # an onboarding run: only the candidates it raised
    sort: str = ""  # "" (probability falling), "age" (oldest first) or "source"
    claims: str = ""  # "" (unclaimed and mine), "mine" or "all"
    me: str = ""  # the steward looking: whose claims are "mine"

    def without_domain(self) -> QueueFilter:
        return replace(self, domain="")


def conditions(f: QueueFilter) -> list[ColumnElement[bool]]:
    mc, sr = MatchCandidate, SourceRecordRow
    out: list[ColumnElement[bool]] = [mc.status == "pending"]
    if f.domain:
        out.append(mc.domain == f.domain)
    if f.source:
        out.append(sr.source == f.source)
    if f.run:
        out.append(mc.run_id == f.run)
    if f.band:
        low, high = BANDS[f.band]
        out += [mc.probability >= low, mc.probability < high]
    return out + _claimed(f)


def _claimed(f: QueueFilter) -> list[ColumnElement[bool]]:
    c = CandidateClaim
    live = (c.candidate_id == MatchCandidate.id, c.expires_at > datetime.now(UTC))
    if f.claims == "mine":
        return [exists().where(*live, c.steward == f.me)]
    if f.claims == "all":
        return []
    return [~exists().where(*live, c.steward != f.me)]


def _base(f: QueueFilter) -> Select[Any]:
    return (
        select(MatchCandidate.id)
        .join(SourceRecordRow, SourceRecordRow.id == MatchCandidate.source_record_id)
        .where(*conditions(f))
    )


def _keys(sort: str) -> tuple[tuple[Any, ...], bool]:
    """The columns a sort orders by, and whether they fall. Every column of one sort goes the
    same way, so "later" is one row-value comparison: both databases turn it into one index
    range instead of an OR they scan (``ix_match_candidate_order`` for the default)."""
    mc, sr = MatchCandidate, SourceRecordRow
    if sort == "age":
        return (mc.id,), False
    if sort == "source":
        return (sr.source, mc.id), False
    return (mc.probability, mc.id), True


def place_of(sort: str, row: dict[str, Any]) -> tuple[Any, ...]:
    """A page row's place in the queue's order: the values of the sort's columns."""
    if sort == "age":
        return (row["id"],)
    if sort == "source":
        return row["source"], row["id"]
    return row["probability"], row["id"]


def _after(sort: str, values: tuple[Any, ...]) -> ColumnElement[bool]:
    """Strictly later in queue order."""
    cols, falling = _keys(sort)
    return tuple_(*cols) < tuple_(*values) if falling else tuple_(*cols) > tuple_(*values)


def _before(sort: str, values: tuple[Any, ...]) -> ColumnElement[bool]:
    cols, falling = _keys(sort)
    return tuple_(*cols) > tuple_(*values) if falling else tuple_(*cols) < tuple_(*values)


def _order(sort: str, backwards: bool = False) -> list[UnaryExpression[Any]]:
    cols, falling = _keys(sort)
    return [c.desc() if falling != backwards else c.asc() for c in cols]


def page(
    session: Session,
    f: QueueFilter,
    after: tuple[Any, ...] | None,
    limit: int,
    before: tuple[Any, ...] | None = None,
) -> list[dict[str, Any]]:
    """One page of the queue: candidate, incoming record, the golden record's name, and who
    holds the candidate. ``before`` reads the page ending just before that place."""
    mc, sr, g, c = MatchCandidate, SourceRecordRow, GoldenRecordRow, CandidateClaim
    live = (c.candidate_id == mc.id, c.expires_at > datetime.now(UTC))
    stmt = (
        select(
            mc.id,
            mc.domain,
            mc.probability,
            mc.golden_id,
            mc.created_at,
            mc.source_record_id,
            mc.run_id,
            mc.weights,
            sr.source,
            sr.source_key,
            sr.attributes,
            g.search_name,
            g.attributes.label("golden_attributes"),
            _stale().label("stale"),
            select(c.steward).where(*live).scalar_subquery().label("claimed_by"),
            select(c.expires_at).where(*live).scalar_subquery().label("claimed_until"),
        )
        .join(sr, sr.id == mc.source_record_id)
        .outerjoin(g, g.id == mc.golden_id)
        .where(*conditions(f))
    )
    if after is not None:
        stmt = stmt.where(_after(f.sort, after))
    if before is not None:
        stmt = stmt.where(_before(f.sort, before))
    stmt = stmt.order_by(*_order(f.sort, backwards=before is not None)).limit(limit)
    rows = [dict(r._mapping) for r in session.execute(stmt)]
    return rows[::-1] if before is not None else rows


def more(session: Session, f: QueueFilter, row: dict[str, Any], later: bool) -> bool:
    """Whether the filtered queue goes on after (or before) this row: for the pager."""
    place = place_of(f.sort, row)
    cond = _after(f.sort, place) if later else _before(f.sort, place)
    return session.execute(_base(f).where(cond).limit(1)).first() is not None


def _stale() -> ColumnElement[bool]:
    """Whether a candidate's evidence was scored against another version of its golden
    record than the one held now (or against one merged away since): it must be scored again
    before it is shown, so that weights, levels and values come from one snapshot."""
    mc, g = MatchCandidate, GoldenRecordRow
    return or_(
        mc.golden_version.is_(None),
        g.version.is_(None),
        g.version != mc.golden_version,
        g.status != "active",
    )


def stale(session: Session, ids: list[int]) -> list[int]:
    """Of these candidates, the pending ones whose evidence must be scored again."""
    mc, g = MatchCandidate, GoldenRecordRow
    stmt = (
        select(mc.id)
        .outerjoin(g, g.id == mc.golden_id)
        .where(mc.id.in_(ids), mc.status == "pending", _stale())
    )
    return list(session.scalars(stmt))


def counts_by_domain(session: Session, f: QueueFilter) -> dict[str, int]:
    """Pending candidates per domain under every other filter: one grouped query."""
    mc = MatchCandidate
    stmt = select(mc.domain, func.count()).where(*conditions(f.without_domain()))
    if f.source:
        stmt = stmt.join(SourceRecordRow, SourceRecordRow.id == mc.source_record_id)
    return {d: int(n) for d, n in session.execute(stmt.group_by(mc.domain))}


def neighbours(session: Session, f: QueueFilter, candidate_id: int) -> tuple[int | None, ...]:
    """The candidates before and after this one in the filtered queue (None at either end).

    The candidate itself need not be pending any more (it was just decided): its place in the
    order is still where the next one starts.
    """
    mc, sr = MatchCandidate, SourceRecordRow
    cols, _ = _keys(f.sort)
    here = session.execute(
        select(*cols).join(sr, sr.id == mc.source_record_id).where(mc.id == candidate_id)
    ).first()
    if here is None:
        return None, None
    place = tuple(here)
    prev = session.execute(
        _base(f).where(_before(f.sort, place)).order_by(*_order(f.sort, True)).limit(1)
    ).scalar_one_or_none()
    nxt = session.execute(
        _base(f).where(_after(f.sort, place)).order_by(*_order(f.sort)).limit(1)
    ).scalar_one_or_none()
    return prev, nxt


def first(session: Session, f: QueueFilter) -> int | None:
    return session.execute(_base(f).order_by(*_order(f.sort)).limit(1)).scalar_one_or_none()


def first_ids(session: Session, f: QueueFilter, limit: int) -> list[int]:
    """The first ``limit`` candidates of the filtered queue, in its order (to claim them)."""
    return list(session.scalars(_base(f).order_by(*_order(f.sort)).limit(limit)))


def bulk_rows(
    session: Session, f: QueueFilter, decision: str, threshold: float, limit: int
) -> list[dict[str, Any]]:
    """The filtered candidates a bulk decision would take, by probability: a merge those at
    or above the threshold, a rejection those below it; at most ``limit`` rows."""
    mc, sr, g = MatchCandidate, SourceRecordRow, GoldenRecordRow
    side = mc.probability >= threshold if decision == "merge" else mc.probability < threshold
    stmt = (
        select(
            mc.id,
            mc.domain,
            mc.source_record_id,
            mc.probability,
            mc.golden_id,
            sr.source,
            sr.source_key,
            sr.attributes,
            g.attributes.label("golden_attributes"),
        )
        .join(sr, sr.id == mc.source_record_id)
        .outerjoin(g, g.id == mc.golden_id)
        .where(*conditions(f), side)
        .order_by(*_order(""))  # bulk lists go by probability
        .limit(limit)
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def pending_per_record(session: Session, record_ids: list[int]) -> dict[int, int]:
    """How many pending candidates each of these source records has: grouped queries of at
    most 500 ids each, whatever the filter."""
    mc = MatchCandidate
    ids = sorted(set(record_ids))
    out: dict[int, int] = {}
    for start in range(0, len(ids), _CHUNK):
        stmt = (
            select(mc.source_record_id, func.count())
            .where(mc.source_record_id.in_(ids[start : start + _CHUNK]), mc.status == "pending")
            .group_by(mc.source_record_id)
        )
        out.update({int(r): int(n) for r, n in session.execute(stmt)})
    return out
