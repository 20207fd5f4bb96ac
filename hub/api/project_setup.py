"""Project setup for machines and finance operations: the shells the hub made from contracted
opportunities, and the setup exceptions that wait for a fix (docs/architecture.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hub.api.deps import Caller, HubDep, ReadSession, require_steward
from hub.api.schemas import ERRORS
from hub.domain.commands import DecideSetupException
from hub.store import queries

router = APIRouter(prefix="/api/v1/project-setup", tags=["project setup"])


@router.get("/exceptions", responses=ERRORS)
def exceptions(
    caller: Caller,
    session: ReadSession,
    status: Literal["open", "deferred", "resolved", "overridden"] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, list[dict[str, Any]]]:
    """Contracted opportunities without a shell, each with what failed, on which record, by
    which rule and what would fix it; retried by themselves when the opportunity or its
    client changes."""
    require_steward(caller, "see setup exceptions")
    return {"exceptions": queries.list_exceptions(session, status, limit)}


@router.get("/shells", responses=ERRORS)
def shells(
    caller: Caller, session: ReadSession, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, list[dict[str, Any]]]:
    """The project shells made, newest first: the opportunity, the code, created or cancelled."""
    require_steward(caller, "see project shells")
    return {"shells": queries.list_shells(session, limit)}


class SetupDecisionIn(BaseModel):
    action: Literal["resolve", "defer", "override"]
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/exceptions/{opportunity_id}/decision", responses=ERRORS)
async def decide(
    opportunity_id: Annotated[str, Path(max_length=36)],
    body: SetupDecisionIn,
    caller: Caller,
    hub: HubDep,
) -> dict[str, Any]:
    """Finance's decision, with a reason, audited: ``resolve`` closes it (handled
    elsewhere), ``defer`` puts it off (it still retries when its records change),
    ``override`` makes the shell now without what failed."""
    require_steward(caller, "decide setup exceptions")
    cmd = DecideSetupException(opportunity_id, body.action, body.reason, caller.name)
    result: dict[str, Any] = await run_in_threadpool(hub.bus.handle, cmd)
    return result
