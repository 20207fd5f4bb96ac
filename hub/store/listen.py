"""Commits announced across processes: a thread that ``LISTEN``s on a PostgreSQL channel and
wakes a worker per notification, so a worker in another process starts at once instead of at
its next poll. Triggers send the notifications (``concord_outbox``: migration 0017;
``concord_inbox``: migration 0024); PostgreSQL sends them when the transaction commits, never
before, and folds repeats within one transaction into one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine

log = logging.getLogger("concord.listen")

OUTBOX = "concord_outbox"
INBOX = "concord_inbox"


class Listener:
    """``LISTEN`` on its own connection, calling ``wake`` per notification.

    A lost connection is opened again after a second; each (re)start wakes the worker once,
    for whatever was committed while nobody listened (the worker's poll would find it too).
    """

    def __init__(self, dsn: str, channel: str, wake: Callable[[], None]) -> None:
        if not channel.isidentifier():  # it goes into the statement as it is
            raise ValueError(f"not a channel name: {channel!r}")
        self.dsn = dsn
        self.channel = channel
        self.wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg  # PostgreSQL only: a SQLite hub never loads the driver

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.wake()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wake()
            except Exception:
                log.warning("listening on %s failed; polling", self.channel, exc_info=True)
                self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(3)


def listen(engine: Engine, channel: str, wake: Callable[[], None]) -> Listener | None:
    """A listener on the engine's database, or None on SQLite (one process: its workers are
    woken in-process, and the others poll)."""
    if engine.dialect.name != "postgresql":
        return None
    url = engine.url.set(drivername="postgresql")
    return Listener(url.render_as_string(hide_password=False), channel, wake)
