"""``concord bench ingest``: changes per second end to end, accepted → applied.

The hub runs as it does in production (``concord serve``: API plus embedded worker, in its own
process); this process only posts pre-built batches over HTTP and watches the inbox drain. The
figures are printed with the data size and the machine, never asserted: machines here are
shared and noisy, so compare SQLite and PostgreSQL within one run, as a ratio.
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from sqlalchemy import func, select

from hub.bootstrap import Hub, bootstrap
from hub.config import Settings
from hub.domain.model import Change, derive_event_id
from hub.runtime.serving import free_port
from hub.store import access
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.tables import InboxRow
from hub.store.uow import admin_session

INDUSTRIES = ("consulting", "engineering", "legal", "advisory", "software", "energy")
LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


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
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"concord serve at {base} did not start")


SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zu", "bi", "da", "fe", "go", "hu")
KINDS = ("Holdings", "Partners", "Consulting", "Engineering", "Advisory", "Labs")
CITIES = ("London", "Leeds", "Bristol", "York", "Bath", "Derby", "Hull", "Perth")


def company(k: int) -> str:
    """A distinct name per client, its first word its own (``Lomika Partners``), so blocking
    on the first token finds a record's look-alikes, not a sixteenth of the hub."""
    word, n = "", k
    while True:
        n, d = divmod(n, len(SYLLABLES))
        word += SYLLABLES[d]
        if not n:
            break
    return f"{word.capitalize()} {KINDS[k % len(KINDS)]}"


def _letters(n: int) -> str:
    return chr(65 + n % 26) + chr(65 + n // 26 % 26)


def client_attributes(k: int, rng: random.Random, typo: bool = False) -> dict[str, object]:
    """The fields the client blocking and comparisons read (name, city, postcode, country,
    phone, website); a typo drops a letter of the name, as a person keying it in would."""
    name = company(k)
    if typo:
        i = rng.randrange(1, len(name) - 1)
        name = name[:i] + name[i + 1 :]
    return {
        "name": name,
        "city": CITIES[k % len(CITIES)],
        "postcode": f"AB{k % 97 + 1} {k // 97 % 10}{_letters(k // 970)}",
        "country": "GB",
        "phone": f"+44 20 7{k // 10000 % 1000:03d} {k % 10000:04d}",
        "website": f"https://client{k}.co.uk",
    }


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


def build_batches(n: int, batch: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """N client changes: about 60% new records, 40% updates of records sent earlier.

    Two sources, as a real CDC stream mixes them: CRM creates clients; ERP sends a third of
    them again with the same tax id and country (a deterministic link) and its own fields;
    about 10% of all changes are new CRM records that carry no key and a slightly misspelt
    name of an existing client, in its city and postcode, so the matcher blocks, scores and
    links (or asks a steward) as it does for an acquired firm's data. Updates change fields
    no rule reads much (industry, phone extension).
    """
    rng = random.Random(seed)
    changes: list[tuple[str, dict[str, object]]] = []
    seq = {"crm": 0, "erp": 0}
    known: list[tuple[str, str, dict[str, object]]] = []  # source, key, the record's image
    for i in range(n):
        roll = rng.random()
        k = len(known)
        if i < 1000 or not known or roll < 0.5:  # a new client of CRM, or ERP's copy of one
            if k % 3 == 2:
                source, key = "erp", f"ERP-{k:07d}"
                attrs = {**client_attributes(k - 1, rng), "tax_id": f"GB{k - 1:09d}",
                         "legal_name": company(k - 1).upper() + " LTD"}  # fmt: skip
            else:
                source, key = "crm", f"CRM-{k:07d}"
                attrs = {**client_attributes(k, rng), "tax_id": f"GB{k:09d}"}
            known.append((source, key, attrs))
        elif roll < 0.6:  # no key, a misspelt name: the matcher must score it
            source, key = "crm", f"CRM-{k:07d}"
            like = rng.randrange(k)
            like -= like % 3 == 2  # an ERP index copies the CRM client before it
            attrs = client_attributes(like, rng, typo=True)
            known.append((source, key, attrs))
        else:
            source, key, image = rng.choice(known)
            attrs = {**image, "industry": rng.choice(INDUSTRIES)}
        seq[source] += 1
        changes.append(
            (source, {"domain": "client", "key": key, "sequence": seq[source], "attributes": attrs})
        )
    out: list[tuple[str, bytes]] = []
    for source in ("crm", "erp"):
        mine = [c for s, c in changes if s == source]
        for i in range(0, len(mine), batch):
            out.append((source, json.dumps({"changes": mine[i : i + batch]}).encode()))
    out.sort(key=lambda b: rng.random())  # interleave the two sources' batches
    return out


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


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or ``unknown``: printed beside every figure,
    since a shared machine's load moves them more than most changes do."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} cores)"


def _outcomes(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            str(status): int(count)
            for status, count in conn.execute(
                select(InboxRow.status, func.count()).group_by(InboxRow.status)
            )
        }


def _run_one(
    kind: str,
    n: int,
    batch: int,
    clients: int,
    console: Console,
    timeout: float = 900.0,
    appliers: int = 1,
) -> float | None:
    with (
        tempfile.TemporaryDirectory(prefix="concord-bench-") as tmp,
        bench_database(kind, Path(tmp)) as url,
    ):
        upgrade(url)
        engine = make_engine(url)
        with admin_session(engine) as s:
            keys = {
                src: access.add_source(s, src, ["client"], None, None, {"client"})
                for src in ("crm", "erp")
            }
        payloads = build_batches(n, batch)
        port = free_port()
        env = {**os.environ, "CONCORD_DATABASE_URL": url}
        split = kind == "postgres"
        server = concord_process(
            env, "serve", "--port", str(port), *(["--no-worker"] if split else [])
        )
        workers = [
            concord_process(env, "apply", "--follow") for _ in range(appliers if split else 0)
        ]
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_ready(base, server)
            except RuntimeError:
                console.print(f"[red]{kind}: server did not start[/red]")
                return None

            def post(item: tuple[str, bytes]) -> int:
                source, body = item
                with httpx.Client(base_url=base, timeout=120) as c:
                    r = c.post(
                        "/api/v1/changes",
                        content=body,
                        headers={
                            "Authorization": f"Bearer {keys[source]}",
                            "Content-Type": "application/json",
                        },
                    )
                    r.raise_for_status()
                    return int(r.json()["accepted"])

            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                accepted = sum(pool.map(post, payloads))
            posted = time.perf_counter() - start
            deadline = start + timeout
            with engine.connect() as conn:
                while conn.execute(
                    select(func.count()).select_from(InboxRow).where(InboxRow.status == "pending")
                ).scalar_one():
                    conn.rollback()
                    if time.perf_counter() > deadline:
                        console.print(
                            f"[red]{kind}: changes still pending after {timeout:.0f} s; "
                            f"stopped[/red] {_outcomes(engine)}"
                        )
                        return None
                    time.sleep(0.05)
            total = time.perf_counter() - start
            outcomes = _outcomes(engine)
        finally:
            for proc in (server, *workers):
                proc.terminate()
                proc.wait(30)
            engine.dispose()
        done = outcomes.get("applied", 0) + outcomes.get("stale", 0)
        rate = done / total
        shape = (
            f"API process + {appliers} apply process{'es' if appliers > 1 else ''}"
            if split
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


def as_change(source: str, c: dict[str, Any], now: datetime) -> Change:
    """One change of :func:`build_batches` as the bus takes it, its event id derived as the
    HTTP API derives one, so the in-process benchmarks store what a post would."""
    key, seq, attrs = str(c["key"]), c["sequence"], c["attributes"]
    eid = derive_event_id(source, "client", key, seq, None, "upsert", attrs)
    return Change(source, "client", key, "upsert", eid, attrs, now, seq)


def _apply_only(kind: str, n: int, batch: int, console: Console) -> float:
    """The apply stage alone, in this process: the inbox is filled first, then drained by
    the same bus the worker uses. Separates the apply path's cost from HTTP and parsing."""
    from bench.apply import filled_hub  # it builds on this module

    with filled_hub(kind, n, batch) as (hub, _):
        start = time.perf_counter()
        report = hub.bus.drain(hub.settings.worker_batch)
        took = time.perf_counter() - start
    done = report.applied + report.stale
    console.print(
        f"{kind:<9} {done:>8} changes  apply stage alone (in-process, batches of "
        f"{hub.settings.worker_batch}): {took:6.1f} s ({done / took:>8,.0f}/s)"
    )
    return done / took


def run_ingest_bench(
    n: int,
    database: str,
    batch: int,
    clients: int,
    console: Console,
    timeout: float = 900.0,
    appliers: list[int] | None = None,
) -> int:
    Settings()  # validate the environment before spending minutes
    kinds = ["sqlite", "postgres"] if database == "both" else [database]
    console.print(
        f"concord bench ingest: {n:,} changes (~50% new, a third of them ERP copies that link "
        f"by tax id, ~10% misspelt names with no key that the matcher scores, ~40% updates; "
        f"2 sources), batches of {batch}, {clients} HTTP clients, {timeout:.0f} s limit"
    )
    console.print(f"machine: {machine()}; load average {load_average()}")
    runs = [("sqlite", 1)] if "sqlite" in kinds else []
    runs += [("postgres", a) for a in appliers or [1]] if "postgres" in kinds else []
    rates = {(k, a): _run_one(k, n, batch, clients, console, timeout, a) for k, a in runs}
    for k in kinds:
        _apply_only(k, n, batch, console)
    console.print(f"load average after: {load_average()}")
    done = {run: r for run, r in rates.items() if r}
    if len(done) > 1:
        first, base = next(iter(done.items()))
        console.print(
            f"ratio to {first[0]} ({first[1]} applier): "
            + ", ".join(f"{k} ({a}): {r / base:.2f}" for (k, a), r in done.items())
        )
    return 0 if all(rates.values()) else 1
