"""``concord bench kafka``: Debezium events through Kafka into golden records, changes/s with
one and with two ``concord worker`` processes.

The events (a PostgreSQL Debezium connector's envelopes, JSON without the schema wrapper: 60%
new clients, 40% updates of earlier ones) are produced to a topic first; then N workers, real
``concord worker`` processes in one consumer group, start on a fresh PostgreSQL database and
the clock runs from the first change in the inbox to the last one applied. So the figure is
the workers' rate (consume, decode, inbox, match, survive, outbox), not the producer's.

The broker is ``CONCORD_KAFKA_BOOTSTRAP`` when set, else a local Tansu from the test extra
(memory storage, one record per producer batch: its end-offset bug). Figures are printed with
the machine, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from sqlalchemy import Engine, func, select

from bench.ingest import INDUSTRIES, bench_database, load_average, machine
from hub.store import access
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.tables import InboxRow
from hub.store.uow import admin_session
from tests.support import tansu

MAPPING = """\
source: bench-erp
tables:
  public.customers:
    domain: client
    key: [id]
    columns:
      name: {field: name, transform: [trim]}
      website: {field: website, transform: [trim, lower]}
      phone: phone
      industry: industry
"""
PARTITIONS = 4


def build_events(n: int, seed: int = 6) -> list[tuple[bytes, bytes]]:
    """N Debezium envelopes (key, value) in LSN order: about 60% creates, 40% updates."""
    rng = random.Random(seed)
    events: list[tuple[bytes, bytes]] = []
    known = 0
    for i in range(n):
        if i < 1000 or not known or (known < n * 0.6 and rng.random() < 0.6):
            k, op, known = known, "c", known + 1
            row: dict[str, object] = {
                "id": k,
                "name": f"Client {k} Holdings",
                "website": f"https://client{k}.co.uk",
            }
        else:
            k, op = rng.randrange(known), "u"
            row = {
                "id": k,
                "name": f"Client {k} Holdings",
                "website": f"https://client{k}.co.uk",
                "phone": f"+44 20 7{k // 10000:03d} {k % 10000:04d}",
                "industry": rng.choice(INDUSTRIES),
            }
        lsn = 1_000_000 + i * 8
        value = {
            "before": None,
            "after": row,
            "op": op,
            "source": {"lsn": lsn, "txId": 500 + i, "schema": "public", "table": "customers"},
            "ts_ms": 1_760_000_000_000 + i,
        }
        events.append((json.dumps({"id": k}).encode(), json.dumps(value).encode()))
    return events


async def _produce(
    bootstrap: str, topic: str, events: list[tuple[bytes, bytes]], one: bool
) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_batch_size=1 if one else 256 * 1024
    )
    await producer.start()
    try:
        pending = [await producer.send(topic, value, key=key) for key, value in events]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


@contextmanager
def broker(console: Console) -> Iterator[tuple[str, tansu.Tansu | None]]:
    bootstrap = os.environ.get("CONCORD_KAFKA_BOOTSTRAP")
    if bootstrap:
        console.print(f"broker: {bootstrap} (CONCORD_KAFKA_BOOTSTRAP)")
        yield bootstrap, None
        return
    local = tansu.start()
    console.print(f"broker: Tansu (memory storage) on {local.bootstrap}, one record per batch")
    try:
        yield local.bootstrap, local
    finally:
        local.stop()


def _settled(engine: Engine) -> tuple[int, int]:
    with admin_session(engine) as s:
        total = s.scalar(select(func.count()).select_from(InboxRow)) or 0
        done = (
            s.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.status != "pending"))
            or 0
        )
    return int(total), int(done)


def _run(
    bootstrap: str,
    topic: str,
    workers: int,
    n: int,
    workdir: Path,
    local: bool,
    console: Console,
) -> float | None:
    with bench_database("postgres", workdir) as url:
        upgrade(url)
        engine = make_engine(url)
        with admin_session(engine) as s:
            access.add_source(s, "bench-erp", ["client"], None, None, {"client"})
        mapping = workdir / "bench-erp.yaml"
        mapping.write_text(MAPPING, encoding="utf-8")
        env = {
            **os.environ,
            "CONCORD_DATABASE_URL": url,
            "CONCORD_KAFKA_BOOTSTRAP": bootstrap,
            "CONCORD_KAFKA_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
            "CONCORD_KAFKA_CHANGES_TOPIC": f"{topic}.unused",
            "CONCORD_KAFKA_DEBEZIUM_TOPICS": topic,
            "CONCORD_KAFKA_DEBEZIUM_MAPPINGS": str(mapping),
        }
        if local:  # Tansu: one record per batch, short group timers (real Kafka refuses them)
            env |= {
                "CONCORD_KAFKA_MAX_BATCH_BYTES": "1",
                "CONCORD_KAFKA_SESSION_TIMEOUT_SECONDS": "1",
                "CONCORD_KAFKA_HEARTBEAT_SECONDS": "0.3",
                "CONCORD_KAFKA_REBALANCE_TIMEOUT_SECONDS": "1",
            }
        procs = []
        logs = []
        started = time.perf_counter()
        for i in range(workers):
            log = (workdir / f"worker-{workers}-{i}.log").open("wb")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "hub.cli", "worker", "--no-relay", "--no-deliver"],
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
        first: float | None = None
        last_progress = time.perf_counter()
        seen = 0
        try:
            while True:
                total, done = _settled(engine)
                now = time.perf_counter()
                if first is None and total:
                    first = now
                if done > seen:
                    seen, last_progress = done, now
                if done >= n:
                    break
                if any(p.poll() is not None for p in procs):
                    console.print(f"[red]a worker exited; see {workdir}[/red]")
                    return None
                if now - last_progress > 120:
                    console.print(f"[red]no progress for 120 s at {done}/{n}[/red]")
                    return None
                time.sleep(0.05)
            end = time.perf_counter()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
            for log in logs:
                log.close()
            engine.dispose()
        assert first is not None
        rate = n / (end - first)
        console.print(
            f"{workers} worker(s): {n:,} changes applied in {end - first:.1f} s "
            f"(first in inbox {first - started:.1f} s after start): {rate:,.0f} changes/s; "
            f"load average {load_average()}"
        )
        return rate


def run_kafka_bench(n: int, workers: list[int], console: Console) -> int:
    """Produce N Debezium events once, then apply them with each number of workers."""
    console.print(f"concord bench kafka: {n:,} Debezium events, workers {workers}")
    console.print(f"machine: {machine()}; load average {load_average()}")
    events = build_events(n)
    with (
        broker(console) as (bootstrap, local),
        tempfile.TemporaryDirectory(prefix="concord-bench-kafka-") as tmp,
    ):
        topic = f"bench-{uuid.uuid4().hex[:8]}.public.customers"
        if local is not None:
            local.create_topic(topic, PARTITIONS)
        else:
            asyncio.run(_create_topic(bootstrap, topic))
        t = time.perf_counter()
        asyncio.run(_produce(bootstrap, topic, events, one=local is not None))
        console.print(
            f"produced to {topic} ({PARTITIONS} partitions) in {time.perf_counter() - t:.1f} s"
        )
        rates = {
            w: _run(bootstrap, topic, w, n, Path(tmp), local is not None, console) for w in workers
        }
    if None in rates.values():
        return 1
    if len(rates) > 1:
        base = rates[min(rates)]
        for w, r in sorted(rates.items()):
            assert r is not None and base is not None
            console.print(f"  {w} worker(s): {r:,.0f} changes/s ({r / base:.2f}x)")
    console.print(f"load average after: {load_average()}")
    return 0


async def _create_topic(bootstrap: str, topic: str) -> None:
    """On a real cluster: the topic with PARTITIONS partitions (auto-creation may give one)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


def bench_kafka(n: int, workers: str) -> None:
    """Debezium events through Kafka into golden records: changes/s per number of workers."""
    counts = [int(w) for w in workers.split(",") if w.strip()]
    sys.exit(run_kafka_bench(n, counts, Console(soft_wrap=True)))
