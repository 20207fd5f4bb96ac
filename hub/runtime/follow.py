"""The worker processes' own loops: ``concord apply --follow`` and ``concord deliver``, run by
hand beside ``serve --no-worker`` or started by ``serve`` itself (``hub.runtime.children``).

Each stops on Ctrl-C or SIGTERM after the batch it is in; a child of ``serve`` stops when the
server closes its stdin, and dies with it (``hub.runtime.child``). On PostgreSQL the applier
listens on ``concord_inbox`` (migration 0024), so a change accepted by another process is
applied at once, not at the applier's next poll.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Protocol

from hub.bootstrap import Hub, delivery_worker
from hub.environment import PARENT_ENV
from hub.runtime.children import report_line
from hub.runtime.worker import EmbeddedWorker
from hub.services.batch import ApplyReport
from hub.store.listen import INBOX, listen

log = logging.getLogger("concord.follow")


def apply_follow(hub: Hub, report: bool = False) -> None:
    """Apply the inbox until stopped; ``report``: one JSON line per batch on stdout, for the
    server that started this process to count in its metrics."""
    told = as_child()

    def tell(batch: ApplyReport, seconds: float) -> None:
        if batch.by_source or batch.events:
            try:
                sys.stdout.write(report_line(batch, seconds) + "\n")
                sys.stdout.flush()
            except (OSError, ValueError):  # the server is gone: this process follows it
                log.debug("no server to report the batch to", exc_info=True)

    s = hub.settings
    observe = tell if report else None
    aside = hub.engine.dialect.name == "postgresql"
    worker = EmbeddedWorker(hub.bus, s.worker_batch, s.worker_idle_seconds, observe, aside)
    listener = listen(hub.engine, INBOX, worker.wake)
    try:
        _run(worker, told)
    finally:
        if listener is not None:
            listener.close()


def deliver_follow(hub: Hub) -> None:
    """Deliver webhooks until stopped (one process delivers at a time: the leader)."""
    told = as_child()
    worker = delivery_worker(hub.engine, hub.settings, hub.config.personal_fields)
    _run(worker, told)


class _Loop(Protocol):
    name: str

    def start(self) -> None: ...
    def stop(self, timeout: float = 10) -> None: ...
    @property
    def alive(self) -> bool: ...


def _run(worker: _Loop, told: threading.Event) -> None:
    worker.start()
    log.info("%s: running", worker.name)
    try:
        while worker.alive and not told.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    worker.stop()


def as_child() -> threading.Event:
    """The event that tells the process's loop to stop.

    Started by hand, Ctrl-C or SIGTERM stops the loop instead (as ``KeyboardInterrupt``,
    after the batch in hand), and the event stays unset. Started by a server
    (``PARENT_ENV``; ``hub.runtime.child`` has set the signals aside), the end of stdin does:
    the server closes it to stop the child, and it closes by itself when the server dies."""
    told = threading.Event()
    if not os.environ.get(PARENT_ENV):
        signal.signal(signal.SIGTERM, _interrupt)
        return told

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        log.info("the server closed this process's stdin; stopping")
        told.set()

    threading.Thread(target=watch, name="concord-parent", daemon=True).start()
    return told


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
