"""The SQL side of the delivery worker's port (``hub.services.delivery_ports.DeliveryStore``).

Each call is its own short transaction, so the worker can record one group of outcomes while
the next requests are on the wire. On PostgreSQL the leader lock is a session advisory lock on
a connection of its own (docs/architecture.md, "Delivery: one leader, fenced"), and a
``LISTEN`` on ``concord_outbox`` (a trigger of migration 0017 notifies it when outbox rows
commit) wakes the worker the moment another process publishes, instead of at its next poll.

A delivery cycle makes four or five of these calls, and at 1,000 events/s there are dozens
of cycles a second, so what a call costs besides its statements counts: on PostgreSQL the
store keeps a pool of its own that does not ping a connection at every checkout
(docs/architecture.md, "Where latency comes from"). A connection that broke fails one cycle,
which the worker runs again; the pool has dropped it by then.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Iterator
from datetime import datetime

from sqlalchemy import Connection, Engine, QueuePool, text

from hub.domain.delivery import Due, Outcome, Skip, Subscription
from hub.store import deliveries
from hub.store.db import make_engine
from hub.store.listen import OUTBOX, Listener, listen

log = logging.getLogger("concord.delivery_store")

LEADER_LOCK = 0x0C0C0E  # advisory lock id: one delivering process per database

_HOLDS = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 0"
    " AND objid = :k AND objsubid = 1 AND pid = pg_backend_pid() AND granted)"
)
_UNLOCK = text("SELECT pg_advisory_unlock(:k)")


class AdvisoryLeaderLine:
    """The leader lock as a PostgreSQL session advisory lock on a connection of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def take(self) -> bool:
        # autocommit: the check before every fan-out and write is one round trip, not two
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK}).scalar()
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
            return bool(self._conn.execute(_HOLDS, {"k": LEADER_LOCK}).scalar())
        except Exception:
            return False

    def close(self) -> None:
        """Let go of the lock, then close its connection for good: back in the pool it would
        hold the lock on, and no other process could lead. The unlock comes first because a
        closed socket releases the lock only when the server notices, a moment later, and a
        standby that asks in that moment would be refused."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute(_UNLOCK, {"k": LEADER_LOCK})
            except Exception:  # a dead connection: the server releases the lock as it ends
                log.debug("letting go of the leader lock failed", exc_info=True)
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # a dead connection: the server released the lock already
                log.debug("closing the leader connection failed", exc_info=True)


class SqlDeliveryStore:
    """``DeliveryStore`` on the hub's database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.postgres = engine.dialect.name == "postgresql"
        self.engine = _unpinged(engine) if self.postgres else engine
        # connections, not ORM sessions: every statement here is Core, and a session cost
        # more than the statement it ran
        self._reads = self.engine.execution_options(readonly=True)
        self._local = threading.local()  # the worker calls from one thread: its held line
        self._held: list[Connection] = []
        # SQLite has one writer: the API's inbox writes and the apply batches queue behind each
        # of delivery's commits, so delivery commits less often. (With the writer gate,
        # hub/store/sqlite_gate.py, a 10 ms pace was tried: no lower latency, and a delivery
        # of about a second in each run; docs/benchmarks/propagate-sqlite-gate-2026-12-06.txt.)
        self.pace = 0.005 if self.postgres else 0.05

    def close(self) -> None:
        """After the worker's last call: its held lines and the pool (this store's own). A
        call after this starts afresh (a new line), it does not use a closed one."""
        held, self._held, self._local = self._held, [], threading.local()
        for conn in held:
            with contextlib.suppress(Exception):  # a dead line: nothing to let go of
                conn.close()
        if self.postgres:
            self.engine.dispose()

    @contextlib.contextmanager
    def _line(self, readonly: bool = False) -> Iterator[Connection]:
        """A connection for one call, its transaction ended after it. On PostgreSQL the
        calling thread keeps it between calls: a checkout and its return cost more than a
        statement. One that failed is dropped, and the next call takes a new one."""
        if not self.postgres:  # SQLite: a plain checkout (a memory database has one line)
            with (self._reads if readonly else self.engine).connect() as plain:
                yield plain
            return
        local = self._local
        # one call at a time on a line: a call made from inside another (a callback that
        # asked the store) would end the outer call's transaction and its row locks
        assert not getattr(local, "busy", False), "a delivery store call inside another"
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = self.engine.connect()
            self._held.append(conn)
        assert isinstance(conn, Connection)
        local.busy = True
        try:
            yield conn
            if conn.in_transaction():
                conn.rollback()
        except BaseException:
            local.conn = None
            if conn in self._held:
                self._held.remove(conn)
            with contextlib.suppress(Exception):
                conn.invalidate()
            raise
        finally:
            local.busy = False

    def behind(self) -> bool:
        """A read only, so an idle worker does not take SQLite's write lock every turn."""
        with self._line(readonly=True) as conn:
            return deliveries.behind(conn)

    def fan_out(self, skip: Skip, batch: int, fence: Callable[[], bool]) -> int:
        with self._line() as conn:
            made = deliveries.fan_out(conn, skip, batch)
            if not fence():  # a deposed leader moves no cursor
                conn.rollback()
                return 0
            conn.commit()
        return made

    def due(
        self, now: datetime, room: Callable[[str], int], held: Collection[int]
    ) -> tuple[list[Subscription], list[Due]]:
        with self._line(readonly=True) as conn:
            subs = deliveries.active_subscriptions(conn)
            out: list[Due] = []
            for sub in subs:
                limit = room(sub.id)
                if limit > 0:
                    out += deliveries.due(conn, sub, now, limit, held)
        return subs, out

    def record(self, outcomes: Collection[Outcome]) -> None:
        if not outcomes:
            return
        with self._line() as conn:
            deliveries.record(conn, outcomes)
            conn.commit()

    def leader_line(self) -> AdvisoryLeaderLine | None:
        return AdvisoryLeaderLine(self.engine) if self.postgres else None

    def listen(self, wake: Callable[[], None]) -> Listener | None:
        return listen(self.engine, OUTBOX, wake)


def _unpinged(engine: Engine) -> Engine:
    """A small pool on the same database that does not ping at checkout (a round trip on
    both sides of every call, a tenth of delivery's CPU per event at 1,000 events/s). It
    holds two connections in use (the worker's line and the leader's), beside the hub's
    own pool, and waits for one as long as that pool does."""
    url = engine.url.render_as_string(hide_password=False)
    wait = engine.pool.timeout() if isinstance(engine.pool, QueuePool) else 30.0
    return make_engine(url, pool_pre_ping=False, pool_size=2, max_overflow=4, pool_timeout=wait)
