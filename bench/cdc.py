"""``concord bench cdc``: the PostgreSQL connector's changes per second, source to golden.

A throwaway source cluster (``initdb``, wal_level=logical) holds a table of clients. Two phases
are timed, each in two steps: into the inbox (the connector: snapshot or slot read, mapping,
``AcceptChanges``, slot advance) and applied (the hub's worker path, ``bus.drain``):

- snapshot: N rows already in the table when the slot is created;
- stream: N more changes made after it, half updates of known clients (the common CDC case,
  an xref hit) and half new clients, in source transactions of 100 rows.

Figures are printed with the sizes and the machine, never asserted.
"""

from __future__ import annotations

import time
import uuid

import psycopg
import typer
from rich.console import Console

from bench.ingest import bench_hub, load_average, machine
from connectors.inbound.mappings import parse_mappings
from connectors.inbound.pg_logical import PostgresConnector
from hub.store import access
from hub.store.cdc_slots import SlotStore
from hub.store.uow import admin_session
from tests.support.pg_cluster import ClusterUnavailable, ThrowawayCluster

MAPPING = {
    "source": "psa",
    "tables": {
        "public.clients": {
            "domain": "client",
            "key": "id",
            "columns": {
                "name": {"field": "name", "transform": ["trim"]},
                "website": {"field": "website", "transform": ["trim", "lower"]},
                "country": {"field": "country", "transform": ["upper"]},
            },
        }
    },
}


def _source_rows(url: str, first: int, last: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO clients SELECT g, initcap(substr(md5(g::text), 1, 9)) || ' ' || "
            "(ARRAY['Partners', 'Holdings', 'Consulting', 'Group'])[1 + g %% 4], "
            "'https://' || substr(md5(g::text), 1, 12) || '.example', 'gb' "
            "FROM generate_series(%s::bigint, %s::bigint) g",
            (first, last),
        )


def _source_changes(url: str, n: int, tx_rows: int = 100) -> None:
    """N changes after the slot exists: updates of the first N/2 clients, then N/2 new ones."""
    half = n // 2
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(1, half + 1, tx_rows):
            end = min(start + tx_rows - 1, half)
            conn.execute(
                "UPDATE clients SET country = 'ie' WHERE id BETWEEN %s AND %s",
                (start, end),
            )
    base = 10_000_000
    for start in range(base, base + n - half, tx_rows):
        _source_rows(url, start, min(start + tx_rows - 1, base + n - half - 1))


def _one(kind: str, cluster: ThrowawayCluster, n: int, batch: int, console: Console) -> None:
    name = f"concord_cdc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _measure(kind, cluster.url(name), n, batch, console)
    finally:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE database = %s",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _measure(kind: str, source: str, n: int, batch: int, console: Console) -> None:
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE clients (id bigint PRIMARY KEY, name text, website text, country text)"
        )
        conn.execute("CREATE PUBLICATION concord FOR TABLE clients")
    _source_rows(source, 1, n)
    with bench_hub(kind) as (hub, _):
        with admin_session(hub.engine) as s:
            access.add_source(s, "psa", ["client"], "psa", 0, set(hub.config.domains))
        mappings = parse_mappings(MAPPING, hub.config)
        connector = PostgresConnector(
            source, "concord_bench", "concord", mappings, hub.bus.accept,
            SlotStore(hub.engine), batch=batch,
        )  # fmt: skip
        t0 = time.perf_counter()
        snap = connector.run(once=True)
        t1 = time.perf_counter()
        applied = hub.bus.drain(batch)
        t2 = time.perf_counter()
        _report(console, kind, "snapshot", snap.snapshot_rows, t1 - t0, applied.applied, t2 - t1)
        _source_changes(source, n)
        t0 = time.perf_counter()
        streamed = connector.run(once=True)
        t1 = time.perf_counter()
        applied = hub.bus.drain(batch)
        t2 = time.perf_counter()
        _report(console, kind, "stream", streamed.streamed, t1 - t0, applied.applied, t2 - t1)


def _report(
    console: Console, kind: str, phase: str, read: int, t_read: float, applied: int, t_apply: float
) -> None:
    console.print(
        f"{kind:8} {phase:8} {read:7d} changes: into inbox {read / t_read:8.0f}/s "
        f"({t_read:.2f} s), applied {applied / t_apply if t_apply else 0:8.0f}/s "
        f"({t_apply:.2f} s), source to golden {read / (t_read + t_apply):8.0f}/s"
    )


def run_cdc_bench(n: int, database: str, batch: int, console: Console) -> int:
    kinds = ["sqlite", "postgres"] if database == "both" else [database]
    if any(k not in ("sqlite", "postgres") for k in kinds):
        console.print("--database must be sqlite, postgres or both")
        return 2
    console.print(f"concord bench cdc (PostgreSQL logical decoding): {machine()}")
    console.print(f"load average: {load_average()}")
    console.print(
        f"source: throwaway PostgreSQL cluster; {n} rows snapshot, then {n} changes "
        f"({n // 2} updates, {n - n // 2} inserts, 100 per source transaction); batch {batch}"
    )
    try:
        with ThrowawayCluster() as cluster:
            for kind in kinds:
                _one(kind, cluster, n, batch, console)
                console.print(f"  load average after {kind}: {load_average()}")
    except ClusterUnavailable as exc:
        console.print(f"cannot start a source cluster: {exc}")
        return 2
    return 0


def bench_cdc(n: int, database: str, batch: int) -> None:
    """PostgreSQL connector: changes/s from a source table into the inbox and applied."""
    raise typer.Exit(run_cdc_bench(n, database, batch, Console(soft_wrap=True)))
