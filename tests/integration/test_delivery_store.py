"""The delivery store's own lines to PostgreSQL: the connection its worker's thread keeps
between calls, and the leader lock's (hub/store/delivery_store.py).

A kept connection saves a checkout per call, but it must never hold a transaction open
between calls (its locks would block a migration, its snapshot vacuum), and one that broke
must be replaced, not used again. The leader's line must let go of the lock when closed, or
no other process could lead until this one exits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from hub.domain.delivery import Outcome
from hub.store import access, subscriptions
from hub.store.db import make_engine
from hub.store.delivery_store import SqlDeliveryStore
from hub.store.tables import OutboxRow
from hub.store.uow import admin_session

pytestmark = pytest.mark.postgres


def _sql(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(query, args).fetchall()  # type: ignore[arg-type]


@pytest.fixture
def store(pg_url: str) -> Iterator[SqlDeliveryStore]:
    engine = make_engine(pg_url)
    s = SqlDeliveryStore(engine)
    yield s
    s.close()
    engine.dispose()


def _backends(url: str) -> list[tuple[object, ...]]:
    """The connections to this test's database but our own: (pid, state)."""
    return _sql(
        url,
        "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )


def test_the_kept_connection_is_idle_between_calls(store: SqlDeliveryStore, pg_url: str) -> None:
    store.behind()
    store.due(datetime.now(UTC), lambda _: 10, set())
    store.record([])
    rows = _backends(pg_url)
    assert len(rows) == 1, rows  # one line kept, not one per call
    assert rows[0][1] == "idle", rows  # and no transaction left open on it


def test_a_broken_line_fails_one_call_and_the_next_takes_a_new_one(
    store: SqlDeliveryStore, pg_url: str
) -> None:
    store.behind()
    [(pid, _)] = _backends(pg_url)
    _sql(pg_url, "SELECT pg_terminate_backend(%s)", pid)
    with pytest.raises(DBAPIError):
        store.behind()
    assert store.behind() is False  # a new line: no subscription, nothing behind
    [(new, _)] = _backends(pg_url)
    assert new != pid


def test_a_closed_leader_line_lets_another_process_lead_at_once(pg_url: str) -> None:
    engines = [make_engine(pg_url), make_engine(pg_url)]
    first, second = (SqlDeliveryStore(e) for e in engines)
    try:
        one, other = first.leader_line(), second.leader_line()
        assert one is not None and other is not None
        assert one.take() and one.holds()
        assert not other.take()
        one.close()  # first's pool lives on: its old line must not keep the lock there
        assert other.take() and other.holds()
        other.close()
    finally:
        for s in (first, second):
            s.close()
        for e in engines:
            e.dispose()


def _one_due(store: SqlDeliveryStore, count: int) -> list[int]:
    """``count`` outbox events of as many golden records, fanned out to one subscription;
    the ids of their deliveries."""
    with admin_session(store.engine) as s:
        access.add_source(s, "crm", ["client"], None, None, {"client"})
        subscriptions.create_subscription(
            s,
            name="hook",
            kind="webhook",
            url="http://127.0.0.1:9/hook",
            domains=["client"],
            known_domains={"client"},
            start="beginning",
        )
        now = datetime.now(UTC)
        for seq in range(1, count + 1):
            s.add(
                OutboxRow(
                    seq=seq,
                    event_id=f"evt-{seq}",
                    domain="client",
                    golden_id=f"g-{seq}",
                    version=1,
                    type="concord.client.created",
                    payload={"id": f"evt-{seq}"},
                    created_at=now,
                )
            )
    assert store.fan_out(lambda _sub, _event: False, 100, lambda: True) == count
    _, due = store.due(datetime.now(UTC), lambda _: 100, set())
    return [d.delivery_id for d in due]


def test_recorded_successes_keep_what_the_receiver_answered(store: SqlDeliveryStore) -> None:
    """All of a group's successes go in one statement; each row keeps its own answer, a NUL
    in one is made storable, and a delivery no longer pending is left as it is."""
    first, second, third = _one_due(store, 3)
    at = datetime(2026, 12, 6, 9, 0, 0, 123000, tzinfo=UTC)
    store.record([Outcome(third, "", "dead", 500, "boom", at)])
    store.record(
        [
            Outcome(first, "", "delivered", 200, "ok", at),
            Outcome(second, "", "delivered", 204, "a\x00b", at),
            Outcome(third, "", "delivered", 202, "late", at),
        ]
    )
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, status, last_status, last_response, delivered_at, last_attempt_at"
            " FROM delivery ORDER BY id"
        ).all()
    assert [tuple(r) for r in rows] == [
        (first, "delivered", 200, "ok", at, at),
        (second, "delivered", 204, "a\ufffdb", at, at),
        (third, "dead", 500, "boom", None, at),
    ]
