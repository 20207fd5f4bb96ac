"""All machine routers in one place."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api import candidates, feed, golden, health, ingest, onboarding, subscriptions

router = APIRouter()
for module in (ingest, golden, feed, health, subscriptions, candidates, onboarding):
    router.include_router(module.router)
