"""The steward page's routers, collected in one place."""

from __future__ import annotations

from fastapi import APIRouter

from stewardship import (
    routes_auth,
    routes_claims,
    routes_golden,
    routes_queue,
    routes_runs,
    routes_setup,
    undo,
)

router = APIRouter(include_in_schema=False)
for module in (
    routes_auth,
    routes_queue,
    routes_claims,
    routes_golden,
    routes_runs,
    routes_setup,
    undo,
):
    router.include_router(module.router)
