"""``concord bench deliver``: webhooks per second to one fast subscriber, delivery alone.

The outbox is filled first (``--events`` golden changes of as many records, written straight
into the table as the apply path would have left them), then ``concord deliver`` starts in its
own process, as in the split topology, and sends them to a receiver on loopback that answers
204 at once (HTTP/1.1 keep-alive, a thread per connection). The figure is the rate from the
first event received to the last, and the time to the first (start-up, leader lock).

With ``--rate``, the worker starts first and the events are committed into the outbox at that
rate, one transaction per 50 ms: the figure is the latency from commit to the subscriber,
delivery's own share of ``concord bench propagate`` (which adds the API and the apply batch).
Printed with the data size, the machine and the load average, never asserted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, insert

from bench.ingest import bench_database, load_average, machine
from bench.propagate import Receiver
from bench.served import backends, cpu_seconds, cpu_used
from hub.config import Settings
from hub.store import access, subscriptions
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.tables import OutboxRow
from hub.store.uow import admin_session


def _event(seq: int, golden_id: str, at: datetime) -> dict[str, Any]:
    key = f"K{seq:08d}"
    attributes = {"name": f"Client {seq} Ltd", "website": f"https://client{seq}.co.uk"}
    return {
        "specversion": "1.0",
        "id": f"evt-{seq}",
        "source": "concord",
        "type": "concord.client.created",
        "time": at.isoformat(),
        "subject": golden_id,
        "data": {
            "id": golden_id,
            "domain": "client",
            "version": 1,
            "attributes": attributes | {"country": "GB"},
            "changed_fields": ["country", "name", "website"],
            "provenance": {f: {"source": "crm", "rule": "source_priority"} for f in attributes},
            "xref": [{"source": "crm", "key": key}],
        },
    }


def _subscribe(url: str, receiver_url: str) -> None:
    engine = make_engine(url)
    try:
        with admin_session(engine) as s:
            access.add_source(s, "crm", ["client"], None, None, {"client"})
            subscriptions.create_subscription(
                s,
                name="bench",
                kind="webhook",
                url=receiver_url,
                domains=["client"],
                known_domains={"client"},
                start="beginning",
            )
    finally:
        engine.dispose()


def _insert(engine: Engine, first: int, count: int) -> float:
    """Outbox rows ``first``.. as the apply path leaves them (this is the only writer, so
    numbering them here keeps commit order); the time they were committed."""
    at = datetime.now(UTC)
    rows = []
    for seq in range(first, first + count):
        gid = str(uuid.uuid4())
        rows.append(
            {
                "seq": seq,
                "event_id": f"evt-{seq}",
                "domain": "client",
                "golden_id": gid,
                "version": 1,
                "type": "concord.client.created",
                "payload": _event(seq, gid, at),
                "created_at": at,
            }
        )
    with admin_session(engine) as s:
        for k in range(0, len(rows), 5000):
            s.execute(insert(OutboxRow), rows[k : k + 5000])
    return time.time()


def _trickle(engine: Engine, events: int, rate: int, tick: float = 0.05) -> dict[str, float]:
    """``rate`` events a second in one transaction per tick; each key's commit time."""
    committed: dict[str, float] = {}
    per_tick = max(1, round(rate * tick))
    begin, seq = time.monotonic(), 1
    for k in range(-(-events // per_tick)):
        pause = begin + k * tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        count = min(per_tick, events - seq + 1)
        done = _insert(engine, seq, count)
        committed |= {f"K{n:08d}": done for n in range(seq, seq + count)}
        seq += count
    return committed


def run_deliver(events: int, database: str, console: Console, rate: int = 0) -> int:
    """``rate`` 0: the whole outbox first, then the worker (throughput); else the worker
    first, then ``rate`` events a second committed into the outbox (latency)."""
    console.print(f"machine: {machine()}; load average {load_average()}")
    receiver = Receiver()
    http = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{http.server_address[1]}/hook"
    committed: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="concord-bench-") as tmp,
        bench_database(database, Path(tmp)) as url,
    ):
        upgrade(url)
        _subscribe(url, hook)
        engine = make_engine(url)
        if not rate:
            _insert(engine, 1, events)
        env = {**os.environ, "CONCORD_DATABASE_URL": url, "CONCORD_WEBHOOK_ALLOW_PRIVATE": "1"}
        started = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "deliver"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if rate:
                time.sleep(3.0)  # started, leading, idle
            pids = [proc.pid, *(backends(url, proc.pid) if rate else [])]
            cpu_before = cpu_seconds(pids)
            if rate:
                committed = _trickle(engine, events, rate)
            complete = _wait(receiver, events, proc)
            used = cpu_used(cpu_before, cpu_seconds(pids))
        finally:
            proc.terminate()
            proc.wait(15)
            http.shutdown()
            engine.dispose()
    _report(receiver, events, started, database, complete, console)
    if committed:
        _latency(receiver, committed, rate, console)
    mine = used.pop(proc.pid, 0.0)
    per = mine / events * 1e6
    console.print(f"  the delivery process used {mine:.1f} CPU seconds: {per:,.0f} µs an event")
    if used:
        server = sum(used.values())
        console.print(
            f"  its {len(used)} PostgreSQL backends (open when the timing began) used "
            f"{server:.1f} CPU seconds: {server / events * 1e6:,.0f} µs an event"
        )
    console.print(f"load average after: {load_average()}")
    return 0 if complete else 1


def _latency(receiver: Receiver, committed: dict[str, float], rate: int, console: Console) -> None:
    with receiver.lock:
        ms = [
            (receiver.arrived[k] - t) * 1000 for k, t in committed.items() if k in receiver.arrived
        ]
    q = statistics.quantiles(ms, n=100) if len(ms) >= 2 else [float("nan")] * 99
    console.print(
        f"{rate:,} events/s committed into the outbox: committed -> webhook received "
        f"p50={q[49]:.0f} ms p99={q[98]:.0f} ms max={max(ms, default=float('nan')):.0f} ms"
    )


def _wait(receiver: Receiver, events: int, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + max(120.0, events / 100)
    while time.monotonic() < deadline and proc.poll() is None:
        with receiver.lock:
            if len(receiver.arrived) >= events:
                return True
        time.sleep(0.05)
    return False


def _report(
    receiver: Receiver,
    events: int,
    started: float,
    database: str,
    complete: bool,
    console: Console,
) -> None:
    with receiver.lock:
        times = sorted(receiver.arrived.values())
    settings = Settings()
    console.print(
        f"deliver ({database}, `concord deliver` in its own process, one webhook subscriber on "
        f"loopback answering 204; window {settings.webhook_concurrency}, batch "
        f"{settings.delivery_batch}): {events:,} events in the outbox"
    )
    if len(times) >= 2:
        rate = (len(times) - 1) / max(times[-1] - times[0], 1e-9)
        console.print(
            f"delivered {len(times):,}/{events:,}: {rate:,.0f} webhooks/s from the first to the "
            f"last; first after {times[0] - started:.1f} s (process start and leader lock)"
        )
    if not complete:
        console.print("[red]not every event arrived within the timeout[/red]")
