"""``concord bench propagate`` and ``concord bench soak``: a change in, a signed webhook out.

The hub runs as in production (``concord serve`` in its own process: API, apply worker and
webhook worker); this process posts new clients at a steady rate and runs the subscriber, a
small HTTP receiver on loopback that answers 204 and notes when each record's event arrived.
Latency is accepted (the 202 of the POST that carried the change) to received (the webhook
request at the subscriber), on one clock. Figures are printed with the data size and the
machine, never asserted.

``soak`` is the same load held for minutes, printing throughput, latency percentiles and the
hub's memory per interval, so a leak or a slow drift shows.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console

from bench.ingest import bench_database, concord_process, load_average, machine, serving
from bench.served import backends, batches_since, cpu_seconds, cpu_used, served_batches
from hub.runtime.serving import free_port
from hub.store import access
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.uow import admin_session

# how the hub runs (``--topology``): the command line, and what the run prints of it
TOPOLOGIES = {
    "serve": "concord serve (on PostgreSQL its applier and delivery run as child processes)",
    "threads": "concord serve --threads: API, applier and delivery in one process",
    "processes": "concord serve --processes: applier and delivery as child processes",
    "split": "concord serve --no-worker, apply --follow and deliver as three processes",
}
_LETTERS = "bcdfghjklmnpqrstvwxz"
_VOWELS = "aeiou"


def _word(n: int, length: int) -> str:
    """A pronounceable made-up word from a number: distinct firms get distinct names, so the
    load is not one big blocking bucket of look-alikes (that is what bench match measures)."""
    out = []
    for k in range(length):
        alphabet = _VOWELS if k % 2 else _LETTERS
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out).title()


@dataclass
class Receiver:
    """The subscriber: notes the arrival time of the first event for each source key."""

    arrived: dict[str, float] = field(default_factory=dict)
    applied: dict[str, float] = field(default_factory=dict)  # the event's time: when applied
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                now = time.time()
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()
                event = orjson.loads(body)
                keys = [x["key"] for x in event.get("data", {}).get("xref", [])]
                applied = datetime.fromisoformat(event["time"]).timestamp()
                with receiver.lock:
                    receiver.requests += 1
                    for key in keys:
                        receiver.arrived.setdefault(key, now)
                        receiver.applied.setdefault(key, applied)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@dataclass
class Harness:
    base: str
    source_key: str
    server: subprocess.Popen[bytes]
    receiver: Receiver
    accepted: dict[str, float] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)  # --topology split
    url: str = ""  # the hub's database: its PostgreSQL backends are counted as one process

    def processes(self) -> dict[int, str]:
        """The hub's processes (the server, its children, the split topology's workers) and
        this one (poster and subscriber), by pid, each named by its command."""
        pid = self.server.pid
        kids = [int(k) for k in _children(pid)]
        found = {p: _command_name(p) for p in [pid, *kids, *(w.pid for w in self.workers)]}
        found |= {p: "postgres" for p in backends(self.url)}
        return {**found, os.getpid(): "bench (poster, subscriber)"}

    def post(self, client: httpx.Client, changes: list[dict[str, Any]]) -> None:
        r = client.post(
            "/api/v1/changes",
            content=orjson.dumps({"changes": changes}),
            headers={
                "Authorization": f"Bearer {self.source_key}",
                "Content-Type": "application/json",
            },
        )
        r.raise_for_status()
        now = time.time()
        for c in changes:
            self.accepted[c["key"]] = now

    def rss_mb(self) -> float:
        """The server's resident memory with its children's (its applier and delivery
        processes, on PostgreSQL)."""
        pid = self.server.pid
        return sum(_rss_mb(p) for p in [str(pid), *_children(pid)])


def _children(pid: int) -> list[str]:
    """Its child processes, started by any of its threads (Linux; empty elsewhere)."""
    found: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += (task / "children").read_text().split()
        except OSError:
            continue
    return found


def _command_name(pid: int) -> str:
    """``serve``, ``apply`` or ``deliver``: the command after ``python -m hub.cli``."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return argv[3].decode() if len(argv) > 3 else "?"


def _rss_mb(pid: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@contextmanager
def _workers(env: dict[str, str], split: bool) -> Iterator[list[subprocess.Popen[bytes]]]:
    """With ``split``, the apply and delivery workers as processes of their own, as a
    scale-out deployment runs them beside ``concord serve --no-worker``."""
    procs = [
        concord_process(env, *args)
        for args in ((["apply", "--follow"], ["deliver"]) if split else ())
    ]
    try:
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


@contextmanager
def harness(database: str, console: Console, topology: str = "serve") -> Iterator[Harness]:
    split = topology == "split"
    flags = {"split": ["--no-worker"], "threads": ["--threads"], "processes": ["--processes"]}
    args = flags.get(topology, [])
    receiver = Receiver()
    http = ThreadingHTTPServer(("127.0.0.1", free_port()), receiver.handler())
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    with (
        tempfile.TemporaryDirectory(prefix="concord-bench-") as tmp,
        bench_database(database, Path(tmp)) as url,
    ):
        upgrade(url)
        engine = make_engine(url)
        with admin_session(engine) as s:
            source_key = access.add_source(s, "crm", ["client"], None, None, {"client"})
            admin_key = access.create_key(s, "bench", "admin")
        engine.dispose()
        env = {
            **os.environ,
            "CONCORD_DATABASE_URL": url,
            "CONCORD_WORKER_IDLE_SECONDS": "0.02",
            "CONCORD_WEBHOOK_ALLOW_PRIVATE": "127.0.0.1/32",  # the receiver is on this machine
        }
        try:
            with (
                serving(env, *args) as (base, server),
                _workers(env, split) as workers,
            ):
                r = httpx.post(
                    f"{base}/api/v1/subscriptions",
                    json={
                        "name": "bench",
                        "kind": "webhook",
                        "url": f"http://127.0.0.1:{http.server_address[1]}/hook",
                        "domains": ["client"],
                    },
                    headers={"Authorization": f"Bearer {admin_key}"},
                    timeout=30,
                )
                r.raise_for_status()
                yield Harness(base, source_key, server, receiver, workers=workers, url=url)
        finally:
            http.shutdown()


def _change(i: int) -> dict[str, Any]:
    mixed = (i * 2_654_435_761) % 4_294_967_291  # spread consecutive numbers apart
    return {
        "domain": "client",
        "key": f"K{i:08d}",
        "sequence": 1,
        "attributes": {
            "name": f"{_word(mixed, 6)} {_word(mixed // 7919, 5)} Ltd",
            "website": f"https://client{i}.co.uk",
            "country": "GB",
        },
    }


def drive(h: Harness, rate: int, seconds: float, start_at: int = 0, tick: float = 0.05) -> int:
    """Post ``rate`` changes a second for ``seconds`` (open loop, one tick's batch at a
    time); returns how many were sent."""
    per_tick = max(1, round(rate * tick))
    sent = start_at
    with httpx.Client(base_url=h.base, timeout=60) as client:
        begin = time.monotonic()
        n_ticks = int(seconds / tick)
        for k in range(n_ticks):
            due = begin + k * tick
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            h.post(client, [_change(i) for i in range(sent, sent + per_tick)])
            sent += per_tick
    return sent - start_at


def wait_delivered(h: Harness, keys: list[str], timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with h.receiver.lock:
            if all(k in h.receiver.arrived for k in keys):
                return True
        time.sleep(0.05)
    return False


def _latencies(h: Harness, keys: list[str], stage: str = "total") -> list[float]:
    """Milliseconds per change: accepted -> received (total), accepted -> applied (apply), or
    applied -> received (deliver). The event's ``time`` is the hub's clock: the same machine."""
    r = h.receiver
    start = {"total": h.accepted, "apply": h.accepted, "deliver": r.applied}[stage]
    end = r.applied if stage == "apply" else r.arrived
    with r.lock:
        return [(end[k] - start[k]) * 1000 for k in keys if k in r.arrived]


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1]


def run_propagate(
    rate: int, seconds: float, database: str, console: Console, topology: str = "serve"
) -> int:
    console.print(f"machine: {machine()}; load average {load_average()}")
    with harness(database, console, topology) as h:
        drive(h, min(rate, 100), 1.0, start_at=0)  # warm up: imports, first connections
        wait_delivered(h, list(h.accepted))
        warm = len(h.accepted)
        names = h.processes()
        cpu_before, batches = cpu_seconds(names), served_batches(h.base)
        start = time.monotonic()
        sent = drive(h, rate, seconds, start_at=warm)
        posting = time.monotonic() - start
        keys = [f"K{i:08d}" for i in range(warm, warm + sent)]
        complete = wait_delivered(h, keys)
        wall = time.monotonic() - start
        cpu, batches = cpu_seconds(names), batches_since(batches, h.base)
        lat = _latencies(h, keys)
    totals: dict[str, float] = {}
    used = cpu_used(cpu_before, cpu)
    for p, name in names.items():  # in the order of the processes, summed by name
        if p in used:
            totals[name] = totals.get(name, 0.0) + used[p]
    console.print(
        f"propagate ({database}, {TOPOLOGIES[topology]}, webhook "
        "subscriber on loopback): "
        f"{sent:,} new clients offered at {rate:,}/s for {seconds:g} s "
        f"(accepted in {posting:.1f} s: {sent / posting:,.0f}/s)"
    )
    console.print(
        f"accepted -> webhook received: p50={_pct(lat, 50):.0f} ms p99={_pct(lat, 99):.0f} ms "
        f"max={max(lat, default=float('nan')):.0f} ms; delivered {len(lat):,}/{sent:,} "
        f"({len(lat) / wall:,.0f} events/s over {wall:.1f} s)"
    )
    for stage, label in (("apply", "accepted -> applied"), ("deliver", "applied -> received")):
        part = _latencies(h, keys, stage)
        console.print(f"  {label}: p50={_pct(part, 50):.0f} ms p99={_pct(part, 99):.0f} ms")
    shares = ", ".join(f"{name} {seconds:.1f}" for name, seconds in totals.items())
    console.print(f"  CPU seconds over those {wall:.1f} s: {shares}")
    if batches[0]:
        each = f"{sent / batches[0]:,.0f} changes and {batches[1] / batches[0] * 1e3:,.0f} ms"
        console.print(f"  apply batches: {batches[0]:,.0f}, {each} each on average")
    console.print(f"load average after: {load_average()}")
    if not complete:
        console.print("[red]not every event arrived within the timeout[/red]")
        return 1
    return 0


def run_soak(minutes: float, rate: int, database: str, every: float, console: Console) -> int:
    console.print(f"machine: {machine()}; load average {load_average()}")
    console.print(
        f"soak ({database}, {TOPOLOGIES['serve']}): {rate:,} new clients/s for "
        f"{minutes:g} min, a line every {every:g} s"
    )
    console.print(
        "  t(s)   sent/s  delivered/s   p50 ms   p99 ms   lag  hub RSS MB  load (1, 5, 15 min)"
    )
    with harness(database, console) as h:
        sent = 0
        start = time.monotonic()
        delivered_before = 0
        while time.monotonic() - start < minutes * 60:
            first = sent
            t0 = time.monotonic()
            sent += drive(h, rate, every, start_at=sent)
            span = time.monotonic() - t0
            keys = [f"K{i:08d}" for i in range(first, sent)]
            lat = _latencies(h, keys)
            with h.receiver.lock:
                delivered = len(h.receiver.arrived)
            console.print(
                f"{time.monotonic() - start:6.0f} {(sent - first) / span:8,.0f} "
                f"{(delivered - delivered_before) / span:12,.0f} {_pct(lat, 50):8.0f} "
                f"{_pct(lat, 99):8.0f} {sent - delivered:5d} {h.rss_mb():11.0f}  "
                f"{load_average(brief=True)}"
            )
            delivered_before = delivered
        complete = wait_delivered(h, [f"K{i:08d}" for i in range(sent)])
        lat = _latencies(h, [f"K{i:08d}" for i in range(sent)])
    console.print(
        f"total: {sent:,} sent, {len(lat):,} delivered; latency p50={_pct(lat, 50):.0f} ms "
        f"p99={_pct(lat, 99):.0f} ms"
    )
    console.print(f"load average after: {load_average()}")
    return 0 if complete else 1
