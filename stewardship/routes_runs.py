"""Onboarding runs on the steward page: how much of each run's review is done.

The integration lead loads an acquired firm's file (``concord onboard start``); its uncertain
matches land in the queue tagged with the run. These pages show every run and, for one run,
how its records were linked and how far the stewards are, with a link to that run's queue.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hub.store import onboarding
from hub.web.deps import ReadSession
from stewardship.security import CurrentSteward, check_csrf
from stewardship.web import render

router = APIRouter(prefix="/steward", dependencies=[Depends(check_csrf)])


@router.get("/runs")
def runs_page(request: Request, session: ReadSession, steward: CurrentSteward) -> Response:
    return render(request, "runs.html", steward, runs=onboarding.list_runs(session))


@router.get("/runs/{run_id}")
def run_page(
    run_id: str, request: Request, session: ReadSession, steward: CurrentSteward
) -> Response:
    return render(request, "run.html", steward, run=onboarding.run_status(session, run_id))
