"""The embedded worker: a thread inside ``concord serve`` that applies the inbox.

It sleeps when the inbox is empty and is woken by ingest, so a posted change is applied within
milliseconds without the worker spinning on an empty table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from hub.domain.commands import ApplyPending, RefreshStatistics
from hub.services.apply import ApplyReport
from hub.services.bus import MessageBus, StatisticsSchedule

log = logging.getLogger("concord.worker")


class EmbeddedWorker:
    def __init__(
        self,
        bus: MessageBus,
        batch: int = 500,
        idle: float = 0.2,
        observe: Callable[[ApplyReport, float], None] | None = None,
    ) -> None:
        self.bus = bus
        self.observe = observe
        self.batch = batch
        self.idle = idle
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._statistics = StatisticsSchedule()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="concord-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                started = time.perf_counter()
                report = self.bus.apply(ApplyPending(self.batch))
                if self.observe is not None:
                    self.observe(report, time.perf_counter() - started)
            except Exception:  # keep applying; the failing batch is retried on the next turn
                log.exception("apply failed")
                self._stop.wait(1.0)
                continue
            self._maybe_refresh_statistics(report.applied + report.stale)
            if report.applied + report.stale + report.dead == 0:
                self._wake.wait(self.idle)
                self._wake.clear()

    def _maybe_refresh_statistics(self, done: int) -> None:
        if not self._statistics.due(done):
            return
        try:
            self.bus.handle(RefreshStatistics())
        except Exception:  # statistics are an optimisation: never stop applying for them
            log.warning("refreshing table statistics failed", exc_info=True)
