"""The worker processes' own loops: ``concord apply --follow`` and ``concord deliver``, run by
hand beside ``serve --no-worker`` or started by ``serve`` itself (``hub.runtime.children``).

Each stops on Ctrl-C or SIGTERM after the batch it is in, and a child of ``serve`` dies with
it. On PostgreSQL the applier listens on ``concord_inbox`` (migration 0024), so a change
accepted by another process is applied at once, not at the applier's next poll.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Protocol

from hub.bootstrap import Hub, delivery_worker
from hub.environment import PARENT_ENV
from hub.runtime.children import report_line
from hub.runtime.worker import EmbeddedWorker
from hub.services.batch import ApplyReport
from hub.store.listen import INBOX, listen

log = logging.getLogger("concord.follow")

_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


def apply_follow(hub: Hub, report: bool = False) -> None:
    """Apply the inbox until stopped; ``report``: one JSON line per batch on stdout, for the
    server that started this process to count in its metrics."""
    orphaned = as_child()

    def tell(batch: ApplyReport, seconds: float) -> None:
        if batch.by_source or batch.events:
            try:
                sys.stdout.write(report_line(batch, seconds) + "\n")
                sys.stdout.flush()
            except (OSError, ValueError):  # the server is gone: this process follows it
                log.debug("no server to report the batch to", exc_info=True)

    s = hub.settings
    observe = tell if report else None
    worker = EmbeddedWorker(hub.bus, s.worker_batch, s.worker_idle_seconds, observe)
    listener = listen(hub.engine, INBOX, worker.wake)
    try:
        _run(worker, orphaned)
    finally:
        if listener is not None:
            listener.close()


def deliver_follow(hub: Hub) -> None:
    """Deliver webhooks until stopped (one process delivers at a time: the leader)."""
    orphaned = as_child()
    worker = delivery_worker(hub.engine, hub.settings, hub.config.personal_fields)
    _run(worker, orphaned)


class _Loop(Protocol):
    def start(self) -> None: ...
    def stop(self, timeout: float = 10) -> None: ...
    @property
    def alive(self) -> bool: ...


def _run(worker: _Loop, orphaned: Callable[[], bool]) -> None:
    worker.start()
    try:
        while worker.alive and not orphaned():
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    if orphaned():
        log.warning("the server that started this process is gone; stopping")
    worker.stop()


def as_child() -> Callable[[], bool]:
    """In a worker process: stop on SIGTERM as on Ctrl-C, and, when a server started this
    process, die with it. Returns ``orphaned``, for the process's loop to ask each second
    (where the death signal is not to be had)."""
    signal.signal(signal.SIGTERM, _interrupt)
    parent = os.environ.get(PARENT_ENV)
    if not parent or not parent.isdigit():
        return lambda: False
    expected = int(parent)
    # Ctrl-C in a terminal reaches the whole process group: the server stops its children
    # (SIGTERM) once it has stopped taking requests, so they must not stop on their own first
    # (it would start them again meanwhile).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            log.debug("no parent-death signal here; watching the parent instead")
    return lambda: os.getppid() != expected


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
