"""The inbox and the dead letters: where changes wait to be applied, and where those that
could not be applied wait for a fix."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    String,
    bindparam,
    cast,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from hub.domain.model import Change, UnreadableMessage
from hub.store import tables as t
from hub.store.inbox_partitions import claim_partitions, partition_of, waiting
from hub.store.sql import (
    Built,
    among,
    bulk_insert,
    chunks,
    driver_error,
    insert_ignoring,
    is_postgres,
    listed,
    one_of,
    table_of,
)

log = logging.getLogger("concord.apply")


_IB = table_of(t.InboxRow)
# pending rows, locked, skipping one another transaction holds (SQLite has one writer)
_READ = Built(
    lambda pg: (
        select(_IB)
        .where(among(_IB.c.id, "ids", pg), waiting(_IB))
        .order_by(_IB.c.id)
        .with_for_update(skip_locked=True)
    )
)
_OLDEST = select(_IB.c.id).where(waiting(_IB)).order_by(_IB.c.id).limit(bindparam("limit"))
_MARK = Built(
    lambda pg: (
        update(_IB)
        .where(among(_IB.c.id, "ids", pg))
        .values(status=bindparam("status"), applied_at=bindparam("at"))
    )
)


class SqlInbox:
    def __init__(self, session: Session) -> None:
        self.s = session
        self.dead_at_claim = 0
        self.busy_at_claim = 0

    def add(self, changes: Sequence[Change], received_at: datetime) -> int:
        """Store changes; a repeated (source, event_id) is skipped. Returns how many were new."""
        if not changes:
            return 0
        rows = [
            {
                "source": c.source,
                "event_id": c.event_id,
                "domain": c.domain,
                "source_key": c.key,
                "op": c.op,
                "sequence": c.sequence,
                "changed_at": c.changed_at,
                "attributes": c.attributes,
                "run_id": c.run_id,
                "correlation_id": c.correlation_id,
                "received_at": received_at,
                "status": "pending",
                "partition": partition_of(c.source, c.domain, c.key),
            }
            for c in changes
        ]
        if is_postgres(self.s):
            fresh = self._new_rows(rows)
            try:
                with self.s.begin_nested():
                    bulk_insert(self.s, table_of(t.InboxRow), fresh)
                return len(fresh)
            except Exception as exc:
                if not (isinstance(exc, IntegrityError) or driver_error(exc, "IntegrityError")):
                    raise
                # a concurrent request stored one of them first: take the careful path
        stmt = insert_ignoring(self.s, t.InboxRow).returning(table_of(t.InboxRow).c.id)
        return len(self.s.execute(stmt, rows).all())

    def _new_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows whose (source, event_id) is neither stored nor repeated in the batch."""
        ib = table_of(t.InboxRow)
        seen: set[tuple[str, str]] = set()
        by_source: dict[str, list[str]] = {}
        for r in rows:
            by_source.setdefault(r["source"], []).append(r["event_id"])
        for source, ids in by_source.items():
            for part in chunks(ids, 1000):
                stmt = select(ib.c.event_id).where(
                    one_of(self.s, ib.c.event_id, part), ib.c.source == source
                )
                seen.update((source, e) for e in self.s.scalars(stmt))
        fresh = []
        for r in rows:
            k = (r["source"], r["event_id"])
            if k not in seen:
                seen.add(k)
                fresh.append(r)
        return fresh

    def claim(self, limit: int, applier: str = "") -> list[tuple[int, Change]]:
        """Read the oldest pending rows under row locks: on PostgreSQL, of the partitions
        ``applier`` could take (``hub.store.inbox_partitions``). A row that cannot be
        read back (a stored time no Python datetime holds, from before validation refused it)
        would fail every batch and stop the hub: it goes to the dead letters alone, with what
        can be read of it, and the rest are returned (docs/architecture.md, "Bad input")."""
        self.dead_at_claim = self.busy_at_claim = 0
        if is_postgres(self.s):
            ids, self.busy_at_claim = claim_partitions(self.s, limit, applier)
        else:  # one writer at a time: nobody to share with
            ids = list(self.s.execute(_OLDEST, {"limit": limit}).scalars())
        if not ids:
            return []
        try:
            with self.s.begin_nested():
                return self._read(ids)
        except (DataError, ValueError, OverflowError):
            pass
        rows: list[tuple[int, Change]] = []
        for inbox_id in ids:
            try:
                with self.s.begin_nested():
                    rows.extend(self._read([inbox_id]))
            except (DataError, ValueError, OverflowError) as exc:
                self._unreadable(inbox_id, exc)
        return rows

    def _read(self, ids: list[int]) -> list[tuple[int, Change]]:
        """These rows, still pending, row-locked and read in one statement (a claim locked
        them, then read them, in two); one another transaction holds is skipped."""
        rows = self.s.execute(_READ(self.s), {"ids": listed(self.s, ids)}).all()
        return [
            (
                row.id,
                Change(
                    source=row.source,
                    domain=row.domain,
                    key=row.source_key,
                    op=row.op,
                    event_id=row.event_id,
                    attributes=row.attributes,
                    changed_at=row.changed_at,
                    sequence=row.sequence,
                    run_id=row.run_id,
                    correlation_id=row.correlation_id,
                ),
            )
            for row in rows
        ]

    def _unreadable(self, inbox_id: int, exc: Exception) -> None:
        ib = table_of(t.InboxRow)
        row = self.s.execute(
            select(
                ib.c.source,
                ib.c.event_id,
                ib.c.domain,
                ib.c.source_key,
                ib.c.op,
                ib.c.sequence,
                cast(ib.c.changed_at, String).label("changed_at"),
                ib.c.attributes,
            ).where(ib.c.id == inbox_id)
        ).one()
        payload = {
            "domain": row.domain,
            "key": row.source_key,
            "op": row.op,
            "sequence": row.sequence,
            "changed_at": row.changed_at,
            "attributes": row.attributes,
        }
        now = datetime.now(UTC)
        self.s.execute(
            insert(table_of(t.DeadLetter)),
            [
                {
                    "inbox_id": inbox_id,
                    "source": row.source,
                    "event_id": row.event_id,
                    "payload": payload,
                    "reason": f"unreadable in the inbox: {type(exc).__name__}: {exc}"[:4000],
                    "created_at": now,
                }
            ],
        )
        self.mark({inbox_id: "dead"}, now)
        self.dead_at_claim += 1
        log.error("inbox row %d of %s dead-lettered: %.300s", inbox_id, row.source, exc)

    def mark(self, statuses: Mapping[int, str], at: datetime) -> None:
        if not statuses:
            return
        by_status: dict[str, list[int]] = {}
        for inbox_id, status in statuses.items():
            by_status.setdefault(status, []).append(inbox_id)
        stmt = _MARK(self.s)
        for status, ids in by_status.items():
            for part in chunks(ids, 1000):
                self.s.execute(stmt, {"ids": listed(self.s, part), "status": status, "at": at})

    def pending_count(self) -> int:
        ib = table_of(t.InboxRow)
        return len(self.s.execute(select(ib.c.id).where(waiting(ib))).all())


class SqlDeadLetters:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, inbox_id: int, change: Change, reason: str, at: datetime) -> None:
        payload = {
            "domain": change.domain,
            "key": change.key,
            "op": change.op,
            "sequence": change.sequence,
            "changed_at": change.changed_at.isoformat(),
            "attributes": change.attributes,
        }
        self.s.execute(
            insert(table_of(t.DeadLetter)),
            [
                {
                    "inbox_id": inbox_id,
                    "source": change.source,
                    "event_id": change.event_id,
                    "payload": payload,
                    "reason": reason[:4000],
                    "created_at": at,
                }
            ],
        )

    def add_unreadable(self, messages: Sequence[UnreadableMessage], at: datetime) -> int:
        """Kept under inbox id 0 (they never had an inbox row, so a replay has nothing to
        send back) with the stream and position as source and event id; a message seen again
        after a crash (at-least-once) is kept once."""
        dl = table_of(t.DeadLetter)
        fresh: dict[tuple[str, str], UnreadableMessage] = {}
        for m in messages:
            fresh.setdefault((m.origin, m.position), m)
        for origin, position in list(fresh):
            stmt = select(dl.c.id).where(dl.c.source == origin, dl.c.event_id == position)
            if self.s.execute(stmt.limit(1)).first() is not None:
                del fresh[(origin, position)]
        if fresh:
            self.s.execute(
                insert(dl),
                [
                    {
                        "inbox_id": 0,
                        "source": m.origin[:100],
                        "event_id": m.position[:200],
                        "payload": m.payload,
                        "reason": m.reason[:4000],
                        "created_at": at,
                    }
                    for m in fresh.values()
                ],
            )
        return len(fresh)

    def replay(self, ids: Sequence[int] | None, at: datetime) -> int:
        """Put the dead changes back in the inbox as pending, under their own event ids, so
        the worker applies them again after a fix; each dead letter remembers it was replayed."""
        dl, ib = table_of(t.DeadLetter), table_of(t.InboxRow)
        stmt = select(dl.c.id, dl.c.inbox_id).where(dl.c.replayed_at.is_(None))
        if ids is not None:
            stmt = stmt.where(dl.c.id.in_(list(ids)))
        rows = self.s.execute(stmt).all()
        for part in chunks([r.inbox_id for r in rows], 1000):
            self.s.execute(
                update(ib)
                .where(one_of(self.s, ib.c.id, part), ib.c.status == "dead")
                .values(status="pending", applied_at=None)
            )
        for part in chunks([r.id for r in rows], 1000):
            self.s.execute(update(dl).where(one_of(self.s, dl.c.id, part)).values(replayed_at=at))
        return len(rows)
