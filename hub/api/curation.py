"""A steward's actions on golden records, for machines (scripts, bulk tools).

The steward web page makes the same actions through the same commands, so an action taken
by a script and one taken by hand read the same in the audit log and in the events.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, JsonValue

from hub.api.deps import Caller, HubDep, known_domain, require_steward
from hub.api.schemas import ERRORS
from hub.domain.commands import MergeGolden, OverrideField, RemoveOverride, SplitRecord

router = APIRouter(prefix="/api/v1", tags=["stewardship"])

Reason = Field(min_length=1, max_length=2000, description="Why: kept in the audit log")


class SplitIn(BaseModel):
    source: str = Field(max_length=100)
    source_key: str = Field(max_length=500)
    reason: str = Reason


class MergeIn(BaseModel):
    into: str = Field(max_length=36, description="The golden record that survives")
    reason: str = Reason


class OverrideIn(BaseModel):
    value: JsonValue
    reason: str = Reason


class ReasonIn(BaseModel):
    reason: str = Reason


async def _handle(hub: HubDep, caller: Caller, domain: str, what: str, cmd: object) -> Any:
    """Every action: a steward's key, a known domain, then the bus (off the event loop)."""
    require_steward(caller, what)
    known_domain(hub, domain)
    return await run_in_threadpool(hub.bus.handle, cmd)


@router.post("/golden/{domain}/{golden_id}/split", responses=ERRORS)
async def split(
    domain: str, golden_id: str, body: SplitIn, caller: Caller, hub: HubDep
) -> dict[str, Any]:
    """Detach one source record of this golden record into a golden record of its own; the
    pair is never proposed again."""
    cmd = SplitRecord(body.source, domain, body.source_key, body.reason, caller.name, golden_id)
    result: dict[str, Any] = await _handle(hub, caller, domain, "split golden records", cmd)
    return result


@router.post("/golden/{domain}/{golden_id}/merge", responses=ERRORS)
async def merge(
    domain: str, golden_id: str, body: MergeIn, caller: Caller, hub: HubDep
) -> dict[str, Any]:
    """Merge this golden record into ``into``: its source records and the references to it
    move there; subscribers hear ``merged`` for this one and ``updated`` for the winner."""
    cmd = MergeGolden(domain, golden_id, body.into, body.reason, caller.name)
    result: dict[str, Any] = await _handle(hub, caller, domain, "merge golden records", cmd)
    return result


@router.put("/golden/{domain}/{golden_id}/overrides/{field}", responses=ERRORS)
async def override(
    domain: str, golden_id: str, field: str, body: OverrideIn, caller: Caller, hub: HubDep
) -> dict[str, Any]:
    """A steward's value for the field; it wins over every source until removed."""
    cmd = OverrideField(domain, golden_id, field, body.value, body.reason, caller.name)
    result: dict[str, Any] = await _handle(hub, caller, domain, "override golden fields", cmd)
    return result


@router.delete("/golden/{domain}/{golden_id}/overrides/{field}", responses=ERRORS)
async def remove_override(
    domain: str, golden_id: str, field: str, body: ReasonIn, caller: Caller, hub: HubDep
) -> dict[str, Any]:
    """Give the field back to survivorship."""
    cmd = RemoveOverride(domain, golden_id, field, body.reason, caller.name)
    result: dict[str, Any] = await _handle(hub, caller, domain, "override golden fields", cmd)
    return result
