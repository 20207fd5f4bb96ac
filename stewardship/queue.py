"""The queue of pending match candidates: its filters, pages, counts and bulk selections.

Every filter lives in :class:`QueueFilter`, so a new one (the onboarding run) is a field, a
condition and a query-string entry. The queue lists a record's candidates together, in the
place of its best one (:mod:`stewardship.groups`); pages are keyset-paginated on that place,
whole records per page.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from hub.store.tables import CandidateClaim, GoldenRecordRow, MatchCandidate, SourceRecordRow
from stewardship import groups

# Probability bands a steward picks from, as [low, high).
BANDS: dict[str, tuple[float, float]] = {
    "high": (0.9, 1.01),
    "medium": (0.7, 0.9),
    "low": (0.0, 0.7),
}
# Queue orders: probability falling (the default), the oldest first, or by source.
SORTS = {"": "probability", "age": "oldest first", "source": "source"}
# Whose claimed candidates the queue shows: by default none that another steward holds.
CLAIMS = {"": "unclaimed and mine", "mine": "only mine", "all": "everyone's"}
PAGE_SIZE = 50
BULK_LIMIT = 5000


class BadFilter(ValueError):
    """A filter value the queue does not know, named in the message."""


@dataclass(frozen=True)
class QueueFilter:
    domain: str = ""
    source: str = ""
    band: str = ""
    run: str = ""  # an onboarding run: only the candidates it raised
    sort: str = ""
    claims: str = ""
    me: str = ""  # the steward looking (not a query-string value): whose claims are "mine"

    @classmethod
    def parse(cls, params: Any, domains: set[str], me: str = "") -> QueueFilter:
        """From query-string or form values; unknown values are refused, not ignored."""
        f = cls(
            me=me,
            **{n: str(params.get(n) or "").strip() for n in _PARAMS},
        )
        if f.domain and f.domain not in domains:
            raise BadFilter(f"domain: unknown domain {f.domain!r}")
        if f.band and f.band not in BANDS:
            raise BadFilter(f"band: {f.band!r} is not one of {', '.join(BANDS)}")
        if f.sort not in SORTS:
            raise BadFilter(f"sort: {f.sort!r} is not one of {', '.join(filter(None, SORTS))}")
        if f.claims not in CLAIMS:
            raise BadFilter(f"claims: {f.claims!r} is not mine or all")
        if len(f.source) > 100:
            raise BadFilter("source: longer than 100 characters")
        if len(f.run) > 64:
            raise BadFilter("run: longer than 64 characters")
        return f

    def conditions(
        self, mc: Any = MatchCandidate, sr: Any = SourceRecordRow
    ) -> list[ColumnElement[bool]]:
        """The filter on these candidate and source record tables (or aliases of them)."""
        out: list[ColumnElement[bool]] = [mc.status == "pending"]
        if self.domain:
            out.append(mc.domain == self.domain)
        if self.source:
            out.append(sr.source == self.source)
        if self.run:
            out.append(mc.run_id == self.run)
        if self.band:
            low, high = BANDS[self.band]
            out += [mc.probability >= low, mc.probability < high]
        return out + self._claimed(mc)

    def _claimed(self, mc: Any) -> list[ColumnElement[bool]]:
        c = CandidateClaim
        live = (c.candidate_id == mc.id, c.expires_at > datetime.now(UTC))
        if self.claims == "mine":
            return [exists().where(*live, c.steward == self.me)]
        if self.claims == "all":
            return []
        return [~exists().where(*live, c.steward != self.me)]

    def query(self, **extra: object) -> dict[str, str]:
        """The filter as query-string values, for links that keep it."""
        out = {n: getattr(self, n) for n in _PARAMS if getattr(self, n)}
        out.update({k: str(v) for k, v in extra.items() if v not in (None, "")})
        return out

    def without_domain(self) -> QueueFilter:
        return replace(self, domain="")


_PARAMS = tuple(x.name for x in fields(QueueFilter) if x.name != "me")


cursor = groups.cursor
parse_cursor = groups.parse_cursor


def page(
    session: Session,
    f: QueueFilter,
    after: tuple[Any, ...] | None,
    limit: int = PAGE_SIZE,
    before: tuple[Any, ...] | None = None,
) -> list[dict[str, Any]]:
    """One page of the queue: candidate, incoming record, the golden record's name, and who
    holds the candidate. ``before`` reads the page ending just before that place."""
    mc, sr, g, c = MatchCandidate, SourceRecordRow, GoldenRecordRow, CandidateClaim
    live = (c.candidate_id == mc.id, c.expires_at > datetime.now(UTC))
    chosen = groups.heads(f.sort, f.conditions, limit, after, before).subquery("chosen")
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
        .where(*f.conditions())
        .order_by(*groups.order(f.sort, places), *groups.order(f.sort, groups.keys(f.sort)))
    )
    return [_row(row._mapping) for row in session.execute(stmt)]


def _row(m: Any) -> dict[str, Any]:
    """A page row, with the compared fields that disagree (negative weight) named."""
    row = dict(m)
    weights = row.pop("weights") or {}
    row["disagree"] = sorted(k for k, w in weights.items() if float(w) < 0)
    return row


def more(session: Session, f: QueueFilter, row: dict[str, Any], later: bool) -> bool:
    """Whether the filtered queue has a group after (or before) this row's: for the pager."""
    place = groups.place_of(f.sort, row)
    cols = groups.keys(f.sort)
    cond = (groups.later if later else groups.earlier)(f.sort, cols, place)
    stmt = _base(f).where(cond, groups.is_head(f.sort, f.conditions)).limit(1)
    return session.execute(stmt).first() is not None


def _base(f: QueueFilter) -> Select[Any]:
    return (
        select(MatchCandidate.id)
        .join(SourceRecordRow, SourceRecordRow.id == MatchCandidate.source_record_id)
        .where(*f.conditions())
    )


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
    stmt = select(mc.domain, func.count()).where(*f.without_domain().conditions())
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
        .where(*f.conditions(), mc.source_record_id == rid, groups.earlier(f.sort, cols, place))
        .order_by(*groups.order(f.sort, cols))
        .limit(1)
    ).first()
    head = tuple(first_of_mine) if first_of_mine else place  # the group's place
    others = _base(f).where(mc.source_record_id != rid, groups.is_head(f.sort, f.conditions))
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
    chosen = groups.heads(f.sort, f.conditions, limit).subquery("chosen")
    places = tuple(chosen.c[f"p{i}"] for i in range(len(groups.keys(f.sort))))
    stmt = (
        _base(f)
        .join(chosen, chosen.c.rid == MatchCandidate.source_record_id)
        .order_by(*groups.order(f.sort, places), *groups.order(f.sort, groups.keys(f.sort)))
    )
    return list(session.scalars(stmt))
