"""Onboarding runs on the steward site (issue 16, item 8): the HTML report, and an admin's
rollback with the CLI's safeguards (the plan shown first, the run id typed, force after
steward decisions)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from hub.domain.commands import DecideMatch
from hub.store import queries
from hub.store import tables as t
from hub.store.uow import admin_session, session_factory
from tests.conftest import Api, ChangeFactory
from tests.integration.test_onboarding import NORTHWIND, _csv, _run, _world
from tests.support.steward import add_stewards, login


def _setup(api: Api, change: ChangeFactory, tmp_path: Path) -> str:
    _world(api, change)
    add_stewards(api.hub)
    api.hub.settings.session_secret = SecretStr("s" * 32)
    return _run(api.hub, _csv(tmp_path / "nw.csv", NORTHWIND)).run_id


def _status(api: Api, run_id: str) -> str:
    with admin_session(api.hub.engine) as s:
        return str(
            s.scalars(select(t.OnboardingRun.status).where(t.OnboardingRun.id == run_id)).one()
        )


def test_the_runs_pages_link_the_html_report(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    run_id = _setup(api, change, tmp_path)
    login(api.client, "vic")
    assert f"/steward/runs/{run_id}/report" in api.client.get("/steward/runs").text
    page = api.client.get(f"/steward/runs/{run_id}").text
    assert f"/steward/runs/{run_id}/report" in page and "Roll back" not in page  # not an admin
    # its time to the second, in UTC: no microseconds (issue 16, item 9)
    assert re.search(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</p>", page), page
    report = api.client.get(f"/steward/runs/{run_id}/report")
    assert report.status_code == 200 and run_id in report.text and "<svg" in report.text
    assert api.client.get("/steward/runs/nope/report").status_code == 404
    assert api.client.get(f"/steward/runs/{run_id}/rollback").status_code == 403
    # the queue offers the run by file name and date, not only by its id
    assert re.search(
        rf'<option value="{run_id}" >nw\.csv · \d{{4}}-\d\d-\d\d \d\d:\d\d · ',
        api.client.get("/steward/queue").text,
    )


def test_an_admin_rolls_back_after_typing_the_run_id(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    run_id = _setup(api, change, tmp_path)
    token = login(api.client, "ada")
    assert f"/steward/runs/{run_id}/rollback" in api.client.get(f"/steward/runs/{run_id}").text
    plan = api.client.get(f"/steward/runs/{run_id}/rollback").text
    assert "source records removed" in plan and "match candidates removed" in plan
    r = api.client.post(f"/steward/runs/{run_id}/rollback", data={"confirm": "yes", "csrf": token})
    assert r.status_code == 400 and "type the run&#39;s id" in r.text
    assert _status(api, run_id) == "committed"
    r = api.client.post(f"/steward/runs/{run_id}/rollback", data={"confirm": run_id, "csrf": token})
    assert r.status_code == 200 and f"rolled back {run_id}" in r.text
    assert _status(api, run_id) == "rolled_back"
    assert any(a.action == "onboarding.rollback" and a.actor == "ada" for a in _audit(api))


def _audit(api: Api) -> list[t.AuditLog]:
    with admin_session(api.hub.engine) as s:
        return list(s.scalars(select(t.AuditLog)))


def test_after_steward_decisions_the_rollback_needs_force(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    run_id = _setup(api, change, tmp_path)
    with session_factory(api.hub.engine)() as s:
        (cand,) = queries.candidates(s, "pending", "client", 100, run_id)
    api.hub.bus.handle(DecideMatch(cand["id"], "reject", "other firm", "ann"))
    token = login(api.client, "ada")
    assert 'name="force"' in api.client.get(f"/steward/runs/{run_id}/rollback").text
    r = api.client.post(f"/steward/runs/{run_id}/rollback", data={"confirm": run_id, "csrf": token})
    assert r.status_code == 409 or r.status_code == 400
    assert "already decided" in r.text and _status(api, run_id) == "committed"
    r = api.client.post(
        f"/steward/runs/{run_id}/rollback",
        data={"confirm": run_id, "force": "true", "csrf": token},
    )
    assert r.status_code == 200 and _status(api, run_id) == "rolled_back"
