"""The SQL side of the delivery worker's port (``hub.services.delivery_ports.DeliveryStore``).

Each call is its own short transaction, so the worker can record one group of outcomes while
the next requests are on the wire. On PostgreSQL the leader lock is a session advisory lock on
a connection of its own (docs/architecture.md, "Delivery: one leader, fenced"), and a
``LISTEN`` on ``concord_outbox`` (a trigger of migration 0017 notifies it when outbox rows
commit) wakes the worker the moment another process publishes, instead of at its next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select, text

from hub.domain.delivery import Due, Outcome, Skip, Subscription
from hub.store import deliveries
from hub.store.listen import OUTBOX, Listener, listen
from hub.store.tables import OutboxRow, SubscriptionRow
from hub.store.uow import session_factory

log = logging.getLogger("concord.delivery_store")

LEADER_LOCK = 0x0C0C0E  # advisory lock id: one delivering process per database

_HOLDS = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 0"
    " AND objid = :k AND objsubid = 1 AND pid = pg_backend_pid() AND granted)"
)


class AdvisoryLeaderLine:
    """The leader lock as a PostgreSQL session advisory lock on a connection of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def take(self) -> bool:
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK}).scalar()
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def holds(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = bool(self._conn.execute(_HOLDS, {"k": LEADER_LOCK}).scalar())
            self._conn.commit()
        except Exception:
            return False
        return held

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a dead connection: the server released the lock already
                log.debug("closing the leader connection failed", exc_info=True)


class SqlDeliveryStore:
    """``DeliveryStore`` on the hub's database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write = session_factory(engine)
        self._read = session_factory(engine, readonly=True)
        # SQLite has one writer: the API's inbox writes and the apply batches queue behind each
        # of delivery's commits (and its busy handler sleeps), so delivery commits less often.
        self.pace = 0.005 if self.postgres else 0.05

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def behind(self) -> bool:
        """A read only, so an idle worker does not take SQLite's write lock every turn."""
        with self._read() as s:
            low = s.scalar(select(func.min(SubscriptionRow.cursor)))
            top = s.scalar(select(func.max(OutboxRow.seq)))
        return low is not None and top is not None and top > low

    def fan_out(self, skip: Skip, batch: int, fence: Callable[[], bool]) -> int:
        with self._write() as s:
            made = deliveries.fan_out(s, skip, batch)
            if not fence():  # a deposed leader moves no cursor
                s.rollback()
                return 0
            s.commit()
        return made

    def due(
        self, now: datetime, room: Callable[[str], int], held: Collection[int]
    ) -> tuple[list[Subscription], list[Due]]:
        with self._read() as s:
            subs = deliveries.active_subscriptions(s)
            out: list[Due] = []
            for sub in subs:
                limit = room(sub.id)
                if limit > 0:
                    out += deliveries.due(s, sub, now, limit, held)
        return subs, out

    def record(self, outcomes: Collection[Outcome]) -> None:
        if not outcomes:
            return
        with self._write() as s:
            deliveries.record(s, outcomes)
            s.commit()

    def leader_line(self) -> AdvisoryLeaderLine | None:
        return AdvisoryLeaderLine(self.engine) if self.postgres else None

    def listen(self, wake: Callable[[], None]) -> Listener | None:
        return listen(self.engine, OUTBOX, wake)
