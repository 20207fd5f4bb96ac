"""``concord bench queue``: the steward's queue and compare pages with 50k pending candidates.

The data goes straight into the tables (bulk inserts), since what is measured is reading the
queue, not matching. Each page is fetched over the ASGI app with a logged-in steward, so the
figures include templates, the session and the CSRF token, like a browser's request.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from sqlalchemy import insert, select, text

from bench.ingest import bench_database, load_average, machine
from hub.app import create_app
from hub.bootstrap import Hub, bootstrap
from hub.config import Settings
from hub.store import stewards
from hub.store.migrate import upgrade
from hub.store.tables import GoldenRecordRow, MatchCandidate, SourceRecordRow
from hub.store.uow import admin_session
from stewardship import passwords

if TYPE_CHECKING:  # imported where used: every `concord` command imports this module
    from fastapi.testclient import TestClient

PASSWORD = "bench-password"
WORDS = ("acme", "north", "bridge", "global", "apex", "summit", "harbor", "pioneer")


def load_candidates(hub: Hub, n: int, seed: int = 3) -> None:
    """``n`` pending client candidates, each an incoming record beside a golden record."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    goldens, records, cands = [], [], []
    for i in range(n):
        name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {i}"
        gid = str(uuid.UUID(int=rng.getrandbits(128)))
        attrs = {"name": name + " Ltd", "city": "London", "country": "GB"}
        goldens.append(
            {"id": gid, "domain": "client", "version": 1, "status": "active",
             "attributes": attrs, "provenance": {}, "references": {}, "xref": [],
             "overrides": {}, "search_name": name.casefold(), "created_at": now,
             "updated_at": now}
        )  # fmt: skip
        records.append(
            {"id": i + 1, "source": "northwind-crm", "domain": "client", "source_key": f"NW-{i}",
             "golden_id": None, "attributes": {**attrs, "name": name + " Limited"},
             "changed_at": now, "digest": "", "deleted": False, "link_rule": "new",
             "updated_at": now}
        )  # fmt: skip
        cands.append(
            {"domain": "client", "source_record_id": i + 1, "golden_id": gid,
             "probability": round(rng.uniform(0.5, 0.99), 4),
             "weights": {"name": 6.1, "city": 1.2, "country": 0.4, "postcode": -0.8},
             "rule": "fellegi-sunter", "status": "pending", "created_at": now,
             "golden_version": 1,  # scored against the golden record as loaded: fresh
             "levels": {"name": "jw>=0.92", "city": "exact", "country": "exact",
                        "postcode": "else"}}
        )  # fmt: skip
    with admin_session(hub.engine) as s:
        for table, rows in (
            (GoldenRecordRow, goldens),
            (SourceRecordRow, records),
            (MatchCandidate, cands),
        ):
            for i in range(0, len(rows), 5000):
                s.execute(insert(table), rows[i : i + 5000])
        stewards.add_steward(s, "bench", "steward", passwords.hash_password(PASSWORD))


def _time(client: TestClient, url: str, repeat: int) -> tuple[float, float]:
    """Median and worst time of ``repeat`` GETs, in milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"GET {url}: {r.status_code}")
    return statistics.median(times), max(times)


def _run(kind: str, n: int, repeat: int, console: Console) -> None:
    with tempfile.TemporaryDirectory() as tmp, bench_database(kind, Path(tmp)) as url:
        upgrade(url)
        hub = bootstrap(Settings(database_url=url, session_secret="b" * 32))
        t0 = time.perf_counter()
        load_candidates(hub, n)
        with admin_session(hub.engine) as s:  # the statistics autovacuum would have by now
            s.execute(text("ANALYZE"))
        console.print(f"{kind}: loaded {n} pending candidates in {time.perf_counter() - t0:.1f} s")
        from fastapi.testclient import TestClient

        with TestClient(create_app(hub, run_worker=False)) as client:
            page = client.get("/steward/login")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            client.post(
                "/steward/login", data={"name": "bench", "password": PASSWORD, "csrf": csrf}
            )
            with admin_session(hub.engine) as s:
                mid = s.execute(
                    select(MatchCandidate.probability, MatchCandidate.id)
                    .order_by(MatchCandidate.probability.desc(), MatchCandidate.id.desc())
                    .offset(n // 2)
                    .limit(1)
                ).one()
            urls = {
                "queue, first page": "/steward/queue",
                "queue, page in the middle": f"/steward/queue?after={mid[0]!r}:{mid[1]}",
                "queue, domain + band": "/steward/queue?domain=client&band=medium",
                "queue, source filter": "/steward/queue?source=northwind-crm",
                "compare": f"/steward/candidates/{mid[1]}",
                "compare, filtered": f"/steward/candidates/{mid[1]}?domain=client&band=high",
            }
            for what, u in urls.items():
                med, worst = _time(client, u, repeat)
                console.print(f"{kind}: {what:<28} median {med:7.1f} ms   worst {worst:7.1f} ms")
            _bulk(client, kind, console)
        hub.close()


def _bulk(client: TestClient, kind: str, console: Console) -> None:
    """One bulk reject of the lowest ~1% (each candidate its own decision and audit entry)."""
    confirm = client.get("/steward/bulk?decision=reject&threshold=0.505")
    count = int(confirm.text.split("<b data-count>")[1].split("<")[0])
    csrf = confirm.text.split('name="csrf" value="')[1].split('"')[0]
    ids = confirm.text.split('name="ids" value="')[1].split('"')[0]
    t0 = time.perf_counter()
    r = client.post(
        "/steward/bulk",
        data={"decision": "reject", "threshold": "0.505", "ids": ids, "csrf": csrf},
    )
    seconds = time.perf_counter() - t0
    if r.status_code != 200 or f"rejected {count} candidate" not in r.text:
        raise RuntimeError(f"bulk reject of {count} did not go through")
    console.print(
        f"{kind}: bulk reject of {count} candidates   {seconds:.1f} s "
        f"({count / seconds:.0f} decisions/s)"
    )


def bench_queue(n: int, database: str, repeat: int) -> None:
    """Time the steward's queue and compare pages over N pending candidates."""
    console = Console()
    console.print(f"concord bench queue: {n} pending candidates, {repeat} requests per page")
    console.print(f"machine: {machine()}; load average {load_average()}")
    for kind in ("sqlite", "postgres") if database == "both" else (database,):
        _run(kind, n, repeat, console)
        console.print(f"  load average after {kind}: {load_average()}")
