"""More requests at once than the pool has connections: they queue, none fails (issue 19,
item 2).

A request used to check its key on a pooled read session it held to the end, then wait for a
second connection to write; with as many such requests as connections, every one waited on
another and the pool's timeout turned them all into 500s. A long poll held its read session
while it slept. The tests shrink the pool to two connections so that a handful of requests
shows what 17 did with the production pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.bootstrap import Hub
from hub.store import access
from hub.store.uow import admin_session
from tests.conftest import make_hub

POOL = {"db_pool_size": 2, "db_pool_overflow": 0, "db_pool_timeout_seconds": 3}


@pytest.fixture
def tight_hub(db_url: str) -> Iterator[Hub]:
    hub = make_hub(db_url, **POOL)
    yield hub
    hub.close()


def _keys(hub: Hub) -> tuple[str, str]:
    with admin_session(hub.engine) as s:
        crm = access.add_source(s, "crm", ["client"], None, None, set(hub.config.domains))
        reader = access.create_key(s, "reader", "subscriber")
    return crm, reader


async def _gather(hub: Hub, calls: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    app = create_app(hub, run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=60) as c:
        return await asyncio.gather(*(c.request(m, url, **kw) for m, url, kw in calls))


def test_concurrent_ingest_beyond_the_pool_all_accepted(tight_hub: Hub) -> None:
    crm, _ = _keys(tight_hub)
    calls = [
        (
            "POST",
            "/api/v1/changes",
            {
                "json": {"changes": [{"domain": "client", "key": f"C{i}", "attributes": {}}]},
                "headers": {"Authorization": f"Bearer {crm}"},
            },
        )
        for i in range(12)
    ]
    start = time.monotonic()
    answers = asyncio.run(_gather(tight_hub, calls))
    took = time.monotonic() - start
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] * 12, (codes, [r.text for r in answers if r.status_code != 202][:1])
    assert took < 10, f"12 requests on a pool of 2 took {took:.1f} s"


def test_long_polls_hold_no_connection_while_they_wait(tight_hub: Hub) -> None:
    """60 long polls on an empty feed and a write beside them: the write is answered while
    every poll still waits. Had the polls held the pool's connections, the write would wait
    for them (and be answered 503 or after the polls). No clock is read: only the order."""
    crm, reader = _keys(tight_hub)
    polls = [
        ("GET", "/api/v1/feed?wait=9", {"headers": {"Authorization": f"Bearer {reader}"}})
        for _ in range(60)
    ]

    async def run() -> tuple[int, bool]:
        app = create_app(tight_hub, run_worker=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=60) as c:
            waiting = asyncio.gather(*(c.request(m, u, **kw) for m, u, kw in polls))
            await asyncio.sleep(0.5)  # the polls are under way on an empty feed
            probe = await c.post(
                "/api/v1/changes",
                json={"changes": [{"domain": "client", "key": "P", "attributes": {}}]},
                headers={"Authorization": f"Bearer {crm}"},
            )
            still_waiting = not waiting.done()
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            return probe.status_code, still_waiting

    probe, still_waiting = asyncio.run(run())
    assert probe == 202
    assert still_waiting, "the write was answered only after the long polls"


def test_no_connection_free_for_the_timeout_is_503_with_retry_after(db_url: str) -> None:
    hub = make_hub(db_url, db_pool_size=1, db_pool_overflow=0, db_pool_timeout_seconds=1)
    try:
        crm, _ = _keys(hub)
        auth = {"Authorization": f"Bearer {crm}"}
        call = ("POST", "/api/v1/changes", {"json": {"changes": []}, "headers": auth})
        with hub.engine.connect():  # someone else holds the only connection
            (answer,) = asyncio.run(_gather(hub, [call]))
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
    finally:
        hub.close()
