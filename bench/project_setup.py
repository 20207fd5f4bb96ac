"""``concord bench setup``: project setup's two goals (issue 17), measured.

1. **Validation**: ``--projects`` golden projects (ERP's, each with a legal entity, cost center,
   billing code and rate card) are loaded through the apply path; then every one is checked
   again against the reference data (``ProjectSetup.check_all``, what a change of a code
   triggers). Goal: 10,000 in 2 s or less.
2. **Latency**: ``concord serve`` runs in its own process; CRM posts contracted opportunities
   of valid clients at ``--rate`` per second for ``--seconds``; for each, the time from the 202
   to the shell's ``concord.project.created`` row in the outbox (what the feed and webhooks
   deliver from). Goal: p99 of 1 s or less at 100 per second.

Printed with the machine and the load average, never asserted: the machine is shared.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bench.ingest import bench_hub, load_average, machine, serving
from hub.domain.commands import AcceptChanges
from hub.domain.model import Change
from hub.store import access
from hub.store.read.kpis import percentile
from hub.store.tables import OutboxRow
from hub.store.uow import admin_session

RULES = """
project_setup:
  dimensions:
    legal_entity: [{code: UK01}]
    cost_center: [{code: CC-100}]
    billing_code: [{code: TM}]
    rate_card: [{code: STD-GBP}]
"""
REFERENCE = [
    (
        "legal_entity",
        "LE1",
        {"code": "UK01", "country": "GB", "currency": "GBP", "status": "active"},
    ),
    ("cost_center", "C1", {"code": "CC-100", "status": "active", "legal_entity_key": "LE1"}),
    ("billing_code", "B1", {"code": "TM", "status": "active"}),
    ("rate_card", "R1", {"code": "STD-GBP", "currency": "GBP", "status": "active"}),
]
CLIENT = {"name": "Client", "legal_name": "Client Ltd", "address_line": "1 Main St",
          "country": "GB"}  # fmt: skip


def _change(source: str, domain: str, key: str, attrs: dict[str, Any], seq: int) -> Change:
    return Change(source, domain, key, "upsert", f"{source}-{seq}", attrs, datetime.now(UTC), seq)


def _validation(kind: str, projects: int) -> None:
    with bench_hub(kind) as (hub, _):
        with admin_session(hub.engine) as s:
            access.add_source(
                s, "erp", list(hub.config.domains), None, None, set(hub.config.domains)
            )
        seq = iter(range(1, 10**9))
        changes = [_change("erp", d, k, a, next(seq)) for d, k, a in REFERENCE]
        changes.append(_change("erp", "client", "CU-1", {**CLIENT, "tax_id": "GB1"}, next(seq)))
        for i in range(projects):
            attrs = {"code": f"P{i:06d}", "client_key": "CU-1", "currency": "GBP",
                     "legal_entity": "UK01", "cost_center": "CC-100", "billing_code": "TM",
                     "rate_card": "STD-GBP"}  # fmt: skip
            changes.append(_change("erp", "project", f"W-{i}", attrs, next(seq)))
        started = time.perf_counter()
        for i in range(0, len(changes), 1000):
            hub.bus.accept(AcceptChanges("erp", tuple(changes[i : i + 1000])))
        hub.bus.drain()
        loaded = time.perf_counter() - started
        setup = hub.bus.setup
        assert setup is not None
        started = time.perf_counter()
        checked = setup.check_all(hub.uow())
        took = time.perf_counter() - started
        print(
            f"{kind:8} validation: {checked:,} golden projects checked in {took:.2f} s "
            f"({checked / took:,.0f}/s; goal 10,000 in <= 2 s); loading them took {loaded:.1f} s"
        )


def _latency(kind: str, rate: int, seconds: float) -> None:
    with bench_hub(kind) as (hub, tmp):
        config = Path(tmp) / "concord.yaml"
        config.write_text(RULES, encoding="utf-8")
        with admin_session(hub.engine) as s:
            keys = {
                name: access.add_source(s, name, domains, None, None, set(hub.config.domains))
                for name, domains in (("crm", ["client", "opportunity"]),
                                      ("erp", ["client", "project", *(d for d, _, _ in REFERENCE)]))
            }  # fmt: skip
        env = {**os.environ, "CONCORD_DATABASE_URL": hub.settings.database_url,
               "CONCORD_CONFIG": str(config), "CONCORD_LOG_LEVEL": "WARNING"}  # fmt: skip
        with serving(env) as (base, _):
            accepted = _post_load(base, keys, rate, seconds)
            deadline = time.monotonic() + 60
            created: dict[str, datetime] = {}
            while time.monotonic() < deadline and len(created) < len(accepted):
                with hub.engine.connect() as c:
                    for at, payload in c.execute(
                        select(OutboxRow.created_at, OutboxRow.payload).where(
                            OutboxRow.type == "concord.project.created"
                        )
                    ):
                        created[payload["data"]["attributes"].get("opportunity_id")] = at
                time.sleep(0.5)
        waits = sorted(
            (created[k] - at).total_seconds() * 1000 for k, at in accepted.items() if k in created
        )
        if not waits:
            print(f"{kind:8} latency: no shell was made")
            return
        p50, p99 = percentile(waits, 50) or 0.0, percentile(waits, 99) or 0.0
        print(
            f"{kind:8} latency: {len(accepted):,} contracted deals, {rate}/s for {seconds:.0f} s, "
            f"{len(waits):,} shells; accepted -> concord.project.created p50 {p50:.0f} ms, "
            f"p99 {p99:.0f} ms, max {waits[-1]:.0f} ms (goal p99 <= 1000 ms)"
        )


def _post_load(base: str, keys: dict[str, str], rate: int, seconds: float) -> dict[str, datetime]:
    """Reference data and clients first; then one contracted deal per 1/rate seconds, each
    timed from its 202."""
    erp = {"Authorization": f"Bearer {keys['erp']}"}
    crm = {"Authorization": f"Bearer {keys['crm']}"}
    accepted: dict[str, datetime] = {}
    with httpx.Client(base_url=base, timeout=30) as http:
        ref = [{"domain": d, "key": k, "attributes": a} for d, k, a in REFERENCE]
        http.post("/api/v1/changes", json={"changes": ref}, headers=erp).raise_for_status()
        clients = [
            {"domain": "client", "key": f"A-{i}",
             "attributes": {**CLIENT, "name": f"Client {i}", "tax_id": f"GB{i}"}}
            for i in range(200)
        ]  # fmt: skip
        http.post("/api/v1/changes", json={"changes": clients}, headers=crm).raise_for_status()
        time.sleep(3)  # let them apply, so the deals find their clients
        n = int(rate * seconds)
        start = time.monotonic()
        for i in range(n):
            due = start + i / rate
            if (pause := due - time.monotonic()) > 0:
                time.sleep(pause)
            deal = {"domain": "opportunity", "key": f"OPP-{i}",
                    "attributes": {"name": f"Deal {i}", "stage": "contracted",
                                   "client_key": f"A-{i % 200}", "currency": "GBP"}}  # fmt: skip
            r = http.post("/api/v1/changes", json={"changes": [deal]}, headers=crm)
            if r.status_code == 202:
                accepted[f"OPP-{i}"] = datetime.now(UTC)
    return accepted


def main(projects: int, rate: int, seconds: float, database: str) -> None:
    """Validation of N golden projects, and contracted deal -> published shell latency."""
    print(f"machine: {machine()}; load average {load_average()}")
    kinds = ["sqlite", "postgres"] if database == "both" else [database]
    for kind in kinds:
        _validation(kind, projects)
    for kind in kinds:
        _latency(kind, rate, seconds)
    print(f"load average after: {load_average()}")
