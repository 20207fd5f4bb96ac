"""Onboarding runs for machines and the steward site: how far a run's review is.

The run's candidates themselves are ``GET /api/v1/candidates?run_id=...``; this says how many
of the run's records stewards have decided, the figure a run page shows.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hub.api.deps import Caller, ReadSession
from hub.api.schemas import ERRORS
from hub.domain.errors import Forbidden
from hub.store import queries

router = APIRouter(prefix="/api/v1", tags=["onboarding"])


@router.get("/onboarding/runs/{run_id}", responses=ERRORS)
def onboarding_run(run_id: str, caller: Caller, session: ReadSession) -> dict[str, Any]:
    """Counts of the run's records by how they linked, and of its review: decided, pending."""
    if caller.role not in ("steward", "admin"):
        raise Forbidden(f"a {caller.role} key cannot see onboarding runs")
    return queries.run_status(session, run_id)
