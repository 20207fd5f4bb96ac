"""The steward's decisions for machines (bulk tools, scripts): list candidates, decide one.

The steward web page (issue 4) will make the same decisions through the same command.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from hub.api.deps import Caller, HubDep, ReadSession, require_steward
from hub.api.schemas import ERRORS
from hub.domain.commands import DecideMatch
from hub.store import queries
from hub.web.deps import RowId

router = APIRouter(prefix="/api/v1", tags=["stewardship"])


class DecisionIn(BaseModel):
    decision: Literal["merge", "reject"]
    reason: str = Field(default="", max_length=2000)


@router.get("/candidates", responses=ERRORS)
def list_candidates(
    caller: Caller,
    hub: HubDep,
    session: ReadSession,
    status: Annotated[str, Query(max_length=20)] = "pending",
    domain: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, list[dict[str, Any]]]:
    """Candidates by falling probability, each with the incoming record beside the golden
    record, field by field, with the weight of each field; ``run_id`` keeps one onboarding
    run's."""
    require_steward(caller, "see or decide match candidates")
    return {"candidates": queries.candidates(session, status, domain, limit, run_id)}


@router.post("/candidates/{candidate_id}/decision", responses=ERRORS)
async def decide(
    candidate_id: RowId, body: DecisionIn, caller: Caller, hub: HubDep
) -> dict[str, Any]:
    """``merge`` links the record to the candidate golden record (subscribers hear of it);
    ``reject`` is remembered, and the pair is never proposed again."""
    require_steward(caller, "see or decide match candidates")
    cmd = DecideMatch(candidate_id, body.decision, body.reason, caller.name)
    result: dict[str, Any] = await run_in_threadpool(hub.bus.handle, cmd)
    return result
