"""One deliverer at a time on PostgreSQL, also after the leader's lock connection is lost
(issue 19, item 6): the leader re-checks its lock before every round and before it writes, and
a process that takes over waits out the old leader's round, so no event goes out twice."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from connectors.outbound.worker import DeliveryWorker
from hub.store.delivery_store import LEADER_LOCK
from tests.conftest import Api, ChangeFactory
from tests.integration.test_webhooks import Receiver, subscribe, worker_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()

    def slow(_: int, __: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        time.sleep(0.2)  # long enough for two senders to read the same due deliveries
        return 200, {}, "ok"

    r.behaviour = slow
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _lock_holder(url: str) -> int | None:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (LEADER_LOCK,),
        ).fetchone()
    return None if row is None else int(row[0])


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _wait(what: str, done: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_deposed_leader_stops_and_no_event_is_sent_twice(
    api: Api, change: ChangeFactory, receiver: Receiver
) -> None:
    subscribe(api, receiver)
    url = api.hub.settings.database_url
    settings = {"delivery_idle_seconds": 0.05}
    first: DeliveryWorker = worker_for(api, **settings)
    first.start()
    _wait("the first worker to lead", lambda: _lock_holder(url) is not None)
    second: DeliveryWorker = worker_for(api, **settings)
    second.start()
    try:
        r = api.post("crm", change("client", "C-0", name="Zero Ltd"))
        assert r.status_code == 202  # type: ignore[attr-defined]
        api.apply()
        _wait("the first event", lambda: len(receiver.delivered()) == 1)
        holder = _lock_holder(url)
        assert holder is not None
        _terminate(url, holder)  # the leader's lock connection is lost; the lock is free
        _wait("a new leader", lambda: _lock_holder(url) not in (None, holder))
        for i in range(1, 7):
            r = api.post("crm", change("client", f"C-{i}", name=f"Company {i} Ltd"))
            assert r.status_code == 202  # type: ignore[attr-defined]
            api.apply()
        _wait("all seven events", lambda: len({r["id"] for r in receiver.delivered()}) == 7)
        time.sleep(1.0)  # anything a second leader would still send
    finally:
        first.stop()
        second.stop()
    sent = Counter(r["id"] for r in receiver.requests)
    assert sent and max(sent.values()) == 1, sent
