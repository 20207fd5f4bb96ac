"""What the benchmarks measure of a running hub: its processes' CPU, its database's
server processes, and what it says of its own work on ``/metrics``. Linux's ``/proc``, on
this machine: elsewhere the CPU figures are left out, not made up."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import make_url

_LOCAL = ("127.0.0.1", "localhost", "::1")


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User and system CPU each process has used so far (Linux; empty elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_used(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """CPU seconds between two readings, of the processes seen in both (one gone meanwhile,
    or never seen here, is left out, not counted negative)."""
    return {p: after[p] - before[p] for p in before.keys() & after.keys()}


def backends(url: str, of_process: int | None = None) -> list[int]:
    """The PostgreSQL server processes of the hub's database (of one hub process alone,
    named by its ``application_name``, when ``of_process`` is given); none when the server
    is not on this machine, whose ``/proc`` would not hold them."""
    if not url.startswith("postgresql") or make_url(url).host not in (None, "", *_LOCAL):
        return []
    query = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    args: tuple[str, ...] = ()
    if of_process is not None:
        query, args = query + " AND application_name LIKE %s", (f"concord[{of_process}]%",)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [int(r[0]) for r in conn.execute(query, args).fetchall()]


def served_batches(base: str) -> tuple[float, float]:
    """Apply batches a serving hub has counted so far, and the seconds they took (its
    ``/metrics``; zero where its appliers run apart and report nowhere)."""
    found = {"count": 0.0, "sum": 0.0}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        for part in found:
            if name == f"concord_apply_batch_seconds_{part}":
                found[part] = float(value)
    return found["count"], found["sum"]


def batches_since(before: tuple[float, float], base: str) -> tuple[float, float]:
    """The batches, and their seconds, counted since ``before``."""
    count, seconds = served_batches(base)
    return count - before[0], seconds - before[1]
