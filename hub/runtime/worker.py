"""The embedded worker: a thread inside ``concord serve`` that applies the inbox.

It sleeps when the inbox is empty and is woken by ingest, so a posted change is applied within
milliseconds without the worker spinning on an empty table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from hub.domain.commands import AdvanceProjectSetup, ApplyPending, RefreshStatistics
from hub.runtime.background import BackgroundLoop
from hub.services.apply import ApplyReport
from hub.services.bus import MessageBus, StatisticsSchedule

log = logging.getLogger("concord.worker")


class EmbeddedWorker(BackgroundLoop):
    name = "concord-worker"

    def __init__(
        self,
        bus: MessageBus,
        batch: int = 500,
        idle: float = 0.2,
        observe: Callable[[ApplyReport, float], None] | None = None,
        statistics_aside: bool = False,
    ) -> None:
        super().__init__(idle)
        self.bus = bus
        self.observe = observe
        self.batch = batch
        self._statistics = StatisticsSchedule()
        # PostgreSQL: statistics refreshed on a thread of their own (_maybe_refresh_statistics)
        self._aside = statistics_aside
        self._owed = False
        self._refreshing: threading.Thread | None = None

    def turn(self) -> int:
        started = time.perf_counter()
        report = self.bus.apply(ApplyPending(self.batch))
        if self.observe is not None:
            self.observe(report, time.perf_counter() - started)
        self._maybe_refresh_statistics(report.applied + report.stale)
        # Project setup reads what this round published; shells it makes apply next turn.
        setup = self._advance_setup()
        return report.applied + report.stale + report.dead + setup

    def _advance_setup(self) -> int:
        try:
            read: int = self.bus.handle(AdvanceProjectSetup(self.batch))
        except Exception:  # a failed round moves no cursor: the next turn reads it again
            log.warning("project setup round failed", exc_info=True)
            return 0
        return read

    def _maybe_refresh_statistics(self, done: int) -> None:
        """Statistics are refreshed as the work doubles. On PostgreSQL that runs beside the
        turns, not between them: an ``ANALYZE`` of the hot tables held the applier for tens
        of milliseconds each time, and the changes that arrived meanwhile waited, which at
        1,000 changes/s was most of the p99 from accepted to applied (docs/architecture.md,
        "Where latency comes from"). ``ANALYZE`` blocks no reader or writer there. SQLite
        has one writer, and an in-memory database one connection: it refreshes in turn."""
        self._owed = self._statistics.due(done) or self._owed
        if not self._owed:
            return
        if not self._aside:
            self._owed = False
            self._refresh_statistics()
            return
        if self._refreshing is not None and self._refreshing.is_alive():
            return  # still owed: started once this one is done
        self._owed = False
        self._refreshing = threading.Thread(
            target=self._refresh_statistics, name="concord-statistics", daemon=True
        )
        self._refreshing.start()

    def _refresh_statistics(self) -> None:
        try:
            self.bus.handle(RefreshStatistics())
        except Exception:  # statistics are an optimisation: never stop applying for them
            log.warning("refreshing table statistics failed", exc_info=True)

    def closed(self) -> None:
        """A refresh under way finishes before the worker is done (it holds a connection)."""
        if self._refreshing is not None:
            self._refreshing.join(10)
