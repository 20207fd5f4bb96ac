"""GET /api/v1/feed: golden-record events in commit order, the simplest way to subscribe."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.api.deps import Caller, HubDep, ReadSession
from hub.api.schemas import ERRORS, FeedItem, FeedOut
from hub.domain.errors import ConcordError, RecordNotFound
from hub.store import queries

router = APIRouter(prefix="/api/v1", tags=["feed"])


@router.get("/feed", response_model=FeedOut, responses=ERRORS)
def get_feed(
    _: Caller,
    hub: HubDep,
    session: ReadSession,
    after: Annotated[str, Query(max_length=30)] = "0",
    domain: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FeedOut:
    """Events after ``after``; pass back ``next`` to continue. An empty page keeps the cursor."""
    if not after.isdigit():
        raise ConcordError(f"after: {after!r} is not a cursor from this feed")
    if domain is not None and domain not in hub.config.domains:
        raise RecordNotFound(f"unknown domain {domain!r}")
    rows = queries.feed(session, int(after), domain, limit)
    cursor = str(rows[-1]["seq"]) if rows else after
    return FeedOut(events=[FeedItem(**r) for r in rows], next=cursor)
