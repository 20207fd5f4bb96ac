"""``concord bench turns``: what one apply turn costs whatever its size, and what each change
adds to it.

At 1,000 changes/s an applier that turns as soon as it is done takes a few dozen changes a
turn (``concord bench propagate``), so a turn's fixed part (its transactions, a few dozen
statements, the project setup round that follows it) decides much of its CPU and of the
latency. The bulk benchmarks (``concord bench apply``) take 500 a turn and hide it.

For each size the hub gets that many new clients (the propagate bench's data) through the
inbox, then one apply turn and one project setup round run, as the worker runs them, in
this process; the first ``warmup`` turns are not counted, and statistics are refreshed as the
worker would. Printed: CPU and wall time a turn, CPU a change, statements a turn (COPYs not
counted), and a least-squares line through the points, CPU = fixed + per change x size.
Never asserted: machines here are shared and noisy.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from sqlalchemy import event

from bench.apply import _accept
from bench.ingest import bench_hub, load_average, machine
from bench.propagate import _change
from hub.domain.commands import AdvanceProjectSetup, ApplyPending, RefreshStatistics
from hub.store import access
from hub.store.uow import admin_session


def run_turns(sizes: list[int], turns: int, warmup: int, database: str, console: Console) -> int:
    console.print(
        f"concord bench turns ({database}): {turns} counted turns a size after {warmup}, "
        f"new clients; {machine()}"
    )
    console.print(f"load average: {load_average()}")
    points: list[tuple[int, float]] = []
    for size in sizes:
        cpu, wall, statements = _measure(database, size, turns, warmup)
        points.append((size, cpu))
        console.print(
            f"  {size:>5} changes a turn: {cpu * 1e3:6.1f} ms CPU and {wall * 1e3:6.1f} ms a "
            f"turn, {cpu / size * 1e6:7,.0f} µs CPU a change, {statements:.1f} statements"
        )
    if len(points) >= 2:
        fixed, slope = _line(points)
        console.print(
            f"  fit: {fixed * 1e3:.1f} ms CPU a turn + {slope * 1e6:,.0f} µs a change; at "
            f"1,000 changes/s a turn taking what arrived meanwhile holds about "
            f"{_balance(fixed, slope):,.0f} changes"
        )
    console.print(f"load average after: {load_average()}")
    return 0


def _measure(database: str, size: int, turns: int, warmup: int) -> tuple[float, float, float]:
    """CPU seconds and wall seconds a counted turn, and statements a counted turn."""
    with bench_hub(database) as (hub, _):
        with admin_session(hub.engine) as s:
            access.add_source(s, "crm", ["client"], None, None, {"client"})
        counting = [False]
        statements = [0]

        def count(*_: Any) -> None:
            if counting[0]:
                statements[0] += 1

        event.listen(hub.engine, "before_cursor_execute", count)
        cpu = wall = 0.0
        for turn in range(warmup + turns):
            _accept(hub, "crm", [_change(turn * size + i) for i in range(size)], datetime.now(UTC))
            if turn % 10 == 0:
                hub.bus.handle(RefreshStatistics())
            counting[0] = turn >= warmup
            c0, w0 = time.process_time(), time.perf_counter()
            hub.bus.apply(ApplyPending(max(500, size)))
            hub.bus.handle(AdvanceProjectSetup(max(500, size)))
            if counting[0]:
                cpu += time.process_time() - c0
                wall += time.perf_counter() - w0
            counting[0] = False
        event.remove(hub.engine, "before_cursor_execute", count)
    return cpu / turns, wall / turns, statements[0] / turns


def _line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares: (intercept, slope) of CPU a turn against its size."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - slope * mx, slope


def _balance(fixed: float, slope: float, rate: float = 1000.0) -> float:
    """The turn size where a turn's CPU equals the time its changes took to arrive."""
    return fixed * rate / (1 - slope * rate) if slope * rate < 1 else float("inf")
