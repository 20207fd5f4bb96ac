"""Which process delivers, and the fence that keeps a deposed one from delivering on.

On PostgreSQL several processes run the delivery worker and one of them sends: the one that
holds a session advisory lock on a connection of its own. The lock goes when that connection
goes (a restarted server, a network cut, ``pg_terminate_backend``), and another process takes
it at once, while the first one, whose other connections may be fine, would deliver on: two
senders, every event twice (issue 19, item 6). So leadership is a fact to re-check, not a
flag: before every round, before fan-out advances the cursors and before outcomes are written,
the leader asks its lock connection whether it still holds the lock, and stops when it does
not. A process that takes the lock over from another waits ``grace`` seconds first, long
enough for the old leader's sends in flight (bounded by the webhook timeout) to end and be
recorded, so it does not send them again. See docs/architecture.md, "Delivery: one leader, fenced".
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("concord.delivery_leader")

LEADER_LOCK = 0x0C0C0E  # advisory lock id: one delivering process per database

_HOLDS = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 0"
    " AND objid = :k AND objsubid = 1 AND pid = pg_backend_pid() AND granted)"
)


class DeliveryLeader:
    """The leader lock of one process (always held on SQLite: one file, one deliverer)."""

    def __init__(self, engine: Engine, grace: float, stopping: threading.Event) -> None:
        self.engine = engine
        self.grace = grace
        self._stopping = stopping
        self._conn: Connection | None = None
        self._saw_another = False  # the lock was taken when we last tried: a takeover waits

    @property
    def embedded(self) -> bool:
        return self.engine.dialect.name != "postgresql"

    def lead(self) -> bool:
        """Whether this process may run a round now: it holds the lock, or has just taken it."""
        if self.embedded:
            return True
        if self._conn is not None:
            return self.still_leading()
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK}).scalar()
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            self._saw_another = True
            conn.close()
            return False
        self._conn = conn
        if self._saw_another:
            log.info("took the delivery lead over; waiting %.1f s for the old leader", self.grace)
            self._saw_another = False
            if self._stopping.wait(self.grace):
                return False
            return self.still_leading()
        log.info("leading delivery")
        return True

    def still_leading(self) -> bool:
        """Ask the lock's own connection; a dead connection or a lost lock deposes us."""
        if self.embedded:
            return True
        if self._conn is None:
            return False
        try:
            held = bool(self._conn.execute(_HOLDS, {"k": LEADER_LOCK}).scalar())
            self._conn.commit()
        except Exception:
            held = False
        if not held:
            log.warning("lost the delivery leader lock; standing by")
            self.release()
            self._saw_another = True
        return held

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a dead connection: the server released the lock already
                log.debug("closing the leader connection failed", exc_info=True)
