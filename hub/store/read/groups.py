"""The queue's order, read: one group per incoming record (issue 16, must-have 1).

A record with several pending candidates is one question (which golden record, if any), so
the queue lists its candidates together. The candidates keep their strict order under the
chosen sort (probability falling, the oldest first, or by source); a record's first candidate
in that order is its *head*, a group stands at its head's place, and the record's other
candidates follow the head. So the group's place is its best candidate's, and pages are
keyset pages over heads: the database walks the strict order from the cursor along the same
index as before, keeps the candidates no earlier sibling of theirs precedes (one indexed probe
per row), and a page is whole groups, never split between pages nor shown on two.

Every column of a place goes the same way (all falling for probability, all rising
otherwise), so "later" is one row-value comparison that both databases turn into an index
range (``ix_match_candidate_order`` for the default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, UnaryExpression, exists, func, or_, select, tuple_
from sqlalchemy.orm import aliased

from hub.store.tables import MatchCandidate, SourceRecordRow

Conditions = Callable[[Any, Any], list[ColumnElement[bool]]]


def keys(sort: str, mc: Any = MatchCandidate, sr: Any = SourceRecordRow) -> tuple[Any, ...]:
    """The strict order's columns; they all fall for probability and all rise otherwise."""
    if sort == "age":
        return (mc.id,)
    if sort == "source":
        return (sr.source, mc.id)
    return (mc.probability, mc.id)


def falling(sort: str) -> bool:
    return sort == ""


def later(sort: str, cols: tuple[Any, ...], place: tuple[Any, ...]) -> ColumnElement[bool]:
    """Strictly after this place in the strict order."""
    return tuple_(*cols) < tuple_(*place) if falling(sort) else tuple_(*cols) > tuple_(*place)


def earlier(sort: str, cols: tuple[Any, ...], place: tuple[Any, ...]) -> ColumnElement[bool]:
    return tuple_(*cols) > tuple_(*place) if falling(sort) else tuple_(*cols) < tuple_(*place)


def order(sort: str, cols: tuple[Any, ...], backwards: bool = False) -> list[UnaryExpression[Any]]:
    return [c.desc() if falling(sort) != backwards else c.asc() for c in cols]


def _siblings(conds: Conditions, mc: Any) -> tuple[Any, Any, Select[Any]]:
    """The filtered candidates of ``mc``'s record (aliases, for correlated subqueries)."""
    mc2, sr2 = aliased(MatchCandidate), aliased(SourceRecordRow)
    stmt = (
        select(mc2.id)
        .join(sr2, sr2.id == mc2.source_record_id)
        .where(mc2.source_record_id == mc.source_record_id, *conds(mc2, sr2))
    )
    return mc2, sr2, stmt


def is_head(sort: str, conds: Conditions) -> ColumnElement[bool]:
    """No filtered candidate of the same record comes before this one."""
    mc2, sr2, stmt = _siblings(conds, MatchCandidate)
    before = earlier(sort, keys(sort, mc2, sr2), keys(sort))
    return ~exists(stmt.where(before))


def heads(
    sort: str,
    conds: Conditions,
    limit: int,
    after: tuple[Any, ...] | None = None,
    before: tuple[Any, ...] | None = None,
) -> Select[Any]:
    """The records of one page and their heads' places (``p0``, ``p1``): whole groups in order
    while their candidates add up to at most ``limit``, and always the first, however large.
    ``before`` reads the groups that end just before that place, counting backwards."""
    mc, sr = MatchCandidate, SourceRecordRow
    mc2, sr2, _ = _siblings(conds, mc)
    size = (
        select(func.count(mc2.id))
        .join(sr2, sr2.id == mc2.source_record_id)
        .where(mc2.source_record_id == mc.source_record_id, *conds(mc2, sr2))
        .scalar_subquery()
    )
    cols = keys(sort)
    stmt = (
        select(mc.source_record_id.label("rid"), *(c.label(f"p{i}") for i, c in enumerate(cols)))
        .add_columns(size.label("n"))
        .join(sr, sr.id == mc.source_record_id)
        .where(*conds(mc, sr), is_head(sort, conds))
    )
    if after is not None:
        stmt = stmt.where(later(sort, cols, after))
    if before is not None:
        stmt = stmt.where(earlier(sort, cols, before))
    backwards = before is not None
    h = stmt.order_by(*order(sort, cols, backwards)).limit(limit).subquery("heads")
    places = tuple(h.c[f"p{i}"] for i in range(len(cols)))
    running = func.sum(h.c.n).over(order_by=order(sort, places, backwards)).label("running")
    paged = select(h, running).subquery("paged")
    return select(paged.c.rid, *(paged.c[f"p{i}"] for i in range(len(cols)))).where(
        or_(paged.c.running <= limit, paged.c.running == paged.c.n)
    )


def place_of(sort: str, row: dict[str, Any]) -> tuple[Any, ...]:
    """A page row's group place: its head's place, from the columns :func:`heads` gives."""
    return tuple(row[f"p{i}"] for i in range(1 if sort == "age" else 2))
