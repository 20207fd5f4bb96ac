"""Onboarding runs on the steward page: how much of each run's review is done.

The integration lead loads an acquired firm's file (``concord onboard start``); its uncertain
matches land in the queue tagged with the run. These pages show every run and, for one run,
how its records were linked and how far the stewards are, with a link to that run's queue and
its HTML report. An admin may roll a run back from here with the CLI's own safeguards: the
page shows the rollback plan first, the admin types the run's id to confirm, and a run whose
candidates stewards already decided needs "force" (the CLI's ``--force``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from hub.bootstrap import Hub
from hub.domain.errors import ConcordError, RecordNotFound
from hub.domain.onboarding import RollbackRun
from hub.onboard_report import render_html
from hub.services.onboarding import describe, rollback_plan
from hub.store import queries
from hub.store.read import overview
from hub.web.deps import HubDep, ReadSession, release
from stewardship.accounts import LoggedIn
from stewardship.security import CurrentSteward, NotAllowed, check_csrf
from stewardship.web import dispatch, flash, redirect, render

router = APIRouter(prefix="/steward", dependencies=[Depends(check_csrf)])


def _admin(steward: LoggedIn) -> None:
    if steward.role != "admin":
        raise NotAllowed()


@router.get("/runs")
def runs_page(request: Request, session: ReadSession, steward: CurrentSteward) -> Response:
    return render(request, "runs.html", steward, runs=queries.list_runs(session))


@router.get("/runs/{run_id}")
def run_page(
    run_id: str, request: Request, session: ReadSession, steward: CurrentSteward
) -> Response:
    return render(request, "run.html", steward, run=queries.run_status(session, run_id))


@router.get("/runs/{run_id}/report")
def run_report(run_id: str, session: ReadSession, steward: CurrentSteward) -> Response:
    """The run's HTML report, drawn from the JSON report stored with the run (the same one
    ``concord onboard report`` writes to a file)."""
    report = overview.run_report(session, run_id)
    if report is None:
        raise RecordNotFound(f"no onboarding run {run_id!r}")
    return HTMLResponse(render_html(report))


def _plan(hub: Hub, run_id: str) -> dict[str, Any]:
    """The CLI's rollback plan, read in a transaction that is rolled back (nothing changes)."""
    with hub.uow() as uow:
        plan = rollback_plan(uow, run_id)
        return {"summary": plan["summary"], "text": describe(plan["summary"])}


@router.get("/runs/{run_id}/rollback")
def rollback_confirm(
    run_id: str, request: Request, hub: HubDep, session: ReadSession, steward: CurrentSteward
) -> Response:
    _admin(steward)
    run = queries.run_status(session, run_id)
    return render(request, "rollback.html", steward, run=run, plan=_plan(hub, run_id))


@router.post("/runs/{run_id}/rollback")
async def rollback(
    run_id: str,
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: CurrentSteward,
    confirm: Annotated[str, Form(max_length=100)] = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    """Roll the run back through the bus, once the admin typed its id."""
    _admin(steward)
    if confirm.strip() != run_id:
        raise ConcordError(
            f"rollback of onboarding run {run_id}: confirm: type the run's id to confirm"
        )
    await release(session)
    done = await dispatch(hub, RollbackRun(run_id, steward.name, force))
    flash(request, f"rolled back {run_id}: {describe(done)}; {done['events']} events")
    return redirect(f"/steward/runs/{run_id}")
