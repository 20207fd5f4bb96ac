"""The delivery queue, in the database, so a killed worker loses nothing.

The path of an event: the outbox row is fanned out into one ``delivery`` row per interested
subscription (set-based: one outbox read and one bulk insert per batch, one cursor per
subscription over ``outbox.seq``); the worker takes, per subscription, the due deliveries that
are the oldest undelivered one of their golden record (so a record never overtakes itself, and
a stuck record holds up only itself); it sends them and writes the outcome. A crash between the
send and the write means the event is sent again, with the same id: at least once.

What an admin does to a subscription (create, pause, replay, state) is
``hub.store.subscriptions``; its names are re-exported here for the callers that knew them here.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, Connection, Table, bindparam, exists, func, literal, select, update

from hub.domain.delivery import RESPONSE_KEPT, Due, Outcome, Skip, Subscription
from hub.store.sql import insert_ignoring
from hub.store.subscriptions import (
    KINDS,
    STATUSES,
    InvalidSubscription,
    SubscriptionExists,
    create_subscription,
    delete_subscription,
    get_subscription,
    list_deliveries,
    list_subscriptions,
    new_secret,
    replay,
    rotate_secret,
    set_status,
    state,
    subscription_of,
)
from hub.store.tables import DeliveryRow, OutboxRow, SubscriptionRow

__all__ = [
    "KINDS",
    "RESPONSE_KEPT",
    "STATUSES",
    "Due",
    "InvalidSubscription",
    "Outcome",
    "SubscriptionExists",
    "active_subscriptions",
    "behind",
    "create_subscription",
    "delete_subscription",
    "due",
    "fan_out",
    "get_subscription",
    "list_deliveries",
    "list_subscriptions",
    "new_secret",
    "record",
    "replay",
    "rotate_secret",
    "set_status",
    "state",
]

log = logging.getLogger("concord.deliveries")


# The statements a delivery cycle runs, built once with their parameters as bind values: the
# due read cost 0.5 ms to build and 0.1 ms to key for the statement cache on every cycle, a
# tenth of delivery's CPU at 1,000 events/s (docs/architecture.md, "Where latency comes from").
_D = cast(Table, DeliveryRow.__table__)
_O = cast(Table, OutboxRow.__table__)
_S = cast(Table, SubscriptionRow.__table__)
_EARLIER = _D.alias("earlier")
_DUE = (
    select(
        _D.c.id,
        _D.c.seq,
        _D.c.event_id,
        _D.c.golden_id,
        _D.c.attempts,
        _O.c.payload,
        _O.c.correlation_id,
        _D.c.replays,
    )
    .join(_O, _O.c.seq == _D.c.seq)
    .where(
        _D.c.subscription_id == bindparam("sub_id"),
        _D.c.status == "pending",
        _D.c.next_attempt_at <= bindparam("now"),
        ~exists().where(
            _EARLIER.c.subscription_id == _D.c.subscription_id,
            _EARLIER.c.golden_id == _D.c.golden_id,
            _EARLIER.c.seq < _D.c.seq,
            _EARLIER.c.status != "delivered",
        ),
    )
    .order_by(_D.c.seq)
    .limit(bindparam("limit"))
)
# what the worker holds of a subscription (``subscription_of``), and its cursor
_SUB = (
    _S.c.id,
    _S.c.name,
    _S.c.kind,
    _S.c.url,
    _S.c.domains,
    _S.c.source,
    _S.c.echo,
    _S.c.personal,
    _S.c.secret,
    _S.c.previous_secret,
    _S.c.previous_secret_until,
    _S.c.cursor,
)
_ACTIVE = select(*_SUB).where(_S.c.status == "active")
_SUBS = select(*_SUB).order_by(_S.c.id)
_SUBS_LOCKED = _SUBS.with_for_update()
_NEWS = {  # echo: whether the payload is read too
    echo: select(
        _O.c.seq,
        _O.c.event_id,
        _O.c.domain,
        _O.c.golden_id,
        _O.c.payload if echo else literal(None, JSON).label("payload"),
    )
    .where(_O.c.seq > bindparam("low"))
    .order_by(_O.c.seq)
    .limit(bindparam("batch"))
    for echo in (False, True)
}
_MOVE_CURSORS = (
    update(_S)
    .where(_S.c.id.in_(bindparam("ids", expanding=True)), _S.c.cursor < bindparam("last"))
    .values(cursor=bindparam("last"))
)
_DELIVERED = (
    update(_D)
    .where(
        _D.c.id == bindparam("d_id"),
        _D.c.status == "pending",
        _D.c.replays == bindparam("d_replays"),
    )
    .values(
        status="delivered",
        delivered_at=bindparam("d_at"),
        last_attempt_at=bindparam("d_at"),
        last_status=bindparam("d_status"),
        last_response=bindparam("d_response"),
    )
)
_SUCCEEDED = (
    update(_S).where(_S.c.id == bindparam("s_id")).values(last_success_at=bindparam("s_at"))
)


# the top of the outbox is past the lowest cursor (NULL, so false, when either is missing)
_BEHIND = select(
    select(func.max(_O.c.seq)).scalar_subquery() > select(func.min(_S.c.cursor)).scalar_subquery()
)


def _now() -> datetime:
    return datetime.now(UTC)


def behind(conn: Connection) -> bool:
    """Whether some subscription's cursor is behind the outbox: one read."""
    return bool(conn.scalar(_BEHIND))


def fan_out(conn: Connection, skip: Skip, batch: int = 1000) -> int:
    """Turn outbox rows past the subscriptions' cursors into deliveries; how many were made.

    Every subscription advances over the rows read, whatever its status, so a paused one
    resumes where it was and nothing committed while it was paused is lost.
    """
    # the rows are locked (on PostgreSQL; SQLite has one writer): an API replay that lowers a
    # cursor waits for us
    subs = conn.execute(_SUBS_LOCKED).all()
    if not subs:
        return 0
    low = min(s.cursor for s in subs)
    # the event itself is read only if a subscription's echo rule must look into it
    echo = any(s.source is not None and not s.echo for s in subs)
    rows = conn.execute(_NEWS[echo], {"low": low, "batch": batch}).all()
    if not rows:
        return 0
    now, last = _now(), rows[-1].seq
    new: list[dict[str, Any]] = []
    moved: list[str] = []
    for sub in subs:
        try:
            seen, wanted = subscription_of(sub), set(sub.domains)
            new += [
                {
                    "subscription_id": sub.id,
                    "seq": r.seq,
                    "event_id": r.event_id,
                    "golden_id": r.golden_id,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for r in rows
                if r.seq > sub.cursor and r.domain in wanted and not skip(seen, r.payload)
            ]
        except Exception:  # one broken subscription keeps its cursor; the others go on
            log.exception("fanning out to subscription %s failed; its cursor stays", sub.name)
            continue
        if sub.cursor < last:
            moved.append(sub.id)
    if new:
        # A replay from a cursor lowers it, so a row may exist already: keep that one.
        conn.execute(insert_ignoring(conn, DeliveryRow), new)
    if moved:
        conn.execute(_MOVE_CURSORS, {"ids": moved, "last": last})
    return len(new)


def active_subscriptions(conn: Connection) -> list[Subscription]:
    return [subscription_of(r) for r in conn.execute(_ACTIVE)]


def due(
    conn: Connection,
    sub: Subscription,
    now: datetime,
    limit: int,
    held: Collection[int] = (),
) -> list[Due]:
    """Up to ``limit`` due deliveries of ``sub`` that have no earlier undelivered delivery of
    the same golden record (at most one per record, so sending them all at once keeps order),
    leaving out those in ``held`` (in flight: they block their own records all the same).
    Columns, not the mapped row: an ORM object and its four timestamps converted for every
    delivery, only to read five fields (docs/architecture.md, "Delivery: a pipeline")."""
    rows = conn.execute(_DUE, {"sub_id": sub.id, "now": now, "limit": limit + len(held)})
    out = [
        Due(d_id, seq, event_id, golden_id, attempts, sub, payload, cid, replays)
        for d_id, seq, event_id, golden_id, attempts, payload, cid, replays in rows
        if d_id not in held
    ]
    return out[:limit]


def _kept(response: str) -> str:
    """The start of a response, storable: PostgreSQL text refuses NUL, and one receiver's NUL
    must not fail the write of the whole round's outcomes (which would send them all again)."""
    return response[:RESPONSE_KEPT].replace("\x00", "\ufffd")


def _record_delivered(conn: Connection, delivered: Sequence[Outcome]) -> None:
    """The successes, nearly all outcomes, in one executemany statement: one UPDATE round trip
    per delivery held SQLite's write lock long enough to cap delivery at a few hundred a second.
    (An ``UPDATE ... FROM unnest`` on PostgreSQL measured no faster, so there is one path.)"""
    if delivered:
        rows = [
            {
                "d_id": o.delivery_id,
                "d_at": o.at,
                "d_status": o.http_status,
                "d_response": _kept(o.response),
                "d_replays": o.replays,
            }
            for o in delivered
        ]
        conn.execute(_DELIVERED, rows)


def _record_failed(conn: Connection, o: Outcome) -> None:
    values: dict[str, Any] = {
        "last_status": o.http_status,
        "last_response": _kept(o.response),
        "last_attempt_at": o.at,
    }
    if o.status in ("pending", "dead"):
        values |= {"status": o.status, "attempts": DeliveryRow.attempts + 1}
        if o.retry_at is not None:
            values["next_attempt_at"] = o.retry_at
    # "gone": the delivery stays pending and is sent first when the subscription resumes
    conn.execute(
        update(DeliveryRow)
        .where(
            DeliveryRow.id == o.delivery_id,
            DeliveryRow.status == "pending",
            DeliveryRow.replays == o.replays,
        )
        .values(**values)
    )


def _record_subscription(conn: Connection, sub_id: str, items: Sequence[Outcome]) -> None:
    """A subscription's last success, failure count, and the 410 that disables it."""
    values: dict[str, Any] = {}
    ok = [o.at for o in items if o.status == "delivered"]
    failed = sum(o.status in ("pending", "dead", "gone") for o in items)
    if ok and not failed:  # the common case, in a statement built once
        conn.execute(_SUCCEEDED, {"s_id": sub_id, "s_at": max(ok)})
        return
    if ok:
        values["last_success_at"] = max(ok)
    if failed:
        values["failed_attempts"] = SubscriptionRow.failed_attempts + failed
    gone = [o for o in items if o.status == "gone"]
    if gone:
        values |= {
            "status": "disabled",
            "status_reason": f"the receiver answered 410 Gone at {gone[0].at.isoformat()}",
            "updated_at": gone[0].at,
        }
    if values:
        conn.execute(update(SubscriptionRow).where(SubscriptionRow.id == sub_id).values(**values))


def record(conn: Connection, outcomes: Collection[Outcome]) -> None:
    """Write the outcomes of a group of sends (a few statements, not one per row kind).

    The subscription rows are written first, in id order (which locks them), then their
    delivery rows: the order of fan-out and of an admin's replay or delete, so none of them
    deadlocks with another (docs/architecture.md, "Locks"). Writing them first costs no extra
    round trip, where a ``SELECT ... FOR UPDATE`` before them cost a quarter of the throughput.
    """
    by_sub: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_sub.setdefault(o.subscription_id, []).append(o)
    for sub_id in sorted(by_sub):
        _record_subscription(conn, sub_id, by_sub[sub_id])
    _record_delivered(conn, [o for o in outcomes if o.status == "delivered"])
    for o in outcomes:
        if o.status != "delivered":
            _record_failed(conn, o)
