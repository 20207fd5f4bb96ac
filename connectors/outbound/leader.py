"""Which process delivers, and the fence that keeps a deposed one from delivering on.

On PostgreSQL several processes run the delivery worker and one of them sends: the one that
holds the leader lock on a line of its own to the database (``LeaderLine``, a session advisory
lock in ``hub.store.delivery_store``). The lock goes when that line goes (a restarted server, a
network cut, ``pg_terminate_backend``), and another process takes it at once, while the first
one, whose other connections may be fine, would deliver on: two senders, every event twice
(issue 19, item 6). So leadership is a fact to re-check, not a flag: before requests go out,
before fan-out advances the cursors and before outcomes are written, the leader asks its line
whether it still holds the lock, and stops when it does not. A process that takes the lock
over from another waits ``grace`` seconds first, long enough for the old leader's sends in
flight (bounded by the one deadline per request) to end and be recorded, so it does not send
them again. See docs/architecture.md, "Delivery: one leader, fenced".
"""

from __future__ import annotations

import logging
import threading

from hub.services.delivery_ports import LeaderLine

log = logging.getLogger("concord.delivery_leader")


class DeliveryLeader:
    """The leader lock of one process (``line`` None: always held, one process delivers)."""

    def __init__(self, line: LeaderLine | None, grace: float, stopping: threading.Event) -> None:
        self.line = line
        self.grace = grace
        self._stopping = stopping
        self._leading = False
        self._saw_another = False  # the lock was taken when we last tried: a takeover waits

    @property
    def embedded(self) -> bool:
        return self.line is None

    def lead(self) -> bool:
        """Whether this process may deliver now: it holds the lock, or has just taken it."""
        if self.line is None:
            return True
        if self._leading:
            return self.still_leading()
        if not self.line.take():
            self._saw_another = True
            return False
        self._leading = True
        if self._saw_another:
            log.info("took the delivery lead over; waiting %.1f s for the old leader", self.grace)
            self._saw_another = False
            if self._stopping.wait(self.grace):
                return False
            return self.still_leading()
        log.info("leading delivery")
        return True

    def still_leading(self) -> bool:
        """Ask the lock's own line; a dead line or a lost lock deposes us."""
        if self.line is None:
            return True
        if not self._leading:
            return False
        held = self.line.holds()
        if not held:
            log.warning("lost the delivery leader lock; standing by")
            self.release()
            self._saw_another = True
        return held

    def release(self) -> None:
        self._leading = False
        if self.line is not None:
            self.line.close()
