"""The business KPIs for machines and dashboards (see :mod:`hub.store.read.kpis`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.deps import Caller, HubDep, ReadSession, require_steward
from hub.api.schemas import ERRORS
from hub.store import queries

router = APIRouter(prefix="/api/v1", tags=["kpis"])


@router.get("/kpis", responses=ERRORS)
def kpis(
    caller: Caller,
    hub: HubDep,
    session: ReadSession,
    days: Annotated[int, Query(ge=1, le=366)] = 28,
) -> dict[str, Any]:
    """Project setup cycle time per week (contracted -> shell -> published -> joined by PSA,
    p50 and p90), change-to-subscriber latency per subscription (p50, p99), steward decisions
    and setup exceptions per day, and dead letters and dead deliveries per day over what was
    received, for the last ``days`` days; and the deals in a stage no stage list names."""
    require_steward(caller, "see the KPIs")
    return queries.all_kpis(session, days, known_stage=hub.config.project_setup.known_stage)
