"""POST /api/v1/time-entries/validate: may this time be posted? Read-only.

A timekeeping system sends a batch of entries in its own keys before it passes them on to the
ERP; the answer says, per entry, ``ok`` or ``rejected`` with reasons, and which golden project,
resource and assignment it was judged against. The answer is read on a read-only session, so
asking cannot change it; afterwards the entries found ok are counted per project through the
bus (``NoteValidatedTime``), because a lost deal's shell with time on it must not be
cancelled by itself.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import date
from typing import Annotated

import orjson
from fastapi import APIRouter, Response
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from hub.api.deps import Caller, HubDep, ReadSession
from hub.api.schemas import ERRORS, Key
from hub.domain.commands import NoteValidatedTime
from hub.domain.errors import BatchTooLarge, Forbidden
from hub.domain.timecheck import REASONS, TimeEntry, check_entries
from hub.store.time_entries import load_world, reference_labor_codes, require_time_source

router = APIRouter(prefix="/api/v1", tags=["time entries"])


def _iso_day(value: object) -> object:
    """Only ``YYYY-MM-DD``: pydantic alone would also take a number of seconds since 1970."""
    if not isinstance(value, str):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class TimeEntryIn(BaseModel):
    """One time entry, in the calling timekeeping source's own keys."""

    model_config = ConfigDict(extra="forbid")

    id: Key = Field(min_length=1, max_length=200, description="The caller's id, echoed back")
    resource_key: Key = Field(min_length=1, max_length=500)
    project_key: Key = Field(min_length=1, max_length=500)
    date: Annotated[date, BeforeValidator(_iso_day), Field(description="YYYY-MM-DD")]
    hours: Annotated[float, Field(strict=True), AfterValidator(_finite)]
    billable: StrictBool
    labor_code: str | None = Field(default=None, max_length=100)


class ValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[TimeEntryIn]


class VerdictOut(BaseModel):
    id: str
    verdict: str = Field(description="ok or rejected")
    reasons: list[str] = Field(description="From: " + ", ".join(REASONS))
    golden: dict[str, str | None] = Field(
        description="The golden project, resource and assignment ids the entry was judged by"
    )


class ValidateOut(BaseModel):
    results: list[VerdictOut]


@router.post("/time-entries/validate", response_model=ValidateOut, responses=ERRORS)
def validate_time_entries(
    body: ValidateIn, caller: Caller, hub: HubDep, session: ReadSession
) -> Response:
    """One verdict per entry, in order. Keys are resolved in the calling source's own keys,
    so the key must be a timekeeping source's (kind ``time``)."""
    if caller.role != "source":
        raise Forbidden(f"a {caller.role} key cannot validate time entries; use the time source's")
    limit = hub.settings.max_batch
    if len(body.entries) > limit:
        raise BatchTooLarge(len(body.entries), limit)
    require_time_source(session, caller.source)
    entries = [
        TimeEntry(e.id, e.resource_key, e.project_key, e.date, e.hours, e.billable, e.labor_code)
        for e in body.entries
    ]
    world = load_world(session, caller.source or "", entries)
    rules = hub.config.time_rules
    if not rules.labor_codes:  # the configured list overrides the reference data
        codes = reference_labor_codes(session, rules)
        if codes is not None:
            rules = replace(rules, labor_codes=codes, labor_codes_from_reference=True)
    verdicts = check_entries(entries, rules, world.projects, world.resources, world.assignments)
    booked = Counter(v.golden["project"] for v in verdicts if v.verdict == "ok")
    session.close()  # its connection goes back before the bus takes one (no pool deadlock)
    if booked:
        # Only counted, after the answer is decided: a lost deal's shell with time on it is
        # not cancelled by itself (docs/architecture.md, "Project setup").
        hub.bus.handle(NoteValidatedTime(tuple((str(g), n) for g, n in booked.items() if g)))
    # Serialised directly: validating a thousand verdicts we just built against the response
    # model again cost a third of a batch's time. ``ValidateOut`` still documents the shape.
    results = [
        {"id": v.id, "verdict": v.verdict, "reasons": v.reasons, "golden": v.golden}
        for v in verdicts
    ]
    return Response(orjson.dumps({"results": results}), media_type="application/json")
