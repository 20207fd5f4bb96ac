"""A worker thread that works in turns and sleeps when there is nothing to do.

The apply worker and the webhook delivery worker share this shape: run a turn, and when it
found nothing, wait until woken or until the idle time is over. A failing turn is logged and
retried after a pause: the work's state is in the database, so nothing is lost by retrying.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("concord.background")


class BackgroundLoop:
    name = "concord-loop"

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def turn(self) -> int:
        """Do one round of work; how much was done (0 means idle)."""
        raise NotImplementedError

    def closed(self) -> None:
        """Release what the loop holds, after it stopped."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.closed()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.turn()
            except Exception:  # keep going; the failed round is retried on the next turn
                log.exception("%s: a round failed", self.name)
                self._stop.wait(1.0)
                continue
            if done == 0:
                self._wake.wait(self.idle)
                self._wake.clear()
