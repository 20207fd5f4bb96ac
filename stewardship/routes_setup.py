"""Setup exceptions for finance operations: contracted deals the hub could not make a project
shell for, with what failed, on which record, by which rule and what would fix it; resolved,
deferred or overridden with a reason, through the bus (docs/architecture.md, "Project
setup")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from hub.domain.commands import DecideSetupException
from hub.domain.errors import ConcordError
from hub.store import queries
from hub.web.deps import HubDep, ReadSession
from stewardship.security import CAN_SET_UP, CurrentSteward, FinanceSteward, check_csrf
from stewardship.web import dispatch, flash, redirect, render

router = APIRouter(prefix="/steward/setup", dependencies=[Depends(check_csrf)])
DONE = {"resolve": "resolved", "defer": "deferred", "override": "overridden: the shell is made"}


@router.get("")
def setup_queue(request: Request, session: ReadSession, steward: CurrentSteward) -> Response:
    waiting = queries.list_exceptions(session, "open", 200) + queries.list_exceptions(
        session, "deferred", 200
    )
    return render(
        request,
        "setup.html",
        steward,
        waiting=waiting,
        can_decide=steward.role in CAN_SET_UP,
    )


@router.post("/{opportunity_id}")
async def decide(
    opportunity_id: str,
    request: Request,
    hub: HubDep,
    steward: FinanceSteward,
    action: Annotated[str, Form(pattern="^(resolve|defer|override)$")],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    cmd = DecideSetupException(opportunity_id, action, reason, steward.name)
    try:
        await dispatch(hub, cmd)
        flash(request, f"deal {opportunity_id[:8]}: {DONE[action]}")
    except ConcordError as exc:
        flash(request, str(exc), "error")
    return redirect("/steward/setup")
