"""The queue of pending match candidates: its filters, pages, counts and bulk selections.

Every filter lives in :class:`QueueFilter`, so a new one (the onboarding run) is a field, a
condition and a query-string entry. Pages are keyset-paginated on (probability, id), both
descending, which the ``ix_match_candidate_order`` index serves directly: page 500 of 50k costs
the same as page 1.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, UnaryExpression, func, or_, select, tuple_
from sqlalchemy.orm import Session

from hub.store.tables import GoldenRecordRow, MatchCandidate, SourceRecordRow

# Probability bands a steward picks from, as [low, high).
BANDS: dict[str, tuple[float, float]] = {
    "high": (0.9, 1.01),
    "medium": (0.7, 0.9),
    "low": (0.0, 0.7),
}
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

    @classmethod
    def parse(cls, params: Any, domains: set[str]) -> QueueFilter:
        """From query-string or form values; unknown values are refused, not ignored."""
        f = cls(**{x.name: str(params.get(x.name) or "").strip() for x in fields(cls)})
        if f.domain and f.domain not in domains:
            raise BadFilter(f"domain: unknown domain {f.domain!r}")
        if f.band and f.band not in BANDS:
            raise BadFilter(f"band: {f.band!r} is not one of {', '.join(BANDS)}")
        if len(f.source) > 100:
            raise BadFilter("source: longer than 100 characters")
        if len(f.run) > 64:
            raise BadFilter("run: longer than 64 characters")
        return f

    def conditions(self) -> list[ColumnElement[bool]]:
        mc, sr = MatchCandidate, SourceRecordRow
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
        return out

    def query(self, **extra: object) -> dict[str, str]:
        """The filter as query-string values, for links that keep it."""
        out = {x.name: getattr(self, x.name) for x in fields(self) if getattr(self, x.name)}
        out.update({k: str(v) for k, v in extra.items() if v not in (None, "")})
        return out

    def without_domain(self) -> QueueFilter:
        return replace(self, domain="")


def _base(f: QueueFilter) -> Select[Any]:
    return (
        select(MatchCandidate.id)
        .join(SourceRecordRow, SourceRecordRow.id == MatchCandidate.source_record_id)
        .where(*f.conditions())
    )


def _after(p: float, cid: int) -> ColumnElement[bool]:
    """Strictly later in queue order. A row-value comparison, so that both databases turn it
    into one index range instead of an OR they scan."""
    return tuple_(MatchCandidate.probability, MatchCandidate.id) < tuple_(p, cid)


def _before(p: float, cid: int) -> ColumnElement[bool]:
    return tuple_(MatchCandidate.probability, MatchCandidate.id) > tuple_(p, cid)


def _order() -> tuple[UnaryExpression[Any], ...]:
    """Probability falling, then the newest first: both columns descend, so one backward
    scan of ``ix_match_candidate_order`` gives the queue in order."""
    return MatchCandidate.probability.desc(), MatchCandidate.id.desc()


def page(
    session: Session, f: QueueFilter, after: tuple[float, int] | None, limit: int = PAGE_SIZE
) -> list[dict[str, Any]]:
    """One page of the queue: candidate, incoming record, and the golden record's name."""
    mc, sr, g = MatchCandidate, SourceRecordRow, GoldenRecordRow
    stmt = (
        select(
            mc.id,
            mc.domain,
            mc.probability,
            mc.golden_id,
            mc.created_at,
            mc.source_record_id,
            sr.source,
            sr.source_key,
            sr.attributes,
            g.search_name,
            g.attributes.label("golden_attributes"),
            _stale().label("stale"),
        )
        .join(sr, sr.id == mc.source_record_id)
        .outerjoin(g, g.id == mc.golden_id)
        .where(*f.conditions())
    )
    if after is not None:
        stmt = stmt.where(_after(*after))
    stmt = stmt.order_by(*_order()).limit(limit)
    return [dict(r._mapping) for r in session.execute(stmt)]


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

    The candidate itself need not be pending any more (it was just decided): its place in the
    order is still where the next one starts.
    """
    here = session.execute(
        select(MatchCandidate.probability).where(MatchCandidate.id == candidate_id)
    ).scalar_one_or_none()
    if here is None:
        return None, None
    mc = MatchCandidate
    prev = session.execute(
        _base(f)
        .where(_before(here, candidate_id))
        .order_by(mc.probability.asc(), mc.id.asc())
        .limit(1)
    ).scalar_one_or_none()
    nxt = session.execute(
        _base(f).where(_after(here, candidate_id)).order_by(*_order()).limit(1)
    ).scalar_one_or_none()
    return prev, nxt


def first(session: Session, f: QueueFilter) -> int | None:
    return session.execute(_base(f).order_by(*_order()).limit(1)).scalar_one_or_none()
