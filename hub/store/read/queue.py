"""The queue of pending match candidates, read: its filter's conditions, keyset pages, counts
and the rows a bulk decision covers.

The queue lists a record's candidates together, in the place of its best one
(:mod:`hub.store.read.groups`); pages are keyset-paginated on that place, whole records per
page, along the ``ix_match_candidate_order`` index: page 500 of 50k costs about as page 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from hub.store.read import groups
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


def conditions(
    f: QueueFilter, mc: Any = MatchCandidate, sr: Any = SourceRecordRow
) -> list[ColumnElement[bool]]:
    """The filter on these candidate and source record tables (or aliases of them)."""
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
    return out + _claimed(f, mc)


def _claimed(f: QueueFilter, mc: Any) -> list[ColumnElement[bool]]:
    c = CandidateClaim
    live = (c.candidate_id == mc.id, c.expires_at > datetime.now(UTC))
    if f.claims == "mine":
        return [exists().where(*live, c.steward == f.me)]
    if f.claims == "all":
        return []
    return [~exists().where(*live, c.steward != f.me)]


def _conds(f: QueueFilter) -> groups.Conditions:
    """The filter as a function of the tables, for the group queries' aliases."""
    return partial(conditions, f)


def _base(f: QueueFilter) -> Select[Any]:
    return (
        select(MatchCandidate.id)
        .join(SourceRecordRow, SourceRecordRow.id == MatchCandidate.source_record_id)
        .where(*conditions(f))
    )


def page(
    session: Session,
    f: QueueFilter,
    after: tuple[Any, ...] | None,
    limit: int,
    before: tuple[Any, ...] | None = None,
) -> list[dict[str, Any]]:
    """One page of the queue, whole records: candidate, incoming record, the golden record's
    name, who holds the candidate, and its group's place (``p0``, ``p1``) for the cursors.
    ``before`` reads the page ending just before that place."""
    mc, sr, g, c = MatchCandidate, SourceRecordRow, GoldenRecordRow, CandidateClaim
    live = (c.candidate_id == mc.id, c.expires_at > datetime.now(UTC))
    chosen = groups.heads(f.sort, _conds(f), limit, after, before).subquery("chosen")
    places = tuple(chosen.c[f"p{i}"] for i in range(len(groups.keys(f.sort))))
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
            *places,
            _stale().label("stale"),
            select(c.steward).where(*live).scalar_subquery().label("claimed_by"),
            select(c.expires_at).where(*live).scalar_subquery().label("claimed_until"),
        )
        .join(sr, sr.id == mc.source_record_id)
        .join(chosen, chosen.c.rid == mc.source_record_id)
        .outerjoin(g, g.id == mc.golden_id)
        .where(*conditions(f))
        .order_by(*groups.order(f.sort, places), *groups.order(f.sort, groups.keys(f.sort)))
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def more(session: Session, f: QueueFilter, row: dict[str, Any], later: bool) -> bool:
    """Whether the filtered queue has a group after (or before) this row's: for the pager."""
    place = groups.place_of(f.sort, row)
    cols = groups.keys(f.sort)
    cond = (groups.later if later else groups.earlier)(f.sort, cols, place)
    stmt = _base(f).where(cond, groups.is_head(f.sort, _conds(f))).limit(1)
    return session.execute(stmt).first() is not None


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

    The candidate itself need not be pending any more (it was just decided): its group keeps
    its place, so the next one is the record's next candidate, if it has one left, and then
    the next record's first.
    """
    mc, sr = MatchCandidate, SourceRecordRow
    cols = groups.keys(f.sort)
    here = session.execute(
        select(mc.source_record_id, *cols)
        .join(sr, sr.id == mc.source_record_id)
        .where(mc.id == candidate_id)
    ).first()
    if here is None:
        return None, None
    rid, place = here[0], tuple(here[1:])
    mine = _base(f).where(mc.source_record_id == rid)
    first_of_mine = session.execute(
        select(*cols)
        .join(sr, sr.id == mc.source_record_id)
        .where(*conditions(f), mc.source_record_id == rid, groups.earlier(f.sort, cols, place))
        .order_by(*groups.order(f.sort, cols))
        .limit(1)
    ).first()
    head = tuple(first_of_mine) if first_of_mine else place  # the group's place
    others = _base(f).where(mc.source_record_id != rid, groups.is_head(f.sort, _conds(f)))
    nxt = _one(session, mine.where(groups.later(f.sort, cols, place)), f.sort, False)
    if nxt is None:
        nxt = _one(session, others.where(groups.later(f.sort, cols, head)), f.sort, False)
    prev = _one(session, mine.where(groups.earlier(f.sort, cols, place)), f.sort, True)
    if prev is None:
        before = _one(session, others.where(groups.earlier(f.sort, cols, head)), f.sort, True)
        record = session.get(MatchCandidate, before) if before is not None else None
        if record is not None:  # the previous group's last candidate
            prev = _one(
                session,
                _base(f).where(mc.source_record_id == record.source_record_id),
                f.sort,
                True,
            )
    return prev, nxt


def _one(session: Session, stmt: Select[Any], sort: str, backwards: bool) -> int | None:
    ordered = stmt.order_by(*groups.order(sort, groups.keys(sort), backwards)).limit(1)
    return session.execute(ordered).scalar_one_or_none()


def first(session: Session, f: QueueFilter) -> int | None:
    """The queue's first candidate: the first in the strict order is always a group's head."""
    return _one(session, _base(f), f.sort, False)


def first_ids(session: Session, f: QueueFilter, limit: int) -> list[int]:
    """The candidates of the first records of the filtered queue, in its order, whole records
    while they add up to at most ``limit`` (and at least one record): to claim them, so that
    a record's candidates, one question, go to one steward."""
    chosen = groups.heads(f.sort, _conds(f), limit).subquery("chosen")
    places = tuple(chosen.c[f"p{i}"] for i in range(len(groups.keys(f.sort))))
    stmt = (
        _base(f)
        .join(chosen, chosen.c.rid == MatchCandidate.source_record_id)
        .order_by(*groups.order(f.sort, places), *groups.order(f.sort, groups.keys(f.sort)))
    )
    return list(session.scalars(stmt))


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
        .order_by(*groups.order("", groups.keys("")))  # bulk lists go by probability
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
