"""``concord serve``'s worker processes (hub/runtime/children.py): the batch reports they send,
how a crashing one is started again, and that one not stopping when its stdin closes is killed
at shutdown."""

from __future__ import annotations

import io
import logging
import subprocess
import time
from collections import Counter

import pytest

from hub.runtime.children import (
    FIRST_WAIT,
    LONGEST_WAIT,
    SETTLED,
    Child,
    Children,
    next_wait,
    read_report,
    report_line,
)
from hub.services.batch import ApplyReport


def test_a_report_reads_back_as_sent() -> None:
    sent = ApplyReport(
        applied=5, stale=1, dead=1, events=4, by_source=Counter({("crm", "applied"): 5})
    )
    sent.by_source[("erp", "dead")] = 1
    got, seconds = read_report(report_line(sent, 0.25))
    assert (got.applied, got.stale, got.dead, got.events) == (5, 1, 1, 4)
    assert got.by_source == sent.by_source
    assert seconds == 0.25


def test_a_crash_loop_backs_off_and_a_long_run_does_not() -> None:
    waits, wait = [], FIRST_WAIT / 2
    for _ in range(8):
        wait = next_wait(wait, ran=0.5)
        waits.append(wait)
    assert waits[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert waits[-1] == LONGEST_WAIT
    assert next_wait(LONGEST_WAIT, ran=SETTLED) == FIRST_WAIT


def test_reports_reach_the_metrics_and_a_bad_line_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[int, float]] = []
    children = Children(on_report=lambda r, s: seen.append((r.applied, s)))
    one = report_line(ApplyReport(applied=2, by_source=Counter({("crm", "applied"): 2})), 0.1)
    two = report_line(ApplyReport(applied=3, by_source=Counter({("crm", "applied"): 3})), 0.2)
    stream = io.BytesIO(f"{one}\nnot json\n{{}}\n{two}\n".encode())
    with caplog.at_level(logging.WARNING, logger="concord.children"):
        children._read_reports(stream)
    assert seen == [(2, 0.1), (3, 0.2)]
    assert sum("could not count a batch report" in r.message for r in caplog.records) == 2


class Recording(Children):
    """Keeps every process it started, for the test to look at after it was let go."""

    started: list[subprocess.Popen[bytes]]

    def _spawn(self, child: Child) -> None:
        super()._spawn(child)
        if child.proc is not None and child.name == "quits":
            self.__dict__.setdefault("started", []).append(child.proc)


def test_a_child_is_started_again_and_one_that_will_not_stop_is_killed() -> None:
    quits = Child("quits", ("-c", "raise SystemExit(3)"))
    stubborn = Child("stubborn", ("-c", "import time; time.sleep(60)"))  # reads no stdin
    children = Recording(grace=1.0, children=[quits, stubborn])
    children.start()
    try:
        deadline = time.monotonic() + 20
        while quits.starts < 2:  # exited at once, started again a second later
            assert time.monotonic() < deadline, "not started again"
            time.sleep(0.05)
        first = children.started[0]
        assert first.stdin is not None and first.stdin.closed  # no pipe kept per restart
        while children.alive:  # not every child runs: health says so
            assert time.monotonic() < deadline, "alive with a child that keeps exiting"
            time.sleep(0.01)
        assert stubborn.starts == 1
    finally:
        began = time.monotonic()
        children.stop()
    assert stubborn.proc is not None and stubborn.proc.returncode == -9
    assert time.monotonic() - began < 10


def test_a_failing_count_does_not_stop_the_reading(caplog: pytest.LogCaptureFixture) -> None:
    """The reader must drain the pipe whatever happens: a full pipe would stall the applier."""
    calls: list[int] = []

    def broken(report: ApplyReport, seconds: float) -> None:
        calls.append(report.applied)
        raise RuntimeError("metrics are broken")

    line = report_line(ApplyReport(applied=1, by_source=Counter({("crm", "applied"): 1})), 0.1)
    stream = io.BytesIO(f"{line}\n{line}\n".encode())
    with caplog.at_level(logging.WARNING, logger="concord.children"):
        Children(on_report=broken)._read_reports(stream)
    assert calls == [1, 1]
    assert sum("could not count a batch report" in r.message for r in caplog.records) == 2
    assert stream.closed


def test_the_child_entry_reads_the_variable_the_server_sets() -> None:
    from hub.environment import PARENT_ENV
    from hub.runtime import child

    assert child.PARENT == PARENT_ENV
