"""``concord bench ingest``: changes per second end to end, accepted → applied.

The hub runs as it does in production (``concord serve``: API plus embedded worker, in its own
process); this process only posts pre-built batches over HTTP and watches the inbox drain. The
figures are printed with the data size and the machine, never asserted: machines here are
shared and noisy, so compare SQLite and PostgreSQL within one run, as a ratio. ``--timeout``
bounds the whole command: when it passes, the bench stops where it is and exits 1.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from sqlalchemy import func, select

from bench.datasets import INDUSTRIES as INDUSTRIES  # the benches' data, imported from here
from bench.datasets import as_change as as_change
from bench.datasets import build_batches, composition
from hub.bootstrap import Hub, bootstrap
from hub.config import Settings
from hub.runtime.serving import free_port
from hub.store import access
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.tables import InboxRow
from hub.store.uow import admin_session

LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
Payloads = list[tuple[str, bytes]]  # (source, the JSON body of one POST)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until the hub answers /healthz; RuntimeError if it exits or takes longer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        wait = min(2.0, deadline - time.monotonic())  # a probe ends with the time allowed
        try:
            if httpx.get(f"{base}/healthz", timeout=max(wait, 0.001)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"concord serve at {base} did not start")


def concord_process(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """One ``concord`` command in a process of its own, as a deployment runs it; its output
    is dropped (a bench prints its own figures)."""
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``concord serve`` (with ``args``) in its own process on a free port, as production
    runs it: its base URL and process once it answers ``/healthz``; stopped afterwards."""
    port = free_port()
    server = concord_process(env, "serve", "--port", str(port), *args)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server)
        yield base, server
    finally:
        server.terminate()
        server.wait(30)


@contextmanager
def bench_database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    server = os.environ.get("CONCORD_BENCH_DATABASE_URL", LOCAL_PG)
    name = f"concord_bench_{uuid.uuid4().hex[:8]}"
    admin = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def bench_hub(kind: str) -> Iterator[tuple[Hub, Path]]:
    """A migrated hub on a throwaway ``sqlite`` or ``postgres`` database, and a work folder
    beside it; both are gone afterwards, so a benchmark never measures leftovers."""
    with (
        tempfile.TemporaryDirectory(prefix="concord-bench-") as tmp,
        bench_database(kind, Path(tmp)) as url,
    ):
        upgrade(url)
        hub = bootstrap(Settings(database_url=url))
        try:
            yield hub, Path(tmp)
        finally:
            hub.close()


def load_average(brief: bool = False) -> str:
    """The 1, 5 and 15 minute load averages, or ``unknown``: printed beside every figure,
    since a shared machine's load moves them more than most changes do; ``brief`` leaves out
    the legend, for a column of a table."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    figures = f"{one:.2f} {five:.2f} {fifteen:.2f}"
    return figures if brief else f"{figures} (1, 5, 15 min; {os.cpu_count()} cores)"


def _outcomes(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            str(status): int(count)
            for status, count in conn.execute(
                select(InboxRow.status, func.count()).group_by(InboxRow.status)
            )
        }


class TimedOut(Exception):
    """``--timeout`` passed: raised where the bench stands, so each context it leaves on the
    way out stops the processes it started and drops its database as the normal path does,
    and nothing after it runs."""

    def __init__(self, stage: str, so_far: str) -> None:
        super().__init__(f"{stage}: {so_far}")
        self.stage, self.so_far = stage, so_far


class Deadline:
    """``--timeout`` as one deadline for the whole command: a server that never answers, a
    post that hangs or an inbox that never drains would otherwise outlast it unnoticed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.began = time.monotonic()

    def left(self) -> float:
        return self.began + self.seconds - time.monotonic()

    def check(self, stage: str, so_far: Callable[[], str] = lambda: "nothing measured yet") -> None:
        if self.left() <= 0:
            raise TimedOut(stage, so_far())


@contextmanager
def _hub_processes(kind: str, url: str, appliers: int, deadline: Deadline) -> Iterator[str | None]:
    """The hub as deployed on ``url``: ``concord serve``, on PostgreSQL without its worker and
    beside ``appliers`` apply processes. Its base URL once it answers (None if it died);
    every process is stopped afterwards, after a timeout too, so none outlives the bench."""
    split = kind == "postgres"
    port = free_port()
    env = {**os.environ, "CONCORD_DATABASE_URL": url}
    procs = [
        concord_process(env, "serve", "--port", str(port), *(["--no-worker"] if split else []))
    ]
    procs += [concord_process(env, "apply", "--follow") for _ in range(appliers if split else 0)]
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(base, procs[0], min(60.0, deadline.left()))
            ready = True
        except RuntimeError:
            deadline.check(f"{kind} server start", lambda: "the hub did not answer yet")
            ready = False
        yield base if ready else None
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


def _post_all(
    base: str, keys: dict[str, str], payloads: Payloads, clients: int, stage: str, dl: Deadline
) -> tuple[int, float]:
    """Every batch posted by ``clients`` threads: the changes accepted and the seconds taken.
    A request waits at most for what is left of the deadline, not its own two minutes."""
    accepted, lock, began = [0], threading.Lock(), time.perf_counter()

    def so_far() -> str:
        took = time.perf_counter() - began
        return f"{accepted[0]:,} changes accepted in {took:.1f} s"

    def post(item: tuple[str, bytes]) -> None:
        dl.check(stage, so_far)
        source, body = item
        auth = {"Authorization": f"Bearer {keys[source]}", "Content-Type": "application/json"}
        try:
            r = httpx.post(
                f"{base}/api/v1/changes",
                content=body,
                headers=auth,
                timeout=max(0.001, min(120.0, dl.left())),
            )
        except httpx.TimeoutException:
            dl.check(stage, so_far)  # the deadline cut it short, not a slow server
            raise
        r.raise_for_status()
        with lock:
            accepted[0] += int(r.json()["accepted"])

    pool = ThreadPoolExecutor(clients)
    try:
        for _ in pool.map(post, payloads):
            pass
    finally:
        pool.shutdown(cancel_futures=True)
    return accepted[0], time.perf_counter() - began


def _wait_applied(engine: Any, stage: str, accepted: int, deadline: Deadline) -> None:
    """Until nothing is pending: the end of the end-to-end time, dead letters included."""

    def so_far() -> str:
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(_outcomes(engine).items()))
        return f"{accepted:,} changes accepted; inbox: {counts}"

    with engine.connect() as conn:
        while conn.execute(
            select(func.count()).select_from(InboxRow).where(InboxRow.status == "pending")
        ).scalar_one():
            conn.rollback()
            deadline.check(stage, so_far)
            time.sleep(0.05)


def _run_one(
    kind: str, payloads: Payloads, clients: int, console: Console, deadline: Deadline, appliers: int
) -> float | None:
    """Changes/s end to end on a throwaway database, or None if the hub did not start."""
    name = f"{kind} ({appliers} applier{'s' * (appliers > 1)})" if kind == "postgres" else kind
    with (
        tempfile.TemporaryDirectory(prefix="concord-bench-") as tmp,
        bench_database(kind, Path(tmp)) as url,
    ):
        upgrade(url)
        deadline.check(f"{name} setup")
        engine = make_engine(url)
        try:
            with admin_session(engine) as s:
                keys = {
                    src: access.add_source(s, src, ["client"], None, None, {"client"})
                    for src in ("crm", "erp")
                }
            with _hub_processes(kind, url, appliers, deadline) as base:
                if base is None:
                    console.print(f"[red]{kind}: server did not start[/red]")
                    return None
                start = time.perf_counter()
                posting = f"{name} posting"
                accepted, posted = _post_all(base, keys, payloads, clients, posting, deadline)
                _wait_applied(engine, f"{name} drain", accepted, deadline)
                total = time.perf_counter() - start
                outcomes = _outcomes(engine)
        finally:
            engine.dispose()
    return _print_run(kind, appliers, accepted, posted, total, outcomes, console)


def _print_run(
    kind: str,
    appliers: int,
    accepted: int,
    posted: float,
    total: float,
    outcomes: dict[str, int],
    console: Console,
) -> float:
    done = outcomes.get("applied", 0) + outcomes.get("stale", 0)
    rate = done / total
    shape = (
        f"API process + {appliers} apply process{'es' if appliers > 1 else ''}"
        if kind == "postgres"
        else "one process (embedded)"
    )
    console.print(f"{kind} ({shape}):")
    console.print(
        f"{kind:<9} {accepted:>8} changes  accepted in {posted:6.1f} s "
        f"({accepted / posted:>8,.0f}/s)  applied in {total:6.1f} s "
        f"([bold]{rate:>8,.0f} changes/s end to end[/bold], dead letters not counted)"
    )
    console.print(
        f"{'':<9} applied {outcomes.get('applied', 0):,}, stale {outcomes.get('stale', 0):,}, "
        f"dead {outcomes.get('dead', 0):,}; load average {load_average()}"
    )
    return rate


def _header(n: int, payloads: Payloads, batch: int, clients: int, timeout: float) -> str:
    """The shares of this run's data, counted, not the ones the generator aims at."""
    counts = composition(payloads)

    def share(kind: str) -> str:
        return f"{counts[kind] / max(n, 1):.1%}"

    return (
        f"concord bench ingest: {n:,} changes ({share('new')} new CRM clients, {share('erp')} "
        f"ERP copies that link by tax id, {share('misspelt')} misspelt names with no key that "
        f"the matcher scores, {share('update')} updates; 2 sources), batches of {batch}, "
        f"{clients} HTTP clients, {timeout:g} s limit on the whole run"
    )


def run_ingest_bench(
    n: int,
    database: str,
    batch: int,
    clients: int,
    console: Console,
    timeout: float = 900.0,
    appliers: list[int] | None = None,
) -> int:
    deadline = Deadline(timeout)  # from the start: the whole command is in it
    from bench.apply import apply_stage_alone  # it builds on this module

    Settings()  # validate the environment before spending minutes
    kinds = ["sqlite", "postgres"] if database == "both" else [database]
    payloads = build_batches(n, batch)
    console.print(_header(n, payloads, batch, clients, timeout))
    console.print(f"machine: {machine()}; load average {load_average()}")
    runs = [("sqlite", 1)] if "sqlite" in kinds else []
    runs += [("postgres", a) for a in appliers or [1]] if "postgres" in kinds else []
    rates: dict[tuple[str, int], float | None] = {}
    try:
        for k, a in runs:
            rates[(k, a)] = _run_one(k, payloads, clients, console, deadline, a)
        for k in kinds:
            apply_stage_alone(k, n, batch, console, deadline)
    except TimedOut as stop:
        console.print(
            f"[red]error: the time limit of {timeout:g} s passed during {stop.stage}, "
            f"{timeout - deadline.left():.1f} s in; stopped.[/red] So far: {stop.so_far}; "
            f"load average {load_average()}"
        )
        return 1
    console.print(f"load average after: {load_average()}")
    done = {run: r for run, r in rates.items() if r}
    if len(done) > 1:
        first, base = next(iter(done.items()))
        console.print(
            f"ratio to {first[0]} ({first[1]} applier): "
            + ", ".join(f"{k} ({a}): {r / base:.2f}" for (k, a), r in done.items())
        )
    return 0 if all(rates.values()) else 1
