"""``concord bench validate``: time entries validated per second, in batches of 1,000.

The data goes in through the real ingest path (inbox, then the same apply the worker runs), not
written into tables behind the hub's back, so the rows the validation reads are exactly the rows
production holds: PSA sends clients, projects, resources and assignments; the timekeeping source
sends its own copies of clients, projects and resources, which link deterministically and give
it its own keys; then PSA closes one project in ten, so those have a history to read.

Two figures per database: the API end to end (JSON body, authentication, the read, the rules,
the JSON answer; in-process, no network) and the read and rules alone. Printed with the data
sizes and the machine, never asserted: machines here are shared and noisy.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rich.console import Console

from bench.ingest import bench_hub, machine
from hub.bootstrap import Hub
from hub.config import Settings
from hub.domain.commands import AcceptChanges, RefreshStatistics
from hub.domain.model import Change, derive_event_id
from hub.domain.timecheck import TimeEntry, check_entries
from hub.store import access
from hub.store.time_entries import load_world
from hub.store.uow import admin_session, session_factory

EPOCH = date(2026, 1, 1)
CODES = ("DEV", "PM", "QA", "TRAVEL")


def _changes(source: str, domain: str, rows: list[tuple[str, dict[str, Any]]]) -> Iterator[Change]:
    now = datetime.now(UTC)
    for key, attrs in rows:
        yield Change(
            source,
            domain,
            key,
            "upsert",
            derive_event_id(source, domain, key, None, now.isoformat(), "upsert", attrs),
            attrs,
            now,
            None,
        )


def _load(hub: Hub, projects: int, resources: int, assignments: int, seed: int) -> list[Any]:
    """Ingest the world; returns the assignments as (resource i, project i, start, end)."""
    rng = random.Random(seed)
    clients = max(1, projects // 10)

    def post(source: str, domain: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
        for i in range(0, len(rows), 1000):
            hub.bus.accept(
                AcceptChanges(source, tuple(_changes(source, domain, rows[i : i + 1000])))
            )
        hub.bus.drain(hub.settings.worker_batch)

    def day(offset: int) -> str:
        return (EPOCH + timedelta(days=offset)).isoformat()

    client_rows = [
        (f"C{c:05d}", {"name": f"Client {c}", "website": f"client{c}.com"}) for c in range(clients)
    ]
    post("psa", "client", client_rows)
    post("time", "client", [(f"T{k}", a) for k, a in client_rows])
    staff = [
        (
            f"R{r:05d}",
            {
                "given_name": f"Given{r}",
                "family_name": f"Family{r}",
                "employee_id": f"E{r}",
                "email": f"person{r}@firm.com",
                "status": "active",
                "start_date": day(-900),
            },
        )
        for r in range(resources)
    ]
    post("psa", "resource", staff)
    post("time", "resource", [(f"T{k}", {"employee_id": a["employee_id"]}) for k, a in staff])
    work = [
        (
            f"P{p:05d}",
            {
                "code": f"PRJ{p:05d}",
                "name": f"Project {p}",
                "status": "active",
                "start_date": day(-rng.randint(30, 400)),
                "billable": rng.random() > 0.1,
                "client_key": f"C{p % clients:05d}",
            },
        )
        for p in range(projects)
    ]
    post("psa", "project", work)
    post(
        "time",
        "project",
        [
            (f"T{k}", {"code": a["code"], "client_key": f"TC{p % clients:05d}"})
            for p, (k, a) in enumerate(work)
        ],
    )
    staffed = []
    rows = []
    for a in range(assignments):
        r, p, start = rng.randrange(resources), rng.randrange(projects), rng.randint(-200, 100)
        end = start + rng.randint(20, 200)
        staffed.append((r, p, start, end))
        rows.append(
            (
                f"A{a:06d}",
                {
                    "role": "consultant",
                    "status": "confirmed",
                    "start_date": day(start),
                    "end_date": day(end),
                    "bill_rate": 150.0,
                    "resource_key": f"R{r:05d}",
                    "project_key": f"P{p:05d}",
                },
            )
        )
    post("psa", "assignment", rows)
    post("psa", "project", [(k, {**a, "status": "closed"}) for k, a in work[::10]])
    return staffed


def _batches(
    staffed: list[Any], resources: int, n: int, size: int, seed: int
) -> list[list[dict[str, Any]]]:
    """Mostly entries on a real assignment, some off its dates, some with unknown keys."""
    rng = random.Random(seed)
    out = []
    for b in range(n):
        batch = []
        for i in range(size):
            r, p, start, end = rng.choice(staffed)
            roll = rng.random()
            res = f"TR{r:05d}" if roll > 0.03 else f"TX{i}"
            proj = f"TP{p:05d}" if roll < 0.97 else "TP-none"
            offset = rng.randint(start, end) if roll < 0.9 else end + rng.randint(1, 30)
            batch.append(
                {
                    "id": f"{b}-{i}",
                    "resource_key": res,
                    "project_key": proj,
                    "date": (EPOCH + timedelta(days=offset)).isoformat(),
                    "hours": rng.choice((1, 2.5, 4, 8, 8, 8, 30)),
                    "billable": rng.random() > 0.2,
                    "labor_code": rng.choice(CODES),
                }
            )
        out.append(batch)
    return out


def _run(
    kind: str, projects: int, resources: int, assignments: int, batches: int, console: Console
) -> None:
    with bench_hub(kind) as (hub, _):
        with admin_session(hub.engine) as s:
            known = set(hub.config.domains)
            access.add_source(
                s, "psa", ["client", "project", "resource", "assignment"], None, None, known
            )
            key = access.add_source(s, "time", ["client", "project", "resource"], None, None, known)
        start = time.perf_counter()
        staffed = _load(hub, projects, resources, assignments, seed=9)
        hub.bus.handle(RefreshStatistics())  # as the worker does after a bulk load
        loaded = time.perf_counter() - start
        console.print(
            f"{kind}: loaded {projects:,} projects, {resources:,} resources, {assignments:,} "
            f"assignments (+ the time source's copies) through ingest in {loaded:.0f} s"
        )
        work = _batches(staffed, resources, batches, 1000, seed=11)
        from fastapi.testclient import TestClient  # a bench's client, not the runtime's

        client = TestClient(_app(hub))
        headers = {"Authorization": f"Bearer {key}"}
        client.post("/api/v1/time-entries/validate", json={"entries": work[0]}, headers=headers)
        api_times, verdicts = [], {"ok": 0, "rejected": 0}
        for batch in work:
            t0 = time.perf_counter()
            r = client.post(
                "/api/v1/time-entries/validate", json={"entries": batch}, headers=headers
            )
            api_times.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"validate answered {r.status_code}: {r.text[:500]}")
            for v in r.json()["results"]:
                verdicts[v["verdict"]] += 1
        core_times = []
        factory = session_factory(hub.engine, readonly=True)
        for batch in work:
            entries = [
                TimeEntry(
                    e["id"],
                    e["resource_key"],
                    e["project_key"],
                    date.fromisoformat(e["date"]),
                    e["hours"],
                    e["billable"],
                    e["labor_code"],
                )
                for e in batch
            ]
            t0 = time.perf_counter()
            with factory() as session:
                world = load_world(session, "time", entries)
            check_entries(
                entries,
                hub.config.time_rules,
                world.projects,
                world.resources,
                world.assignments,
            )
            core_times.append(time.perf_counter() - t0)
    n = 1000 * batches
    for label, times in (("API end to end", api_times), ("read + rules  ", core_times)):
        total = sum(times)
        console.print(
            f"{kind:<9} {label}: {n:,} entries in {total:5.2f} s  "
            f"[bold]{n / total:>8,.0f} entries/s[/bold]  "
            f"(batch of 1,000: median {statistics.median(times) * 1000:.0f} ms, "
            f"max {max(times) * 1000:.0f} ms)"
        )
    console.print("load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    console.print(f"{kind:<9} verdicts: {verdicts['ok']:,} ok, {verdicts['rejected']:,} rejected")


def _app(hub: Hub) -> Any:
    from hub.app import create_app

    return create_app(hub, run_worker=False)


def bench_validate(
    projects: int, resources: int, assignments: int, batches: int, database: str
) -> None:
    """Validate time entries in batches of 1,000 against projects, resources and assignments."""
    console = Console(soft_wrap=True)
    Settings()  # validate the environment before spending minutes
    console.print(
        f"concord bench validate: {batches} batches of 1,000 entries against {projects:,} "
        f"projects, {resources:,} resources, {assignments:,} assignments"
    )
    console.print(f"machine: {machine()}")
    # The machines this runs on are often shared: the load says how much of them it had.
    console.print("load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    for kind in ["sqlite", "postgres"] if database == "both" else [database]:
        _run(kind, projects, resources, assignments, batches, console)
