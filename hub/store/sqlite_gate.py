"""SQLite's write lock, handed from one writer of a process to the next in arrival order.

SQLite has one writer at a time. A connection that asks for the write lock while another
holds it waits in SQLite's busy handler, which sleeps and looks again, longer each time (up
to 100 ms between looks). In ``concord serve`` on SQLite the API's inbox writes and
delivery's writes wait like that for the applier's transactions: the lock was often free
for tens of milliseconds before a sleeper looked, and by then the applier's next batch had
taken it again. A py-spy sample of delivery's database thread at 1,000 changes/s put over
half of its time there, and delivery fell behind (docs/architecture.md, "Where latency comes
from").

So within one process the writers of a database file queue here before they ask SQLite, and
each is woken the moment the one before it commits or rolls back. SQLite's lock stays the
only one that counts: the gate orders the process's own writers, and another process (the
CLI, a second ``concord`` on the same file) still meets the busy handler. A writer that waits
longer than the busy timeout gives up with SQLite's own "database is locked", as before.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from typing import Any

TIMEOUT = 30.0  # seconds; the busy timeout the engine sets (hub/store/db.py)


class WriterGate:
    """A first-come, first-served lock: a release hands it to the oldest waiter directly,
    so a writer that commits and at once begins again goes to the back of the queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Lock] = deque()

    def enter(self, timeout: float = TIMEOUT) -> bool:
        with self._lock:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        try:
            got = turn.acquire(timeout=timeout)
        except BaseException:  # interrupted (Ctrl-C, a signal): the gate must not go to it
            if not self._withdraw(turn):
                self.leave()  # handed over as it was interrupted: pass it on
            raise
        return got or not self._withdraw(turn)  # handed over as the wait ran out: ours

    def _withdraw(self, turn: threading.Lock) -> bool:
        """Take a waiter out of the queue; False if it was handed the gate meanwhile."""
        with self._lock:
            if turn in self._waiting:
                self._waiting.remove(turn)
                return True
        return False

    def leave(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()  # still held: it is the next writer's
            else:
                self._held = False


_GATES: dict[str, WriterGate] = {}
_GATES_LOCK = threading.Lock()


def gate_of(path: str) -> WriterGate:
    """The one gate of a database file in this process, whichever engine opened it."""
    key = os.path.realpath(path)
    with _GATES_LOCK:
        return _GATES.setdefault(key, WriterGate())


def _forget_gates() -> None:
    """A forked child starts with no writer of its own: a gate a parent's thread held would
    never be let go in the child."""
    _GATES.clear()


os.register_at_fork(after_in_child=_forget_gates)


class GatedConnection(sqlite3.Connection):
    """A connection that goes through its file's gate for a writing transaction and lets
    the next writer in when the transaction ends, however it ends (commit, rollback, or
    the connection closed)."""

    gate: WriterGate | None = None
    holding = False

    def enter_gate(self) -> bool:
        """Wait for this file's gate; False if the wait ran past the busy timeout."""
        if self.gate is None or self.holding:
            return True
        if not self.gate.enter():
            return False
        self.holding = True
        return True

    def let_go(self) -> None:
        if self.holding and self.gate is not None:
            self.holding = False
            self.gate.leave()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self.let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.let_go()


def enter_gate(dbapi_connection: Any) -> bool:
    """Queue at the connection's gate before ``BEGIN IMMEDIATE``, if it has one; False if
    the wait ran out."""
    if isinstance(dbapi_connection, GatedConnection):
        return dbapi_connection.enter_gate()
    return True


def let_go(dbapi_connection: Any) -> None:
    if isinstance(dbapi_connection, GatedConnection):
        dbapi_connection.let_go()
