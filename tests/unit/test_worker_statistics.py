"""The apply worker refreshes table statistics as its work doubles. On PostgreSQL the refresh
runs beside the turns: an ``ANALYZE`` between two turns held every change that arrived
meanwhile, and that was most of the p99 from accepted to applied at 1,000 changes/s."""

from __future__ import annotations

import threading
from typing import Any, cast

from hub.domain.commands import AdvanceProjectSetup, ApplyPending, RefreshStatistics
from hub.runtime.worker import EmbeddedWorker
from hub.services.batch import ApplyReport
from hub.services.bus import MessageBus


class _Bus:
    """Applies 2,000 changes a turn (a refresh is due every turn at first); a refresh waits
    until the test lets it finish."""

    def __init__(self) -> None:
        self.per_turn = 2_000
        self.refreshes = 0
        self.started = threading.Semaphore(0)
        self.finish = threading.Event()

    def apply(self, cmd: ApplyPending) -> ApplyReport:
        return ApplyReport(applied=self.per_turn)

    def handle(self, cmd: object) -> Any:
        if isinstance(cmd, AdvanceProjectSetup):
            return 0
        assert isinstance(cmd, RefreshStatistics)
        self.refreshes += 1
        self.started.release()
        assert self.finish.wait(5), "the test never let the refresh finish"
        return None


def _worker(bus: _Bus, aside: bool) -> EmbeddedWorker:
    return EmbeddedWorker(cast(MessageBus, bus), statistics_aside=aside)


def test_aside_a_turn_does_not_wait_for_a_refresh_and_one_owed_follows_it() -> None:
    bus = _Bus()
    worker = _worker(bus, aside=True)
    assert worker.turn() == 2_000
    assert bus.started.acquire(timeout=5)
    running = worker._refreshing
    assert running is not None and running.is_alive()  # the turn returned before it ended
    worker.turn()  # due again (4,000): owed, not started beside the first
    worker.turn()
    assert bus.refreshes == 1
    bus.finish.set()
    worker.closed()  # the first one finishes
    bus.per_turn = 0  # nothing new is due: what starts now is the one owed
    worker.turn()
    assert bus.started.acquire(timeout=5)
    worker.closed()
    worker.turn()
    worker.closed()
    assert bus.refreshes == 2  # once, not once for each turn it was owed


def test_in_turn_the_refresh_runs_before_the_turn_returns() -> None:
    """SQLite: one writer, and an in-memory database has one connection to share."""
    bus = _Bus()
    bus.finish.set()
    worker = _worker(bus, aside=False)
    worker.turn()
    assert bus.refreshes == 1  # done inside the turn
    assert worker._refreshing is None


def test_a_failed_refresh_does_not_stop_the_worker() -> None:
    class Failing(_Bus):
        def handle(self, cmd: object) -> Any:
            if isinstance(cmd, RefreshStatistics):
                self.refreshes += 1
                raise RuntimeError("statistics unavailable")
            return super().handle(cmd)

    for aside in (True, False):
        bus = Failing()
        worker = _worker(bus, aside)
        assert worker.turn() == 2_000
        worker.closed()
        assert bus.refreshes == 1
