"""Onboarding runs (issue 7) on SQLite and PostgreSQL: dry run, commit, rollback, bad files,
projects after clients, and the steward queue filtered by run."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from hub.bootstrap import Hub
from hub.cli import app
from hub.domain.commands import DecideMatch
from hub.domain.errors import ConcordError
from hub.domain.onboarding import RollbackRun
from hub.runtime.onboarding_runner import RunResult, start_run
from hub.services.onboarding import RunHasDecisions
from hub.store import access, queries
from hub.store import tables as t
from hub.store.onboarding import run_status
from hub.store.uow import admin_session, session_factory
from tests.conftest import Api, ChangeFactory

ACME = {
    "name": "ACME International Corporation",
    "address_line": "1 Long Lane",
    "city": "London",
    "postcode": "EC1A 1BB",
    "country": "GB",
}
GLOBEX = {
    "name": "Globex Trading",
    "website": "https://www.globex.co.uk",
    "city": "Leeds",
    "postcode": "LS1 4AP",
    "country": "GB",
}
INITECH = {"name": "Initech Systems", "city": "Bristol", "postcode": "BS1 5TR", "country": "GB"}

# The acquired firm's export: one row links by name, website and city, one is close enough
# to ACME to go to review (a misspelt name and nothing else but the country), one is a firm we
# never had.
NORTHWIND = [
    {"id": "NW-1", "company": "Globex Trading Ltd", "website": "globex.co.uk",
     "city": "Leeds", "country": "GB", "phone": "+44 113 496 0000"},
    {"id": "NW-2", "company": "Acme Internationl Corp", "website": "",
     "city": "", "country": "GB", "phone": ""},
    {"id": "NW-3", "company": "Northwind Traders", "website": "northwind.no",
     "city": "Oslo", "country": "NO", "phone": ""},
]  # fmt: skip


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _world(api: Api, change: ChangeFactory) -> None:
    with admin_session(api.hub.engine) as s:
        api.keys["northwind-crm"] = access.add_source(
            s, "northwind-crm", ["client", "project"], None, None, set(api.hub.config.domains)
        )
        api.keys["steward"] = access.create_key(s, "ann", "steward")
    api.post("crm", change("client", "A-1", 1, **ACME), change("client", "G-1", 1, **GLOBEX))
    api.post("crm", change("client", "I-1", 1, **INITECH))
    api.post("psa", change("project", "P-1", 1, code="PRJ-1", name="Audit", client_key="C-9"))
    api.apply()


def _run(hub: Hub, path: Path, dry_run: bool = False, **kw: Any) -> RunResult:
    args: dict[str, Any] = {
        "source": "northwind-crm",
        "domain": "client",
        "path": path,
        "maps": ["name=company"],
        "id_column": "id",
        "dry_run": dry_run,
        "skip_invalid": False,
        "actor": "lead",
    }
    args.update(kw)
    return start_run(hub, **args)


def _dump(hub: Hub) -> dict[str, Any]:
    """Every row of the tables a load writes, as plain values (ids of the rows left out where
    they are only identity counters)."""
    with session_factory(hub.engine)() as s:
        return {
            "golden": sorted(
                (
                    g.id,
                    g.version,
                    g.status,
                    json.dumps(g.attributes, sort_keys=True),
                    json.dumps(g.xref, sort_keys=True),
                    json.dumps(g.references, sort_keys=True),
                )
                for g in s.scalars(select(t.GoldenRecordRow))
            ),
            "versions": sorted(
                (v.golden_id, v.version, json.dumps(v.attributes, sort_keys=True))
                for v in s.scalars(select(t.GoldenVersionRow))
            ),
            "xref": sorted(
                (r.source, r.domain, r.source_key, r.golden_id or "", r.deleted)
                for r in s.scalars(select(t.SourceRecordRow))
            ),
            "keys": sorted(
                (k.domain, k.key, k.golden_id) for k in s.scalars(select(t.BlockingKeyRow))
            ),
            "outbox": sorted(o.event_id for o in s.scalars(select(t.OutboxRow))),
            "candidates": sorted(
                (c.source_record_id, c.golden_id, c.status)
                for c in s.scalars(select(t.MatchCandidate))
            ),
            "inbox": sorted(i.event_id for i in s.scalars(select(t.InboxRow))),
        }


def test_dry_run_changes_nothing(api: Api, change: ChangeFactory, tmp_path: Path) -> None:
    """A full dump of golden records, versions, xref, key index, candidates, inbox and outbox
    is identical before and after a dry run, and the report still says what would happen."""
    _world(api, change)
    before = _dump(api.hub)
    result = _run(api.hub, _csv(tmp_path / "nw.csv", NORTHWIND), dry_run=True)
    assert _dump(api.hub) == before
    assert result.status == "dry_run" and not result.loaded
    assert result.report["outcomes"] == {"auto": 1, "review": 1, "new": 1, "invalid": 0}
    closest = {c["key"]: c for c in result.report["closest"]}
    assert closest["NW-2"]["fields"]["name"]["golden"] == ACME["name"]
    assert sum(b["rows"] for b in result.report["histogram"]["bins"]) >= 1
    # the phone would fill a blank field of Globex's golden record (crm ranks first otherwise)
    assert result.report["survivorship"]["phone"] == {"changed": 0, "filled": 1}
    with session_factory(api.hub.engine)() as s:
        kept = s.get(t.OnboardingRun, result.run_id)
        assert kept is not None and kept.status == "dry_run"


def test_commit_then_rollback_restores_prior_state(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    """ "Exact prior state" compares, for every golden record that existed before the run: its
    status, attributes, references and xref; for every source record: its golden record
    (xref); and the whole match-key index. Those are equal after commit + rollback.

    What legitimately moves forward: version numbers of the golden records the run touched
    (the run's own events and the rollback's events are real changes subscribers received),
    golden records the run created (they stay, retired, so their subscribers learn of it),
    and the inbox and outbox (append-only logs).
    """
    _world(api, change)

    def state() -> dict[str, Any]:
        d = _dump(api.hub)
        return {
            "golden": {g[0]: (g[2], g[3], g[4], g[5]) for g in d["golden"]},
            "xref": d["xref"],
            "keys": d["keys"],
            "versions": {g[0]: g[1] for g in d["golden"]},
        }

    before = state()
    result = _run(api.hub, _csv(tmp_path / "nw.csv", NORTHWIND))
    assert result.loaded and result.status == "committed"
    st = result.status_after
    assert st["records"] == 3 and st["review"]["records"] == 1
    with session_factory(api.hub.engine)() as s:
        runs = {r.run_id for r in s.scalars(select(t.SourceRecordRow)) if r.run_id}
        assert runs == {result.run_id}
        inbox = [
            i.run_id for i in s.scalars(select(t.InboxRow).where(t.InboxRow.run_id.is_not(None)))
        ]
        assert inbox == [result.run_id] * 3
    middle = state()
    assert middle["golden"] != before["golden"]
    outbox_mid = len(_dump(api.hub)["outbox"])

    done = api.hub.bus.handle(RollbackRun(result.run_id, "lead"))
    after = state()
    assert after["xref"] == before["xref"]
    assert after["keys"] == before["keys"]
    for gid, prior in before["golden"].items():
        assert after["golden"][gid] == prior, gid
    created = set(after["golden"]) - set(before["golden"])
    assert created and all(after["golden"][g][0] == "retired" for g in created)
    assert all(after["versions"][g] >= before["versions"][g] for g in before["versions"])
    assert done["golden_records_retired"] == len(created)
    assert done["events"] == len(_dump(api.hub)["outbox"]) - outbox_mid > 0
    with session_factory(api.hub.engine)() as s:
        assert run_status(s, result.run_id)["status"] == "rolled_back"
        assert (
            s.scalars(select(t.MatchCandidate).where(t.MatchCandidate.run_id.is_not(None))).all()
            == []
        )


def test_bad_rows_are_reported_by_row_and_field_and_nothing_loads(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    _world(api, change)
    before = _dump(api.hub)
    rows = [
        {"id": "NW-1", "company": "Fine Ltd", "status": "active", "tax_id": ""},
        {"id": "", "company": "No Key Ltd", "status": "", "tax_id": ""},
        {"id": "NW-1", "company": "Twice Ltd", "status": "", "tax_id": ""},
        {"id": "NW-4", "company": "Null\x00Byte", "status": "", "tax_id": ""},
        {"id": "NW-5", "company": "Also Fine", "status": "", "tax_id": "GB123"},
    ]
    result = _run(api.hub, _csv(tmp_path / "bad.csv", rows))
    errors = {(e["row"], e["field"]) for e in result.report["errors"]}
    assert errors == {(2, "id"), (3, "id"), (4, "name")}
    assert not result.loaded and result.report["outcomes"]["invalid"] == 3
    assert _dump(api.hub) == before
    skipped = _run(api.hub, _csv(tmp_path / "bad.csv", rows), skip_invalid=True)
    assert skipped.loaded and skipped.status_after["records"] == 2


def test_json_lines_with_a_broken_line_and_a_wrong_type(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    _world(api, change)
    path = tmp_path / "nw.jsonl"
    path.write_text(
        '{"id": "NW-1", "name": "Globex Trading", "website": "globex.co.uk"}\n'
        "{not json\n"
        '{"id": 7, "name": 12}\n',
        encoding="utf-8",
    )
    result = _run(api.hub, path, maps=[])
    assert [(e["row"], e["field"]) for e in result.report["errors"]] == [(2, "line"), (3, "name")]
    assert "expected text" in result.report["errors"][1]["problem"]


def test_rollback_after_a_steward_decision_needs_force(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    _world(api, change)
    result = _run(api.hub, _csv(tmp_path / "nw.csv", NORTHWIND))
    with session_factory(api.hub.engine)() as s:
        queue = queries.candidates(s, "pending", "client", 100, result.run_id)
        assert queries.candidates(s, "pending", "client", 100, "another-run") == []
    assert [c["source_key"] for c in queue] == ["NW-2"]
    url = f"/api/v1/onboarding/runs/{result.run_id}"
    page = api.client.get(url, headers=api.auth("steward")).json()
    assert (page["review"]["pending"], page["review_done"]) == (1, 0.0)
    r = api.client.get(
        "/api/v1/candidates", params={"run_id": result.run_id}, headers=api.auth("steward")
    )
    assert [c["run_id"] for c in r.json()["candidates"]] == [result.run_id]
    assert api.client.get(url, headers=api.auth("reader")).status_code == 403
    api.hub.bus.handle(DecideMatch(queue[0]["id"], "merge", "same firm", "ann"))
    assert api.client.get(url, headers=api.auth("steward")).json()["review_done"] == 1.0
    with session_factory(api.hub.engine)() as s:
        assert run_status(s, result.run_id)["review_done"] == 1.0
    with pytest.raises(RunHasDecisions, match="1 merged") as refused:
        api.hub.bus.handle(RollbackRun(result.run_id, "lead"))
    assert "3 source records removed" in str(refused.value)
    with session_factory(api.hub.engine)() as s:
        assert run_status(s, result.run_id)["status"] == "committed"
    done = api.hub.bus.handle(RollbackRun(result.run_id, "lead", force=True))
    assert done["source_records_removed"] == 3
    acme = api.golden_of("crm", "client", "A-1")
    assert [(x["source"], x["key"]) for x in acme["xref"]] == [("crm", "A-1")]  # type: ignore[attr-defined]
    assert acme["attributes"] == ACME


def test_projects_resolve_through_the_client_runs_links(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    """A project row naming the acquired firm's client key (NW-1) refers to the golden record
    that key was linked to by the client run (Globex, an existing client)."""
    _world(api, change)
    clients = _run(api.hub, _csv(tmp_path / "nw.csv", NORTHWIND))
    projects = [
        {"id": "NP-1", "code": "NW-PRJ-1", "name": "Migration", "client_key": "NW-1"},
        {"id": "NP-2", "code": "NW-PRJ-2", "name": "Rollout", "client_key": "NW-3"},
    ]
    path = _csv(tmp_path / "projects.csv", projects)
    run = _run(api.hub, path, domain="project", maps=[])
    assert run.loaded and run.report["outcomes"]["invalid"] == 0
    globex = api.golden_of("crm", "client", "G-1")["id"]
    northwind = api.golden_of("northwind-crm", "client", "NW-3")["id"]
    assert api.golden_of("northwind-crm", "project", "NP-1")["references"] == {
        "client": globex,
        "project_manager": None,
    }
    assert api.golden_of("northwind-crm", "project", "NP-2")["references"]["client"] == northwind  # type: ignore[index]
    with session_factory(api.hub.engine)() as s:
        assert (
            s.scalars(
                select(t.PendingReference).where(t.PendingReference.source == "northwind-crm")
            ).all()
            == []
        )
    assert clients.run_id != run.run_id


def test_cli_prints_the_run_id_last_and_writes_both_reports(
    api: Api, change: ChangeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _world(api, change)
    monkeypatch.setenv("CONCORD_DATABASE_URL", api.hub.settings.database_url)
    evil = "Acme International <script>alert(1)</script>"
    rows = [*NORTHWIND, {**NORTHWIND[1], "id": "NW-9", "company": evil}]
    path = _csv(tmp_path / "nw.csv", rows)
    argv = [
        "onboard",
        "start",
        "--source",
        "northwind-crm",
        "--domain",
        "client",
        "--file",
        str(path),
        "--map",
        "name=company",
        "--dry-run",
        "--report-dir",
        str(tmp_path),
    ]
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 0, r.output
    run_id = r.stdout.strip().splitlines()[-1]
    html = (tmp_path / f"{run_id}.html").read_text(encoding="utf-8")
    assert "<svg" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    # nothing loaded from elsewhere (a website shown as a value is text, not a load)
    for load in ('src="http', "src='http", 'href="http', "url(http", "@import"):
        assert load not in html
    report = json.loads((tmp_path / f"{run_id}.json").read_text(encoding="utf-8"))
    assert report["run_id"] == run_id
    status = CliRunner().invoke(app, ["onboard", "rollback", run_id])
    assert status.exit_code == 1 and "can be rolled back" in " ".join(status.output.split())


def test_unknown_source_or_domain_is_refused(api: Api, tmp_path: Path) -> None:
    path = _csv(tmp_path / "nw.csv", NORTHWIND)
    with pytest.raises(ConcordError, match="no such source"):
        _run(api.hub, path)
    with pytest.raises(ConcordError, match="known domains"):
        _run(api.hub, path, domain="planet")


def test_the_steward_site_shows_a_runs_review(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    """The run's candidates are a queue filter; the run page says how much review is done."""
    from tests.support.steward import add_stewards, login

    _world(api, change)
    add_stewards(api.hub)
    api.hub.settings.session_secret = SecretStr("s" * 32)  # PostgreSQL hubs must be given one
    result = _run(api.hub, _csv(tmp_path / "nw.csv", NORTHWIND))
    login(api.client, "vic")  # a viewer may look
    runs = api.client.get("/steward/runs")
    assert runs.status_code == 200 and result.run_id in runs.text
    page = api.client.get(f"/steward/runs/{result.run_id}")
    assert page.status_code == 200 and "0 % done" in page.text
    assert f"/steward/queue?run={result.run_id}" in page.text
    queue = api.client.get("/steward/queue", params={"run": result.run_id})
    assert "NW-2" in queue.text and "Acme Internationl Corp" in queue.text
    other = api.client.get("/steward/queue", params={"run": "another-run"})
    assert "NW-2" not in other.text and "Nothing pending" in other.text
    with session_factory(api.hub.engine)() as s:
        (cand,) = queries.candidates(s, "pending", "client", 100, result.run_id)
    api.hub.bus.handle(DecideMatch(cand["id"], "reject", "other firm", "ann"))
    assert "100 % done" in api.client.get(f"/steward/runs/{result.run_id}").text
    assert api.client.get("/steward/runs/nope").status_code == 404


@pytest.mark.postgres
def test_parallel_preview_equals_one_pass(pg_url: str, tmp_path: Path) -> None:
    """The preview split over two processes predicts, row for row, what one pass predicts,
    including rows that repeat a deterministic key of a row in the other half of the file."""
    from rich.console import Console

    from bench.companies import generate
    from bench.onboard import seed_golden, write_export
    from connectors.inbound.files import column_mapping, read_rows
    from hub.domain.onboarding import validate_rows
    from hub.domain.spec import SourceSpec
    from hub.runtime.onboarding_runner import preview_rows
    from hub.services.onboarding_preview import OnboardingPreview
    from matching import FellegiSunterMatcher
    from tests.conftest import make_hub

    hub = make_hub(pg_url, contact_keys=True)  # rows meet their repeats on the website
    try:
        with admin_session(hub.engine) as s:
            access.add_source(s, "crm", ["client"], None, None, set(hub.config.domains))
        data = generate(3_000, 4_500, seed=11)
        seed_golden(hub, data.golden, Console(quiet=True))
        # new firms of the first half that carry a deterministic key (a tax id, and no website
        # shared with a seeded sister company) come again at the end under other keys
        again = [
            row
            for row, true in zip(data.acquired[:2000], data.truth, strict=False)
            if true is None and "tax_id" in row and "website" not in row
        ]
        assert len(again) >= 20
        path = tmp_path / "nw.csv"
        write_export(path, [*data.acquired, *again])
        spec = hub.config.domains["client"]
        rows = read_rows(path, spec, column_mapping(spec, []), "id").rows
        valid = validate_rows(spec, rows).valid
        matcher = hub.bus.applier.matcher
        assert isinstance(matcher, FellegiSunterMatcher)

        def preview(workers: int) -> Any:
            src = SourceSpec("northwind-crm", "crm", 1)
            previewer = OnboardingPreview(spec, matcher, matcher.spec("client"), src)
            return preview_rows(hub, previewer, valid, workers, lambda *a: None)

        one, two = preview(1), preview(2)
        assert [(r.number, r.outcome, r.rule, r.golden_id) for r in two.results] == [
            (r.number, r.outcome, r.rule, r.golden_id) for r in one.results
        ]
        assert sum(
            r.golden_id is not None and r.golden_id.startswith("row ") for r in one.results
        ) >= len(again)
        assert two.histogram == one.histogram
        assert two.survivorship == one.survivorship
        assert [c["row"] for c in two.closest] == [c["row"] for c in one.closest]
    finally:
        hub.close()


def test_the_preview_decides_as_the_load_for_a_record_sent_again(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    """The preview calls the apply path's link decision: a row whose record the source
    deleted goes back to its golden record (as the load does), where the preview's own copy
    of the rules called it new."""
    _world(api, change)
    first = _run(api.hub, _csv(tmp_path / "nw.csv", NORTHWIND))
    assert first.loaded
    with session_factory(api.hub.engine)() as s:
        before = s.scalars(
            select(t.SourceRecordRow.golden_id).where(t.SourceRecordRow.source_key == "NW-3")
        ).one()
    api.post("northwind-crm", change("client", "NW-3", 1, op="delete"))
    api.apply()
    preview = _run(api.hub, _csv(tmp_path / "nw2.csv", NORTHWIND), dry_run=True)
    assert preview.report["outcomes"]["new"] == 0, preview.report["outcomes"]
    loaded = _run(api.hub, _csv(tmp_path / "nw3.csv", NORTHWIND))
    assert loaded.loaded
    with session_factory(api.hub.engine)() as s:
        after = s.scalars(
            select(t.SourceRecordRow.golden_id).where(t.SourceRecordRow.source_key == "NW-3")
        ).one()
    assert after == before
