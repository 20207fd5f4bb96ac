"""``concord bench propagate``: change accepted → webhook 2xx, on loopback, at a steady rate.

The hub runs as in production (``concord serve``: API, apply worker and delivery worker in
its own process). This process posts new client records at ``--rate`` changes a second for
``--seconds`` (batches every 50 ms) and runs the webhook receiver, a real HTTP server on
127.0.0.1 that answers 200 and notes when each event arrived. One change makes one new golden
record, hence one ``created`` event whose xref names the change's key, so each event is
matched to the moment its change was accepted (the 202). Printed: latency p50, p99 and max,
events/s delivered, and the machine; never asserted (issue 5's goal is p99 ≤ 250 ms).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from hub.bench import bench_database, machine
from hub.serving import free_port
from hub.store import access, deliveries
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.uow import admin_session

TICK = 0.05  # seconds between batches


class Receiver:
    """Answers 200 and keeps, per source key, when its event arrived and when it was applied
    (wall clock: the event's ``time`` is the hub's, in the same machine's clock)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.applied: dict[str, float] = {}  # the event's time: when the worker applied it
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                now = time.time()
                event = json.loads(body)
                applied = datetime.fromisoformat(event["time"]).timestamp()
                with receiver.lock:
                    for x in event["data"].get("xref") or []:
                        receiver.arrived.setdefault(x["key"], now)
                        receiver.applied.setdefault(x["key"], applied)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _changes(keys: list[str]) -> list[dict[str, object]]:
    return [
        {
            "domain": "client",
            "key": k,
            "attributes": {"name": f"Firm {k} Holdings", "website": f"https://{k.lower()}.example"},
        }
        for k in keys
    ]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_propagate_bench(rate: int, seconds: float, database: str, console: Console) -> int:
    console.print(f"concord bench propagate: {rate} changes/s for {seconds:.0f} s on {database}")
    console.print(f"machine: {machine()}")
    per_tick = max(1, round(rate * TICK))
    ticks = int(seconds / TICK)
    receiver = Receiver()
    with (
        tempfile.TemporaryDirectory(prefix="concord-bench-propagate-") as tmp,
        bench_database(database, Path(tmp)) as url,
    ):
        upgrade(url)
        engine = make_engine(url)
        with admin_session(engine) as s:
            key = access.add_source(s, "crm", ["client"], None, None, {"client"})
            deliveries.create_subscription(
                s,
                name="bench",
                kind="webhook",
                url=receiver.url,
                domains=["client"],
                known_domains={"client"},
            )
        engine.dispose()
        port = free_port()
        env = {**os.environ, "CONCORD_DATABASE_URL": url, "CONCORD_WORKER_IDLE_SECONDS": "0.05"}
        server = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        accepted_at: dict[str, float] = {}
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    console.print("[red]the server did not start[/red]")
                    return 1
                time.sleep(0.1)
            auth = {"Authorization": f"Bearer {key}"}
            late = 0
            lock = threading.Lock()
            with (
                httpx.Client(base_url=base, timeout=60, headers=auth) as client,
                ThreadPoolExecutor(8) as pool,
            ):

                def post(keys: list[str]) -> None:
                    r = client.post("/api/v1/changes", json={"changes": _changes(keys)})
                    r.raise_for_status()
                    now = time.time()
                    with lock:
                        accepted_at.update(dict.fromkeys(keys, now))

                start = time.perf_counter()
                futures = []
                for t in range(ticks):  # on schedule, whether or not earlier posts returned
                    futures.append(
                        pool.submit(post, [f"C-{t:05d}-{i:03d}" for i in range(per_tick)])
                    )
                    pause = start + (t + 1) * TICK - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    else:
                        late += 1
                for f in futures:
                    f.result()
                posted = time.perf_counter() - start
            wait_until = time.monotonic() + 120
            while len(receiver.arrived) < len(accepted_at) and time.monotonic() < wait_until:
                time.sleep(0.05)
        finally:
            server.terminate()
            server.wait(30)
            receiver.close()
    got = {k: receiver.arrived[k] - a for k, a in accepted_at.items() if k in receiver.arrived}
    if not got:
        console.print("[red]no event arrived[/red]")
        return 1
    latencies = [v * 1000 for v in got.values()]
    apply_ms = [(receiver.applied[k] - accepted_at[k]) * 1000 for k in got]
    deliver_ms = [(receiver.arrived[k] - receiver.applied[k]) * 1000 for k in got]
    arrivals = sorted(receiver.arrived[k] for k in got)
    span = arrivals[-1] - arrivals[0] or 1e-9
    console.print(
        f"posted {len(accepted_at):,} changes in {posted:.1f} s "
        f"({len(accepted_at) / posted:,.0f}/s; the poster fell behind on {late} of {ticks} ticks)"
    )
    console.print(
        f"accepted → webhook 2xx: p50 {statistics.median(latencies):,.0f} ms, "
        f"p99 {_percentile(latencies, 0.99):,.0f} ms, max {max(latencies):,.0f} ms "
        f"({len(got):,} of {len(accepted_at):,} events delivered)"
    )
    console.print(
        f"  of which accepted → applied p50 {statistics.median(apply_ms):,.0f} ms, "
        f"p99 {_percentile(apply_ms, 0.99):,.0f} ms; applied → 2xx p50 "
        f"{statistics.median(deliver_ms):,.0f} ms, p99 {_percentile(deliver_ms, 0.99):,.0f} ms"
    )
    console.print(f"delivered: {len(got) / span:,.0f} events/s")
    return 0 if len(got) == len(accepted_at) else 1


def bench_propagate(
    rate: Annotated[int, typer.Option(help="Changes a second to post.")] = 1000,
    seconds: Annotated[float, typer.Option(help="How long to post.")] = 10,
    database: Annotated[str, typer.Option(help="sqlite or postgres.")] = "sqlite",
) -> None:
    """Change accepted → webhook 2xx latency (p50/p99) at a steady rate, and events/s."""
    sys.exit(run_propagate_bench(rate, seconds, database, Console(soft_wrap=True)))
