"""Inbox partitions: how appliers on PostgreSQL split the inbox (docs/architecture.md,
"Appliers side by side").

Every change is stored with its record's partition; a claim takes partitions under
transaction-level advisory locks, never waiting for one, so two appliers never hold one
record's changes at once and neither waits for the other's batch. How many partitions an
applier may take in one batch is its share of those the appliers seen lately divide.
"""

from __future__ import annotations

import itertools
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from hub.store import tables as t
from hub.store.sql import free_advisory_locks, table_of

# Fixed: a row keeps the partition it was stored with. Many more partitions than appliers,
# so each applier's share is several and the work evens out.
PARTITIONS = 32
# Appliers seen within this long (and still connected) share the inbox; how often each
# says it is there and counts the others.
APPLIER_GONE = timedelta(seconds=10)
SEEN_EVERY = 1.0
# A claim reads at most this many batches' worth of pending rows looking for rows of its
# partitions: enough to fill a batch with eight appliers sharing the inbox, and a bound when
# other appliers hold the partitions of a long backlog.
PAGES = 8
# per applier: (monotonic time it was last recorded as seen, how many others were seen then)
_SEEN: dict[str, tuple[float, int]] = {}
_OTHERS = text(
    "SELECT count(*) FROM applier_seen s WHERE s.applier_id <> :me AND s.seen_at > :since"
    " AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = s.backend_pid)"
)


def partition_of(source: str, domain: str, key: str) -> int:
    """The inbox partition of a source record: every change of one record shares it, so one
    applier at a time holds all of them. crc32, not ``hash()``: every process must agree,
    whatever its hash seed."""
    return zlib.crc32(f"{source}\x00{domain}\x00{key}".encode()) % PARTITIONS


@dataclass
class Walk:
    """One claim's walk over the pending rows, oldest first: the partitions it holds and
    was refused, and the rows it takes. Pure, so its order rules are tested without a
    database; ``try_lock`` takes the free ones of the partitions asked for."""

    limit: int
    share: int
    try_lock: Callable[[list[int]], set[int]]
    held: set[int] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)
    ids: list[int] = field(default_factory=list)
    busy: int = 0

    @property
    def done(self) -> bool:
        return len(self.ids) >= self.limit or len(self.refused) == PARTITIONS

    def page(self, rows: Sequence[tuple[int, int]]) -> None:
        """Take this page's rows, (id, partition) oldest first, of held partitions, asking
        at once for the partitions of the rows that would fill the batch (only those: a
        partition held and left unclaimed would idle the other appliers), within the share."""
        i = 0
        while i < len(rows) and len(self.ids) < self.limit:
            asked = self._to_ask(rows, i)
            if asked:
                got = self.try_lock(asked)
                self.held |= got
                self.refused |= set(asked) - got
                self.busy += len(asked) - len(got)
            # rows in order up to the first whose partition is still open (one passed over
            # for a refused one's room): a record's later change never goes before its
            # earlier one
            while i < len(rows) and len(self.ids) < self.limit:
                row_id, p = rows[i]
                if p in self.held:
                    self.ids.append(row_id)
                elif p not in self.refused and len(self.held) < self.share:
                    break
                i += 1

    def _to_ask(self, rows: Sequence[tuple[int, int]], start: int) -> list[int]:
        asked: list[int] = []
        covered = len(self.ids)
        for _, p in itertools.islice(rows, start, None):
            if covered >= self.limit:
                break
            if p in self.held or p in asked:
                covered += 1
            elif p not in self.refused and len(self.held) + len(asked) < self.share:
                asked.append(p)
                covered += 1
        return asked


def waiting(ib: Table) -> ColumnElement[bool]:
    """Rows still to be applied, written so the planner sees the constant and takes the
    partial index of pending rows (migration 0022), on PostgreSQL and SQLite alike."""
    return ib.c.status == literal_column("'pending'")


_IB = table_of(t.InboxRow)
_PAGE = (
    select(_IB.c.id, _IB.c.partition)
    .where(waiting(_IB), _IB.c.id > bindparam("after"))
    .order_by(_IB.c.id)
    .limit(bindparam("limit"))
)


def claim_partitions(s: Session, limit: int, applier: str) -> tuple[list[int], int]:
    """The ids of up to ``limit`` pending rows of partitions this transaction now holds,
    oldest first (the caller reads them under row locks, skipping any another transaction
    holds); and how many partitions it found held by other appliers.
    Alone, an applier takes every partition it meets, and its batch is the oldest pending
    rows as they arrived, as with no partitions."""

    def try_lock(asked: list[int]) -> set[int]:
        return {int(n) for n in free_advisory_locks(s, "partition", map(str, asked))}

    walk = Walk(limit, -(-PARTITIONS // (1 + others(s, applier))), try_lock)
    after = 0
    for _ in range(PAGES):
        if walk.done:
            break
        page = s.execute(_PAGE, {"after": after, "limit": limit}).all()
        if not page:
            break
        after = page[-1][0]
        walk.page([(row_id, p) for row_id, p in page])
        if len(page) < limit:  # the last page: asking for the next one reads nothing
            break
    return walk.ids, walk.busy


def others(s: Session, applier: str) -> int:
    """How many other appliers claimed lately and are still connected; this one is recorded
    as seen. Both at most once a second per applier: the share is a balance, not a guarantee
    (the locks are). A killed applier's connections close with it, so a restarted one is
    alone again at once, not ten seconds later."""
    now = time.monotonic()
    last = _SEEN.get(applier)
    if last is not None and now - last[0] < SEEN_EVERY:
        return last[1]
    seen = table_of(t.ApplierSeen)
    at = datetime.now(UTC)
    mine = {"seen_at": at, "backend_pid": func.pg_backend_pid()}
    s.execute(
        pg_insert(seen)
        .values(applier_id=applier, **mine)
        .on_conflict_do_update(index_elements=[seen.c.applier_id], set_=mine)
    )
    count = int(s.scalar(_OTHERS, {"me": applier, "since": at - APPLIER_GONE}) or 0)
    if last is None or now - last[0] > 60:  # those gone long ago are forgotten
        gone = (
            select(seen.c.applier_id)
            .where(seen.c.seen_at < at - 60 * APPLIER_GONE)
            .with_for_update(skip_locked=True)  # never wait: one came back meanwhile
        )
        s.execute(delete(seen).where(seen.c.applier_id.in_(gone.scalar_subquery())))
    _SEEN[applier] = (now, count)
    return count
