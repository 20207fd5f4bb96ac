"""``concord bench chaos``: a randomized concurrency checker on PostgreSQL (issue 19).

It runs the hub as operations would (``concord serve --no-worker`` and several
``concord apply --follow`` appliers, each its own process), lets many clients send changes and
deletes while stewards merge, split, override and decide candidates on the same records,
SIGKILLs an applier at random moments and starts it again, then stops the load, lets the
inbox drain and checks the invariants of :mod:`bench.chaos_checks`. The seed is printed
first, so a failing run's load can be replayed with ``--seed``.

The test suite runs a short form (``tests/e2e/test_chaos.py``); this command runs the long
one: ``concord bench chaos --minutes 30``.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from bench.chaos_checks import (
    audit_chain,
    feed_replay,
    pending_changes,
    promises_kept,
    stall_report,
    stranded_records,
    version_gaps,
)
from bench.chaos_load import SOURCES, Client, Keys, Ledger, Sequences
from bench.ingest import bench_database, load_average, machine, wait_ready
from hub.runtime.serving import free_port
from hub.store import access
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.uow import admin_session
from tests.support.process import Proc


@dataclass
class ChaosReport:
    seed: int
    seconds: float
    ledger: Ledger
    kills: int
    violations: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def lines(self) -> list[str]:
        done = ", ".join(f"{op} {n}" for op, n in sorted(self.ledger.done.items()))
        refused = ", ".join(f"{op} {n}" for op, n in sorted(self.ledger.refused.items()))
        out = [
            f"seed {self.seed}: {self.seconds:.0f} s of load, {self.kills} applier kills",
            f"  2xx: {done}",
            f"  4xx (refused, expected under races): {refused or 'none'}",
            f"  dropped connections (resent or skipped): {self.ledger.transport_errors}",
            f"  changes acknowledged: {len(self.ledger.event_ids)} "
            f"on {len(self.ledger.changes)} records; merges acknowledged: "
            f"{len(self.ledger.merges)}",
        ]
        for check, found in self.violations.items():
            out.append(f"  {check}: {'ok' if not found else f'{len(found)} VIOLATIONS'}")
            out.extend(f"    {line}" for line in found[:40])
        out.append(f"  verdict: {'0 invariant violations' if self.ok else 'VIOLATED'}")
        return out


def _register(url: str) -> Keys:
    upgrade(url)
    engine = make_engine(url)
    try:
        with admin_session(engine) as s:
            sources = {
                src: access.add_source(s, src, ["client"], None, None, {"client"})
                for src in SOURCES
            }
            steward = access.create_key(s, "chaos-steward", "steward")
    finally:
        engine.dispose()
    return Keys(sources, steward)


@contextmanager
def _hub_processes(
    url: str, workdir: Path, appliers: int
) -> Iterator[tuple[str, Proc, list[Proc]]]:
    env = {
        **os.environ,
        "CONCORD_DATABASE_URL": url,
        "CONCORD_WORKER_BATCH": "50",  # small batches: more transactions to interleave with
        "CONCORD_LOG_LEVEL": "WARNING",
    }
    port = free_port()
    api = Proc(["serve", "--no-worker", "--port", str(port)], env, workdir / "serve.log")
    workers = [
        Proc(["apply", "--follow"], env, workdir / f"apply-{i}.log") for i in range(appliers)
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        api.start()
        assert api.proc is not None
        wait_ready(base, api.proc)
        for w in workers:
            w.start()
        yield base, api, workers
    finally:
        for p in (api, *workers):
            p.stop()


def _drain(engine: Any, workers: list[Proc], stall: float) -> int:
    """Wait for the appliers to apply everything; give up after ``stall`` seconds in which
    nothing was applied (a backlog under load is no failure, a stuck inbox is)."""
    left = pending_changes(engine)
    last_progress = time.monotonic()
    while left and time.monotonic() - last_progress < stall:
        for w in workers:
            if not w.alive():
                w.start()
        time.sleep(0.5)
        now_left = pending_changes(engine)
        if now_left < left:
            last_progress = time.monotonic()
        left = now_left
    return left


def _pids(api: Proc, workers: list[Proc]) -> dict[int, str]:
    named = {"serve": api, **{f"applier {i}": w for i, w in enumerate(workers)}}
    return {p.proc.pid: name for name, p in named.items() if p.proc is not None}


def _killer(rng: random.Random, workers: list[Proc], stop: threading.Event, every: float) -> None:
    """SIGKILL a random applier at random moments and start it again at once."""
    while not stop.wait(rng.uniform(every / 2, every * 1.5)):
        victim = rng.choice(workers)
        victim.kill(must_be_alive=False)
        victim.start()


def run_chaos(
    seconds: float,
    seed: int,
    clients: int = 6,
    appliers: int = 2,
    kill_every: float = 3.0,
    drain_timeout: float = 120.0,
    say: Callable[[str], None] = print,
    rate: float = 10.0,
) -> ChaosReport:
    """The load for ``seconds``, then the checks; the database is dropped afterwards."""
    say(f"chaos seed {seed} (replay the load with --seed {seed})")
    with (
        tempfile.TemporaryDirectory(prefix="concord-chaos-") as tmp,
        bench_database("postgres", Path(tmp)) as url,
    ):
        keys = _register(url)
        ledger = Ledger()
        stop = threading.Event()
        with _hub_processes(url, Path(tmp), appliers) as (base, api, workers):
            sequences = Sequences()
            threads = [
                Client(i, seed, base, keys, ledger, sequences, stop, rate) for i in range(clients)
            ]
            killer = threading.Thread(
                target=_killer,
                args=(random.Random(seed), workers, stop, kill_every),
                daemon=True,
            )
            started = time.monotonic()
            for t in threads:
                t.start()
            killer.start()
            stop.wait(seconds)
            stop.set()
            for t in threads:
                t.join(120)
            killer.join(60)
            elapsed = time.monotonic() - started
            kills = sum(w.kills for w in workers)
            report = ChaosReport(seed, elapsed, ledger, kills)
            report.violations["clients"] = [t.error for t in threads if t.error]
            report.violations["server errors (5xx)"] = list(ledger.server_errors)
            engine = make_engine(url)
            try:
                left = _drain(engine, workers, drain_timeout)
                report.violations["inbox drained"] = (
                    [
                        f"{left} changes still pending, none applied for {drain_timeout:.0f} s",
                        *stall_report(engine, _pids(api, workers)),
                    ]
                    if left
                    else []
                )
                for w in workers:  # the checks read a store nobody writes any more
                    w.stop()
                report.violations["live records on active golden records"] = stranded_records(
                    engine
                )
                report.violations["versions and outbox without gaps or doubles"] = version_gaps(
                    engine
                )
                report.violations["feed replay rebuilds the golden state"] = feed_replay(
                    engine, base, keys.steward
                )
                report.violations["promises kept (every 2xx)"] = promises_kept(engine, ledger)
                report.violations["concord audit verify"] = audit_chain(
                    {**os.environ, "CONCORD_DATABASE_URL": url}
                )
            finally:
                engine.dispose()
            if not report.ok:
                for p in (api, *workers):
                    say(f"--- {p.log.name}\n{p.tail()}")
    return report


def chaos(
    minutes: float,
    seed: int | None,
    clients: int,
    appliers: int,
    kill_every: float,
    rate: float,
) -> None:
    """Ingest, deletes and steward actions at once on PostgreSQL, appliers SIGKILLed, then the
    invariants; exit 1 on any violation. CONCORD_BENCH_DATABASE_URL names the server."""
    seed = seed if seed is not None else random.randrange(1, 1_000_000)
    print(f"machine: {machine()}; load average {load_average()}")
    print(
        f"{clients} clients at {rate:g} operations/s each, {appliers} appliers, "
        f"a kill every ~{kill_every:.0f} s"
    )
    report = run_chaos(minutes * 60, seed, clients, appliers, kill_every, rate=rate)
    print("\n".join(report.lines()))
    print(f"load average after: {load_average()}")
    raise typer.Exit(0 if report.ok else 1)
