"""All machine routers in one place."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api import candidates, curation, feed, golden, health, ingest, subscriptions

router = APIRouter()
for module in (ingest, golden, feed, health, subscriptions, candidates, curation):
    router.include_router(module.router)
