"""GET /api/v1/feed: golden-record events in commit order, the simplest way to subscribe.

``wait=SECONDS`` makes it a long poll: an empty page is held until an event exists or the wait
is over, so a subscriber gets changes within a poll interval without hammering the API. The
wait polls the outbox (``CONCORD_FEED_POLL_SECONDS``) because another process may write it;
it sleeps on the event loop, so a thousand waiting subscribers hold no threads, and each
look at the outbox takes a connection and gives it back, so they hold no connections either
(issue 19, item 2).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from hub.api.deps import Caller, HubDep
from hub.api.schemas import ERRORS, FeedItem, FeedOut
from hub.domain.errors import ConcordError, RecordNotFound
from hub.domain.redaction import event_domain, redact_event
from hub.domain.validation import MAX_INT
from hub.store import queries
from hub.store.uow import session_factory

router = APIRouter(prefix="/api/v1", tags=["feed"])
# Under the 10 s read timeout many HTTP clients default to: a long poll must not look like a
# dead server. Clients loop anyway, so a short hold costs one request every 9 s when idle.
MAX_WAIT = 9.0


@router.get("/feed", response_model=FeedOut, responses=ERRORS)
async def get_feed(
    caller: Caller,
    hub: HubDep,
    after: Annotated[str, Query(max_length=30)] = "0",
    domain: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT, description="Seconds to hold an empty page")
    ] = 0,
) -> FeedOut:
    """Events after ``after``; pass back ``next`` to continue. An empty page keeps the cursor.

    Only the domains the key reads, without the personal fields it is not granted.
    """
    if not after.isdigit() or int(after) > MAX_INT:  # no outbox row is numbered past 64 bits
        raise ConcordError(f"after: {after!r:.40} is not a cursor from this feed")
    if domain is not None and domain not in hub.config.domains:
        raise RecordNotFound(f"unknown domain {domain!r}")
    if domain is not None:
        caller.may_read(domain)
    domains: list[str] | None = None  # every domain: no filter, the outbox's own order
    if domain is not None:
        domains = [domain]
    elif caller.read_domains is not None:
        domains = caller.readable(hub.config.domains)
    personal = hub.config.personal_fields
    deadline = time.monotonic() + wait
    factory = session_factory(hub.engine, readonly=True)

    def page() -> list[dict[str, Any]]:
        # A new transaction each time: on SQLite one is a snapshot that never sees new rows.
        with factory() as session:
            return queries.feed(session, int(after), domains, limit)

    while True:
        rows = await run_in_threadpool(page)
        if rows or time.monotonic() >= deadline:
            break
        await asyncio.sleep(min(hub.settings.feed_poll_seconds, deadline - time.monotonic()))
    cursor = str(rows[-1]["seq"]) if rows else after
    events = [
        FeedItem(
            seq=r["seq"],
            event=redact_event(
                r["event"], caller.hidden(personal.get(event_domain(r["event"]), frozenset()))
            ),
        )
        for r in rows
    ]
    return FeedOut(events=events, next=cursor)
