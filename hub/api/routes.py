"""All machine routers in one place."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api import (
    candidates,
    curation,
    feed,
    golden,
    health,
    ingest,
    kpis,
    onboarding,
    project_setup,
    subscriptions,
)
from hub.api.time_entries import router as time_entries_router

router = APIRouter()
for module in (
    ingest,
    golden,
    feed,
    health,
    subscriptions,
    candidates,
    curation,
    onboarding,
    project_setup,
    kpis,
):
    router.include_router(module.router)
router.include_router(time_entries_router)
