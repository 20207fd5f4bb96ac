"""Assignments through the hub, and time entries validated against golden records (issue 9).

Every test runs on SQLite and on PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from hub.app import create_app
from hub.bootstrap import Hub, bootstrap, fuzzy_matcher
from hub.config import Settings, load_config
from hub.runtime.serving import BackgroundServer, free_port
from hub.store import access
from hub.store.tables import Base
from hub.store.uow import admin_session
from tests.conftest import Api
from tests.migrated import migrate

CONFIG = """
domains:
  resource:
    keys:
      # this firm's PSA and time systems carry the HR system's employee number, so it
      # names one person across them (the default scopes it to the system that sent it)
      employee_id: [[employee_id, code]]
time_entries:
  hours: {min: 0.25, max: 24}
  labor_codes: [DEV, PM]
"""

SOURCES = {
    "psa": ["client", "project", "resource", "assignment"],
    "erp": ["client", "project", "resource"],
    "hr": ["resource"],
    "time": ["client", "project", "resource"],
}

VALIDATE = "/api/v1/time-entries/validate"


@pytest.fixture
def billing_hub(db_url: str) -> Iterator[Hub]:
    h = bootstrap(Settings(database_url=db_url), config=load_config(text=CONFIG))
    migrate(db_url)
    yield h
    h.close()


@pytest.fixture
def bapi(billing_hub: Hub) -> Api:
    keys: dict[str, str] = {}
    with admin_session(billing_hub.engine) as s:
        for name, domains in SOURCES.items():
            keys[name] = access.add_source(
                s, name, domains, None, None, set(billing_hub.config.domains)
            )
        keys["reader"] = access.create_key(s, "reader", "subscriber")
    return Api(billing_hub, keys)


def ch(domain: str, key: str, **attributes: Any) -> dict[str, Any]:
    return {"domain": domain, "key": key, "attributes": attributes}


def post(api: Api, source: str, *changes: dict[str, Any]) -> None:
    r = api.post(source, *changes)
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    api.apply()


def world(api: Api) -> None:
    """Two projects, two people, three assignments; the time system holds its own keys."""
    post(
        api,
        "psa",
        ch("client", "C-1", name="Acme", website="acme.com"),
        ch("resource", "R-1", given_name="Ada", family_name="Byron", employee_id="E1"),
        ch(
            "resource",
            "R-2",
            given_name="Bo",
            family_name="Diddley",
            employee_id="E2",
        ),
        ch(
            "project",
            "PP-1",
            code="P100",
            name="Build",
            status="active",
            start_date="2026-01-01",
            end_date="2026-06-30",
            client_key="C-1",
        ),
        ch("project", "PP-2", code="P200", name="Pitch", status="active", client_key="C-1"),
        ch(
            "assignment",
            "AS-1",
            role="dev",
            start_date="2026-02-01",
            end_date="2026-03-31",
            status="confirmed",
            resource_key="R-1",
            project_key="PP-1",
        ),
        ch("assignment", "AS-2", role="dev", resource_key="R-1", project_key="PP-2"),
        ch("assignment", "AS-3", role="pm", resource_key="R-2", project_key="PP-1"),
    )
    post(api, "erp", ch("client", "CU-1", name="Acme", website="acme.com"))
    post(
        api,
        "erp",
        ch("project", "WBS-1", code="P100", billable=True, client_key="CU-1"),
        ch("project", "WBS-2", code="P200", billable=False, client_key="CU-1"),
    )
    post(
        api,
        "hr",
        ch("resource", "WD-1", employee_id="E1", status="active", start_date="2020-01-01"),
        ch(
            "resource",
            "WD-2",
            employee_id="E2",
            status="leaver",
            start_date="2021-01-01",
            end_date="2026-02-27",
        ),
    )
    post(
        api,
        "time",
        ch("client", "TC-1", name="Acme", website="acme.com"),
        ch("resource", "T-1", employee_id="E1"),
        ch("resource", "T-2", employee_id="E2"),
        ch("project", "TP-100", code="P100", client_key="TC-1"),
        ch("project", "TP-200", code="P200", client_key="TC-1"),
    )


def entry(i: str, res: str, proj: str, day: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": i,
        "resource_key": res,
        "project_key": proj,
        "date": day,
        "hours": kw.get("hours", 8),
        "billable": kw.get("billable", True),
        "labor_code": kw.get("labor_code", "DEV"),
    }


def validate(api: Api, *entries: dict[str, Any], who: str = "time") -> dict[str, Any]:
    r = api.client.post(VALIDATE, json={"entries": list(entries)}, headers=api.auth(who))
    assert r.status_code == 200, r.text
    return {v["id"]: v for v in r.json()["results"]}


def test_assignment_is_a_domain_like_the_others(bapi: Api) -> None:
    """Ingest, pending references, survivorship with lineage, events and the feed."""
    post(
        bapi,
        "psa",
        *(
            ch("assignment", k, role="dev", bill_rate=150, resource_key="R-9", project_key="PP-9")
            for k in ("AS-9", "AS-10")
        ),
    )
    a9 = bapi.golden_of("psa", "assignment", "AS-9")
    a10 = bapi.golden_of("psa", "assignment", "AS-10")
    assert a9["id"] != a10["id"], "identical assignments are two records: never fuzzy-matched"
    assert {p["name"] for p in a9["pending_references"]} == {"resource", "project"}  # type: ignore[attr-defined]
    assert a9["attributes"] == {"role": "dev", "bill_rate": 150}
    assert a9["provenance"]["bill_rate"] == {  # type: ignore[index]
        "source": "psa",
        "key": "AS-9",
        "rule": "source_priority",
    }

    post(
        bapi,
        "psa",
        ch("client", "C-9", name="Zed", website="zed.com"),
        ch("resource", "R-9", given_name="Cy", family_name="Young", employee_id="E9"),
        ch("project", "PP-9", code="P900", name="Run", client_key="C-9"),
    )
    a9 = bapi.golden_of("psa", "assignment", "AS-9")
    assert a9["pending_references"] == []
    assert a9["references"] == {
        "resource": bapi.golden_of("psa", "resource", "R-9")["id"],
        "project": bapi.golden_of("psa", "project", "PP-9")["id"],
    }
    assert a9["version"] == 2

    feed = bapi.get("/api/v1/feed?domain=assignment&limit=100").json()  # type: ignore[attr-defined]
    events = [e["event"] for e in feed["events"]]
    types = [(e["subject"], e["type"]) for e in events]
    assert (a9["id"], "concord.assignment.created") in types
    assert (a9["id"], "concord.assignment.updated") in types
    last = [e for e in events if e["subject"] == a9["id"]][-1]
    assert last["data"]["references"] == a9["references"]


def test_assignment_gets_no_match_keys(billing_hub: Hub) -> None:
    matcher = fuzzy_matcher(billing_hub.config)
    record = {"role": "dev", "resource": "g-r", "project": "g-p", "status": "confirmed"}
    assert matcher.deterministic_keys("assignment", record) == []
    assert matcher.blocking_keys("assignment", record) == []
    assert matcher.spec("assignment") is None


def test_required_references_of_an_assignment(bapi: Api) -> None:
    r = bapi.post("psa", ch("assignment", "AS-1", role="dev", resource_key="R-1"))
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    assert r.json()["errors"][0]["field"] == "attributes.project_key"  # type: ignore[attr-defined]


def test_each_reason_at_the_edges(bapi: Api) -> None:
    world(bapi)
    v = validate(
        bapi,
        # the assignment AS-1 runs 2026-02-01 .. 2026-03-31, both days included
        entry("first-day", "T-1", "TP-100", "2026-02-01"),
        entry("last-day", "T-1", "TP-100", "2026-03-31"),
        entry("day-before", "T-1", "TP-100", "2026-01-31"),
        entry("day-after", "T-1", "TP-100", "2026-04-01"),
        # the project runs 2026-01-01 .. 2026-06-30; R-2 (AS-3, open) is staffed all along
        entry("project-first", "T-2", "TP-100", "2026-01-01", labor_code="PM"),
        entry("project-before", "T-2", "TP-100", "2025-12-31", labor_code="PM"),
        entry("project-after", "T-1", "TP-200", "2026-07-01", billable=False),
        # R-2 left on 2026-02-27 (HR)
        entry("leaver-last-day", "T-2", "TP-100", "2026-02-27"),
        entry("leaver-gone", "T-2", "TP-100", "2026-02-28"),
        # P200 is not billable (ERP)
        entry("billable-on-p200", "T-1", "TP-200", "2026-05-05"),
        entry("internal-on-p200", "T-1", "TP-200", "2026-05-05", billable=False),
        # keys the time system does not hold, including PSA's own keys for the same records
        entry("no-project", "T-1", "NOPE", "2026-02-02"),
        entry("psa-project-key", "T-1", "PP-1", "2026-02-02"),
        entry("psa-resource-key", "R-1", "TP-100", "2026-02-02"),
        # hours and labour codes
        entry("min-hours", "T-1", "TP-100", "2026-02-02", hours=0.25),
        entry("max-hours", "T-1", "TP-100", "2026-02-02", hours=24),
        entry("too-few", "T-1", "TP-100", "2026-02-02", hours=0.2),
        entry("too-many", "T-1", "TP-100", "2026-02-02", hours=24.5),
        entry("bad-code", "T-1", "TP-100", "2026-02-02", labor_code="GOLF"),
        entry("no-code", "T-1", "TP-100", "2026-02-02", labor_code=None),
    )
    reasons = {k: x["reasons"] for k, x in v.items()}
    assert reasons == {
        "first-day": [],
        "last-day": [],
        "day-before": ["not_assigned_on_date"],
        "day-after": ["not_assigned_on_date"],
        "project-first": [],
        "project-before": ["project_not_active_on_date"],
        "project-after": [],  # P200 has no end date
        "leaver-last-day": [],
        "leaver-gone": ["resource_not_active_on_date"],
        "billable-on-p200": ["project_not_billable"],
        "internal-on-p200": [],
        "no-project": ["unknown_project"],
        "psa-project-key": ["unknown_project"],
        "psa-resource-key": ["unknown_resource"],
        "min-hours": [],
        "max-hours": [],
        "too-few": ["hours_out_of_range"],
        "too-many": ["hours_out_of_range"],
        "bad-code": ["invalid_labor_code"],
        "no-code": ["invalid_labor_code"],
    }
    assert all(x["verdict"] == ("rejected" if x["reasons"] else "ok") for x in v.values())
    ok = v["first-day"]["golden"]
    assert ok == {
        "project": bapi.golden_of("psa", "project", "PP-1")["id"],
        "resource": bapi.golden_of("psa", "resource", "R-1")["id"],
        "assignment": bapi.golden_of("psa", "assignment", "AS-1")["id"],
    }
    assert v["no-project"]["golden"]["project"] is None
    assert v["no-project"]["golden"]["resource"] == ok["resource"]
    assert v["day-before"]["golden"]["assignment"] is None


def test_a_project_closed_after_the_entry_date_is_still_ok_for_that_date(bapi: Api) -> None:
    """The ERP closes a project today: yesterday's time is fine, today's is not."""
    world(bapi)
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    post(
        bapi,
        "psa",
        ch("project", "PP-3", code="P300", name="Run", status="active", client_key="C-1"),
        ch("assignment", "AS-4", role="dev", resource_key="R-1", project_key="PP-3"),
    )
    post(bapi, "time", ch("project", "TP-300", code="P300", client_key="TC-1"))
    before = validate(bapi, entry("y", "T-1", "TP-300", yesterday.isoformat()))
    assert before["y"]["reasons"] == []

    post(bapi, "erp", ch("project", "WBS-3", code="P300", status="closed", client_key="CU-1"))
    post(  # PSA owns status; it closes the project too, after the ERP
        bapi,
        "psa",
        ch("project", "PP-3", code="P300", name="Run", status="closed", client_key="C-1"),
    )
    assert bapi.golden_of("psa", "project", "PP-3")["attributes"]["status"] == "closed"  # type: ignore[index]
    v = validate(
        bapi,
        entry("yesterday", "T-1", "TP-300", yesterday.isoformat()),
        entry("today", "T-1", "TP-300", today.isoformat()),
    )
    assert v["yesterday"]["reasons"] == []
    assert v["today"]["reasons"] == ["project_not_active_on_date"]

    # Timekeeping subscribers hear of it like any subscriber, so they stop offering the code.
    feed = bapi.get("/api/v1/feed?domain=project&limit=1000").json()  # type: ignore[attr-defined]
    p3 = bapi.golden_of("psa", "project", "PP-3")["id"]
    last = [e["event"] for e in feed["events"] if e["event"]["subject"] == p3][-1]
    assert last["data"]["attributes"]["status"] == "closed"
    assert {"source": "time", "key": "TP-300"} in last["data"]["xref"]


def test_deleted_records_take_no_time(bapi: Api) -> None:
    world(bapi)
    post(bapi, "psa", ch("project", "PP-4", code="P400", name="Gone", client_key="C-1"))
    post(
        bapi,
        "psa",
        ch("assignment", "AS-5", role="dev", resource_key="R-1", project_key="PP-4"),
    )
    post(bapi, "time", ch("project", "TP-400", code="P400", client_key="TC-1"))
    day = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    assert validate(bapi, entry("e", "T-1", "TP-400", day))["e"]["reasons"] == []

    def delete(source: str, domain: str, key: str) -> None:
        gone = {"domain": domain, "key": key, "op": "delete", "attributes": {}}
        assert bapi.post(source, gone).status_code == 202  # type: ignore[attr-defined]
        bapi.apply()

    delete("psa", "assignment", "AS-5")  # its golden record is retired
    assert bapi.golden_of("psa", "assignment", "AS-5")["status"] == "retired"
    assert validate(bapi, entry("e", "T-1", "TP-400", day))["e"]["reasons"] == [
        "not_assigned_on_date"
    ]
    delete("psa", "project", "PP-4")
    delete("time", "project", "TP-400")
    # The time system's key no longer resolves: its record is deleted.
    assert validate(bapi, entry("e", "T-1", "TP-400", day))["e"]["reasons"] == ["unknown_project"]


def _snapshot(hub: Hub) -> dict[str, Any]:
    with hub.engine.connect() as conn:
        out: dict[str, Any] = {}
        for name, table in Base.metadata.tables.items():
            out[name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
        out["golden"] = sorted(
            conn.execute(text("SELECT id, version, updated_at FROM golden_record")).all()
        )
        out["records"] = sorted(
            conn.execute(text("SELECT id, golden_id, updated_at FROM source_record")).all()
        )
    return out


def test_validation_changes_nothing_but_the_count_of_validated_time(
    bapi: Api, billing_hub: Hub
) -> None:
    """Asking changes no record; the entries found ok are counted per golden project, so a
    lost deal's shell with time on it is not cancelled by itself (issue 17)."""
    world(bapi)
    before = _snapshot(billing_hub)
    for _ in range(2):
        validate(
            bapi,
            entry("a", "T-1", "TP-100", "2026-02-02"),
            entry("b", "T-9", "TP-999", "2026-02-02"),
            entry("c", "T-2", "TP-100", "2030-01-01", hours=99, labor_code="X"),
        )
    after = _snapshot(billing_hub)
    assert after.pop("project_time") == 1 and before.pop("project_time") == 0
    assert after == before
    project = bapi.golden_of("time", "project", "TP-100")["id"]
    with billing_hub.engine.connect() as conn:
        counted = conn.execute(text("SELECT golden_id, entries FROM project_time")).all()
    assert [tuple(r) for r in counted] == [(project, 2)]


def test_who_may_validate_and_bad_input(bapi: Api, billing_hub: Hub) -> None:
    world(bapi)
    body = {"entries": [entry("a", "T-1", "TP-100", "2026-02-02")]}
    for who in ("psa", "reader"):
        r = bapi.client.post(VALIDATE, json=body, headers=bapi.auth(who))
        assert r.status_code == 403, (who, r.text)
    assert "kind time" in bapi.client.post(VALIDATE, json=body, headers=bapi.auth("psa")).text
    assert bapi.client.post(VALIDATE, json=body).status_code == 401

    bad = entry("a", "T-1", "TP-100", "2026-02-30")
    r = bapi.client.post(
        VALIDATE,
        json={"entries": [entry("ok", "T-1", "TP-100", "2026-02-02"), bad]},
        headers=bapi.auth("time"),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "entries.1.date", r.text
    assert "entries.1.date" in r.json()["detail"]
    r = bapi.client.post(
        VALIDATE,
        json={"entries": [{**entry("x", "T-1", "TP-100", "2026-02-02"), "hours": "8"}]},
        headers=bapi.auth("time"),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "entries.0.hours", r.text
    r = bapi.client.post(
        VALIDATE,
        json={"entries": [{**entry("x", "T-1", "TP-100", "2026-02-02"), "date": 1770000000}]},
        headers=bapi.auth("time"),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "entries.0.date", r.text

    limit = billing_hub.settings.max_batch
    many = [entry(str(i), "T-1", "TP-100", "2026-02-02") for i in range(limit + 1)]
    r = bapi.client.post(VALIDATE, json={"entries": many}, headers=bapi.auth("time"))
    assert r.status_code == 413, r.text


def test_a_batch_resolves_every_entry(bapi: Api) -> None:
    """A full batch answers one verdict per entry, in order, the duplicates included."""
    world(bapi)
    days = [date(2026, 2, 1) + timedelta(days=i % 60) for i in range(1000)]
    entries = [entry(f"e{i}", "T-1", "TP-100", d.isoformat()) for i, d in enumerate(days)]
    r = bapi.client.post(VALIDATE, json={"entries": entries}, headers=bapi.auth("time"))
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["id"] for x in results] == [e["id"] for e in entries]
    assert [x["verdict"] == "ok" for x in results] == [d <= date(2026, 3, 31) for d in days]


def test_no_generated_request_makes_a_5xx(bapi: Api, billing_hub: Hub, tmp_path: Path) -> None:
    """Schemathesis, as the time source, against this endpoint only: valid and invalid
    bodies from the OpenAPI schema never make the server fail."""
    world(bapi)
    exe = shutil.which("schemathesis")
    assert exe is not None, "schemathesis is a test dependency: pip install -e '.[test]'"
    with BackgroundServer(create_app(billing_hub, run_worker=False), free_port()) as server:
        run = subprocess.run(
            [
                exe,
                "run",
                f"{server.url}/openapi.json",
                "--include-path",
                VALIDATE,
                "--checks",
                "not_a_server_error",
                "-H",
                f"Authorization: Bearer {bapi.keys['time']}",
                "--max-examples",
                "40",
                "--seed",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    assert run.returncode == 0, run.stdout[-4000:]
    assert "passed" in run.stdout, run.stdout[-2000:]
    assert "Selected: 1/" in run.stdout and "Tested: 1" in run.stdout, run.stdout[-2000:]
