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

from hub.domain.delivery import Outcome, Subscription
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


def _outbox(store: SqlDeliveryStore, count: int, names: tuple[str, ...] = ("hook",)) -> None:
    """``count`` outbox events of as many golden records, and a subscription per name."""
    with admin_session(store.engine) as s:
        access.add_source(s, "crm", ["client"], None, None, {"client"})
        for name in names:
            subscriptions.create_subscription(
                s,
                name=name,
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


def _one_due(store: SqlDeliveryStore, count: int) -> list[int]:
    """``count`` events fanned out to one subscription; the ids of their deliveries."""
    _outbox(store, count)
    assert store.fan_out(lambda _sub, _event: False, 100, lambda: True) == count
    _, due = store.due(datetime.now(UTC), lambda _: 100, set())
    return [d.delivery_id for d in due]


def test_fan_out_moves_every_cursor_but_a_broken_subscriptions(store: SqlDeliveryStore) -> None:
    """A paused subscription collects its deliveries and moves on; one whose fan-out failed
    keeps its cursor (and gets nothing), so it is tried again; a deposed leader moves none."""
    _outbox(store, 3, ("active", "broken", "paused"))
    with admin_session(store.engine) as s:
        subscriptions.set_status(s, "paused", "paused", "test")

    def skip(sub: Subscription, _event: dict[str, object]) -> bool:
        if sub.name == "broken":
            raise RuntimeError("a broken echo rule")
        return False

    assert store.fan_out(skip, 100, lambda: False) == 0  # not the leader: rolled back
    assert _cursors(store) == {"active": 0, "broken": 0, "paused": 0}
    assert store.fan_out(skip, 100, lambda: True) == 6
    assert _cursors(store) == {"active": 3, "broken": 0, "paused": 3}
    assert store.fan_out(skip, 100, lambda: True) == 0  # the broken one is tried again
    assert _cursors(store) == {"active": 3, "broken": 0, "paused": 3}


def _cursors(store: SqlDeliveryStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name, cursor FROM subscription").all()
    return {name: cursor for name, cursor in rows}


def test_closing_lets_go_of_every_connection_and_a_later_call_starts_afresh(
    store: SqlDeliveryStore, pg_url: str
) -> None:
    store.behind()
    assert len(_backends(pg_url)) == 1
    store.close()
    assert _backends(pg_url) == []
    assert store.behind() is False  # a new line, not the closed one
    assert len(_backends(pg_url)) == 1


def test_a_call_inside_another_is_refused(store: SqlDeliveryStore) -> None:
    """A callback that asked the store would end the outer call's transaction and its
    locks on the subscriptions: refused, and the outer call's line is dropped."""
    _outbox(store, 1)
    with pytest.raises(AssertionError, match="inside another"):
        store.fan_out(lambda _sub, _event: False, 100, store.behind)
    assert _cursors(store) == {"hook": 0}
    assert store.fan_out(lambda _sub, _event: False, 100, lambda: True) == 1


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
