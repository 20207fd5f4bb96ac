"""``concord bench deliver``: webhooks per second to one fast subscriber, delivery alone.

The outbox is filled first (``--events`` golden changes of as many records, written straight
into the table as the apply path would have left them), then ``concord deliver`` starts in its
own process, as in the split topology, and sends them to a receiver on loopback that answers
204 at once (HTTP/1.1 keep-alive, a thread per connection). The figure is the rate from the
first event received to the last, and the time to the first (start-up, leader lock). Printed
with the data size, the machine and the load average, never asserted.
"""

from __future__ import annotations

import os
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

from bench.ingest import bench_database, load_average, machine
from bench.propagate import Receiver
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


def fill_outbox(url: str, events: int, receiver_url: str) -> None:
    engine = make_engine(url)
    at = datetime.now(UTC)
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
        rows = []
        for seq in range(1, events + 1):
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
                s.execute(OutboxRow.__table__.insert(), rows[k : k + 5000])
    finally:
        engine.dispose()


def run_deliver(events: int, database: str, console: Console) -> int:
    console.print(f"machine: {machine()}; load average {load_average()}")
    receiver = Receiver()
    http = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{http.server_address[1]}/hook"
    with (
        tempfile.TemporaryDirectory(prefix="concord-bench-") as tmp,
        bench_database(database, Path(tmp)) as url,
    ):
        upgrade(url)
        fill_outbox(url, events, hook)
        env = {**os.environ, "CONCORD_DATABASE_URL": url, "CONCORD_WEBHOOK_ALLOW_PRIVATE": "1"}
        started = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "deliver"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            complete = _wait(receiver, events, proc)
        finally:
            proc.terminate()
            proc.wait(15)
            http.shutdown()
    return _report(receiver, events, started, database, complete, console)


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
) -> int:
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
    console.print(f"load average after: {load_average()}")
    return 0 if complete else 1
