"""The queue's order: one group per incoming record (issue 16, must-have 1).

A record with several pending candidates is one question (which golden record, if any), so
the queue lists its candidates together. A group stands where its best candidate would under
the chosen sort: the highest probability, the oldest candidate, or the record's source (then
the oldest); the record's other candidates follow it. The group's place is computed by the
database as a window over the record's candidates, so paging stays keyset paging: a page is
whole groups read after (or before) the last group's place, and a group is never split
between pages nor shown on two.

Every column of a place goes the same way (all falling for probability, all rising
otherwise), so "later" is one row-value comparison, as in :mod:`stewardship.queue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    UnaryExpression,
    and_,
    func,
    or_,
    select,
    tuple_,
)

from hub.store.tables import MatchCandidate, SourceRecordRow

_FALLING = ""  # the one sort whose places fall: probability, the default


@dataclass(frozen=True)
class Ranked:
    """The filtered queue's candidates with their group's place (``g0``, ``g1``, ``rid``).

    ``group`` is the place of a candidate's group; ``row`` is that place followed by the
    candidate's own place within the group.
    """

    sub: Subquery
    group: tuple[ColumnElement[Any], ...]
    row: tuple[ColumnElement[Any], ...]
    falling: bool


def ranked(sort: str, conditions: list[ColumnElement[bool]], include: int | None = None) -> Ranked:
    """The candidates that meet the conditions, each with its group's place.

    ``include`` keeps one candidate that no longer meets them (one just decided): its group
    keeps the place it had, so "the next candidate" after it is the record's next one.
    """
    mc, sr = MatchCandidate, SourceRecordRow
    record = mc.source_record_id
    if sort == "age":
        heads: list[ColumnElement[Any]] = [func.min(mc.id).over(partition_by=record)]
    elif sort == "source":
        heads = [sr.source.expression, func.min(mc.id).over(partition_by=record)]
    else:
        heads = [func.max(mc.probability).over(partition_by=record)]
    where: ColumnElement[bool] = and_(*conditions)
    if include is not None:
        where = or_(where, mc.id == include)
    sub = (
        select(
            mc.id,
            record.label("rid"),
            mc.probability,
            *(h.label(f"g{i}") for i, h in enumerate(heads)),
        )
        .join(sr, sr.id == record)
        .where(where)
        .subquery("ranked")
    )
    group = (*(sub.c[f"g{i}"] for i in range(len(heads))), sub.c.rid)
    within = (sub.c.probability, sub.c.id) if sort == _FALLING else (sub.c.id,)
    return Ranked(sub, group, group + within, falling=sort == _FALLING)


def later(
    cols: tuple[ColumnElement[Any], ...], place: tuple[Any, ...], falling: bool
) -> ColumnElement[bool]:
    """Strictly after this place in queue order."""
    return tuple_(*cols) < tuple_(*place) if falling else tuple_(*cols) > tuple_(*place)


def earlier(
    cols: tuple[ColumnElement[Any], ...], place: tuple[Any, ...], falling: bool
) -> ColumnElement[bool]:
    return tuple_(*cols) > tuple_(*place) if falling else tuple_(*cols) < tuple_(*place)


def order(
    cols: tuple[ColumnElement[Any], ...], falling: bool, backwards: bool = False
) -> list[UnaryExpression[Any]]:
    return [c.desc() if falling != backwards else c.asc() for c in cols]


def page_records(
    r: Ranked,
    limit: int,
    after: tuple[Any, ...] | None = None,
    before: tuple[Any, ...] | None = None,
) -> Select[Any]:
    """The records (groups) of one page: whole groups in order while their candidates add up
    to at most ``limit``, and always the first group, however large. ``before`` reads the
    groups that end just before that place, counting backwards from it."""
    stmt = select(*r.group, func.count().label("n")).group_by(*r.group)
    if after is not None:
        stmt = stmt.where(later(r.group, after, r.falling))
    if before is not None:
        stmt = stmt.where(earlier(r.group, before, r.falling))
    g = stmt.subquery("groups")
    cols = tuple(g.c[c.name] for c in r.group)
    running = func.sum(g.c.n).over(order_by=order(cols, r.falling, backwards=before is not None))
    paged = select(g.c.rid, g.c.n, running.label("running")).subquery("paged")
    return select(paged.c.rid).where(or_(paged.c.running <= limit, paged.c.running == paged.c.n))


def place_of(sort: str, row: dict[str, Any]) -> tuple[Any, ...]:
    """A page row's group place, from the columns :func:`ranked` adds."""
    rid = row["source_record_id"]
    if sort == "source":
        return row["g0"], row["g1"], rid
    return row["g0"], rid


def cursor(sort: str, row: dict[str, Any]) -> str:
    """A group's place, for ``after=`` and ``before=`` links."""
    place = place_of(sort, row)
    if sort == _FALLING:
        return f"{place[0]!r}:{place[1]}"
    return ":".join(map(str, place))


def parse_cursor(sort: str, text: str) -> tuple[Any, ...] | None:
    """``0.93:12`` (best probability, record), ``crm:1234:12`` (source, oldest candidate,
    record) or ``1234:12`` (oldest candidate, record); None if bad."""
    try:
        if sort == "source":
            source, oldest, rid = text.rsplit(":", 2)
            return (source, int(oldest), int(rid)) if source else None
        head, rid = text.split(":") if sort == "age" else text.rsplit(":", 1)
        return (int(head) if sort == "age" else float(head)), int(rid)
    except ValueError:
        return None
