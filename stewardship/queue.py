"""The queue of pending match candidates as the steward page shows it: its filters as
query-string values, its page cursors, and its rows with the fields that disagree named.

Every filter lives in :class:`QueueFilter`, so a new one (the onboarding run) is a field, a
condition (in ``hub.store.read.queue``, which reads the queue) and a query-string entry. The
queue lists a record's candidates together, in the place of its best one
(``hub.store.read.groups``); pages are keyset-paginated on that place, whole records per page.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from hub.store.read import queue as read
from hub.store.read.queue import BANDS
from hub.web.deps import ReadSession
from stewardship import groups

__all__ = ["BANDS", "BULK_LIMIT", "PAGE_SIZE", "BadFilter", "QueueFilter", "cursor", "page"]

# Queue orders: probability falling (the default), the oldest first, or by source.
SORTS = {"": "probability", "age": "oldest first", "source": "source"}
# Whose claimed candidates the queue shows: by default none that another steward holds.
CLAIMS = {"": "unclaimed and mine", "mine": "only mine", "all": "everyone's"}
PAGE_SIZE = 50
BULK_LIMIT = 5000


class BadFilter(ValueError):
    """A filter value the queue does not know, named in the message."""


class QueueFilter(read.QueueFilter):
    """The store's queue filter, read from and written back to a query string."""

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

    def query(self, **extra: object) -> dict[str, str]:
        """The filter as query-string values, for links that keep it."""
        out = {n: getattr(self, n) for n in _PARAMS if getattr(self, n)}
        out.update({k: str(v) for k, v in extra.items() if v not in (None, "")})
        return out


_PARAMS = tuple(x.name for x in fields(QueueFilter) if x.name != "me")


cursor = groups.cursor
parse_cursor = groups.parse_cursor


def page(
    session: ReadSession,
    f: QueueFilter,
    after: tuple[Any, ...] | None,
    limit: int = PAGE_SIZE,
    before: tuple[Any, ...] | None = None,
) -> list[dict[str, Any]]:
    """One page of the queue, each row with the compared fields that disagree (negative
    weight) named."""
    return [_row(r) for r in read.page(session, f, after, limit, before)]


def _row(row: dict[str, Any]) -> dict[str, Any]:
    weights = row.pop("weights") or {}
    row["disagree"] = sorted(k for k, w in weights.items() if float(w) < 0)
    return row
