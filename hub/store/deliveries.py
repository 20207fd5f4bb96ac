"""Subscriptions and their deliveries, in the database, so a killed worker loses nothing.

The path of an event: the outbox row is fanned out into one ``delivery`` row per interested
subscription (set-based: one outbox read and one bulk insert per batch, one cursor per
subscription over ``outbox.seq``); the worker takes the due deliveries that are the oldest
undelivered one of their golden record for their subscription (so a record never overtakes
itself, and a stuck record holds up only itself); it sends them and writes the outcome. A crash
between the send and the write means the event is sent again, with the same id: at least once.
"""

from __future__ import annotations

import base64
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from hub.domain.errors import ConcordError, RecordNotFound
from hub.store.access import audit
from hub.store.tables import DeliveryRow, OutboxRow, SourceSystem, SubscriptionRow

log = logging.getLogger("concord.deliveries")

KINDS = ("webhook", "kafka")
STATUSES = ("active", "paused", "disabled")
RESPONSE_KEPT = 2000  # characters of a receiver's response body kept on the delivery

Skip = Callable[[SubscriptionRow, dict[str, Any]], bool]


class InvalidSubscription(ConcordError):
    """A subscription that cannot be made as asked (the API answers 422)."""


class SubscriptionExists(ConcordError):
    """A subscription of that name exists (the API answers 409)."""


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _now() -> datetime:
    return datetime.now(UTC)


def create_subscription(
    session: Session,
    *,
    name: str,
    kind: str,
    url: str,
    domains: Sequence[str],
    known_domains: set[str],
    source: str | None = None,
    echo: bool = False,
    personal: bool = False,
    start: str = "now",
    actor: str = "cli",
) -> tuple[SubscriptionRow, str]:
    """A new subscription and its secret (returned once here; kept to sign requests).

    ``start="now"`` sends changes committed from now on (history is in the feed);
    ``"beginning"`` sends the whole outbox.
    """
    if kind not in KINDS:
        raise InvalidSubscription(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "webhook" and not url.startswith(("http://", "https://")):
        raise InvalidSubscription(f"url {url!r}: expected an http:// or https:// URL")
    if kind == "kafka" and not url.startswith("kafka://"):
        raise InvalidSubscription(f"url {url!r}: expected kafka://HOST:PORT/PREFIX")
    if not domains:
        raise InvalidSubscription("domains: name at least one domain")
    for d in domains:
        if d not in known_domains:
            raise InvalidSubscription(f"domains: unknown domain {d!r}")
    if source is not None and session.get(SourceSystem, source) is None:
        raise InvalidSubscription(f"source: no source system {source!r}")
    if start not in ("now", "beginning"):
        raise InvalidSubscription("start: expected 'now' or 'beginning'")
    if session.scalar(select(SubscriptionRow.id).where(SubscriptionRow.name == name)):
        raise SubscriptionExists(f"a subscription named {name!r} exists already")
    cursor = 0
    if start == "now":
        cursor = session.scalar(select(func.coalesce(func.max(OutboxRow.seq), 0))) or 0
    secret, now = new_secret(), _now()
    row = SubscriptionRow(
        id=str(uuid.uuid4()),
        name=name,
        kind=kind,
        url=url,
        domains=list(domains),
        source=source,
        echo=echo,
        personal=personal,
        status="active",
        secret=secret,
        cursor=cursor,
        failed_attempts=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    detail: dict[str, Any] = {
        "id": row.id,
        "name": name,
        "url": url,
        "domains": list(domains),
        "source": source,
    }
    if personal:
        detail["personal"] = True
    audit(session, actor, "subscription.create", detail)
    return row, secret


def get_subscription(session: Session, ref: str) -> SubscriptionRow:
    """By id, else by name."""
    row = session.get(SubscriptionRow, ref) or session.scalar(
        select(SubscriptionRow).where(SubscriptionRow.name == ref)
    )
    if row is None:
        raise RecordNotFound(f"no subscription {ref}")
    return row


def list_subscriptions(session: Session) -> list[SubscriptionRow]:
    return list(session.scalars(select(SubscriptionRow).order_by(SubscriptionRow.name)))


def set_status(
    session: Session, ref: str, status: str, reason: str | None, actor: str = "cli"
) -> SubscriptionRow:
    """Pause, resume (active) or disable. Paused and disabled subscriptions keep collecting
    deliveries, so a resume sends everything they missed, in order."""
    assert status in STATUSES
    row = get_subscription(session, ref)
    row.status, row.status_reason, row.updated_at = status, reason, _now()
    audit(session, actor, f"subscription.{status}", {"id": row.id, "reason": reason})
    return row


def delete_subscription(session: Session, ref: str, actor: str = "cli") -> None:
    row = get_subscription(session, ref)
    session.execute(delete(DeliveryRow).where(DeliveryRow.subscription_id == row.id))
    session.delete(row)
    audit(session, actor, "subscription.delete", {"id": row.id, "name": row.name})


def rotate_secret(
    session: Session, ref: str, overlap_seconds: float, actor: str = "cli"
) -> tuple[SubscriptionRow, str]:
    """A new secret; the old one keeps signing (a second signature) for ``overlap_seconds``."""
    row = get_subscription(session, ref)
    secret, now = new_secret(), _now()
    row.previous_secret, row.secret = row.secret, secret
    row.previous_secret_until = now + timedelta(seconds=overlap_seconds)
    row.updated_at = now
    audit(session, actor, "subscription.rotate-secret", {"id": row.id})
    return row, secret


def fan_out(session: Session, skip: Skip, batch: int = 1000) -> int:
    """Turn outbox rows past the subscriptions' cursors into deliveries; how many were made.

    Every subscription advances over the rows read, whatever its status, so a paused one
    resumes where it was and nothing committed while it was paused is lost.
    """
    stmt = select(SubscriptionRow).order_by(SubscriptionRow.id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # an API replay that lowers a cursor waits for us
    subs = list(session.scalars(stmt))
    if not subs:
        return 0
    low = min(s.cursor for s in subs)
    rows = session.execute(
        select(OutboxRow.seq, OutboxRow.event_id, OutboxRow.domain, OutboxRow.golden_id)
        .add_columns(OutboxRow.payload)
        .where(OutboxRow.seq > low)
        .order_by(OutboxRow.seq)
        .limit(batch)
    ).all()
    if not rows:
        return 0
    now, last = _now(), rows[-1].seq
    new: list[dict[str, Any]] = []
    for sub in subs:
        try:
            wanted = set(sub.domains)
            mine = [
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
                if r.seq > sub.cursor and r.domain in wanted and not skip(sub, r.payload)
            ]
        except Exception:  # one broken subscription keeps its cursor; the others go on
            log.exception("fanning out to subscription %s failed; its cursor stays", sub.name)
            continue
        new += mine
        sub.cursor = max(sub.cursor, last)
    if new:
        # A replay from a cursor lowers it, so a row may exist already: keep that one.
        ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(ins(DeliveryRow).on_conflict_do_nothing(), new)
    session.flush()
    return len(new)


@dataclass(frozen=True)
class Due:
    """A delivery to send now, with what is needed to send it."""

    delivery_id: int
    seq: int
    event_id: str
    golden_id: str
    attempts: int
    subscription: SubscriptionRow
    payload: dict[str, Any]
    correlation_id: str | None = None


def due(session: Session, now: datetime, limit: int) -> list[Due]:
    """Due deliveries of active subscriptions that have no earlier undelivered delivery of the
    same golden record: at most one per record, so sending them all at once keeps order."""
    earlier = aliased(DeliveryRow)
    blocked = exists().where(
        earlier.subscription_id == DeliveryRow.subscription_id,
        earlier.golden_id == DeliveryRow.golden_id,
        earlier.seq < DeliveryRow.seq,
        earlier.status != "delivered",
    )
    rows = session.execute(
        select(DeliveryRow, SubscriptionRow, OutboxRow.payload, OutboxRow.correlation_id)
        .join(SubscriptionRow, SubscriptionRow.id == DeliveryRow.subscription_id)
        .join(OutboxRow, OutboxRow.seq == DeliveryRow.seq)
        .where(
            DeliveryRow.status == "pending",
            DeliveryRow.next_attempt_at <= now,
            SubscriptionRow.status == "active",
            ~blocked,
        )
        .order_by(DeliveryRow.seq)
        .limit(limit)
    ).all()
    return [
        Due(d.id, d.seq, d.event_id, d.golden_id, d.attempts, sub, payload, cid)
        for d, sub, payload, cid in rows
    ]


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to. ``status`` is delivered, pending (retry at ``retry_at``),
    dead, or gone (the receiver said 410: the subscription is disabled, the delivery waits)."""

    delivery_id: int
    subscription_id: str
    status: str
    http_status: int | None
    response: str
    at: datetime
    retry_at: datetime | None = None


def _kept(response: str) -> str:
    """The start of a response, storable: PostgreSQL text refuses NUL, and one receiver's NUL
    must not fail the write of the whole round's outcomes (which would send them all again)."""
    return response[:RESPONSE_KEPT].replace("\x00", "\ufffd")


def record(session: Session, outcomes: Sequence[Outcome]) -> None:
    """Write the outcomes of one round of sends (a few statements, not one per row kind).

    The successes, nearly all of a round, are one executemany statement: one UPDATE round trip
    per delivery held SQLite's write lock long enough to cap delivery at a few hundred a second.
    """
    delivered = [o for o in outcomes if o.status == "delivered"]
    if delivered:
        table = cast(Table, DeliveryRow.__table__)
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("d_id"), table.c.status == "pending")
            .values(
                status="delivered",
                delivered_at=bindparam("d_at"),
                last_attempt_at=bindparam("d_at"),
                last_status=bindparam("d_status"),
                last_response=bindparam("d_response"),
            ),
            [
                {
                    "d_id": o.delivery_id,
                    "d_at": o.at,
                    "d_status": o.http_status,
                    "d_response": _kept(o.response),
                }
                for o in delivered
            ],
        )
    for o in outcomes:
        if o.status == "delivered":
            continue
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
        session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == o.delivery_id, DeliveryRow.status == "pending")
            .values(**values)
        )
    by_sub: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_sub.setdefault(o.subscription_id, []).append(o)
    for sub_id, items in by_sub.items():
        values = {}
        ok = [o.at for o in items if o.status == "delivered"]
        failed = sum(o.status in ("pending", "dead", "gone") for o in items)
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
            session.execute(
                update(SubscriptionRow).where(SubscriptionRow.id == sub_id).values(**values)
            )


def replay(
    session: Session,
    ref: str,
    *,
    event_id: str | None = None,
    dead: bool = False,
    after: int | None = None,
    actor: str = "cli",
) -> int:
    """Send again: one event, every dead delivery, or everything after an outbox cursor.

    Replaying one event also re-sends the later deliveries of the same record, so the
    subscriber still ends on the newest version. How many deliveries were reset is returned
    (a replay from a cursor also fills in events the subscription never had a delivery for).
    """
    if sum((event_id is not None, dead, after is not None)) != 1:
        raise ConcordError("replay: name one of an event id, dead deliveries, or a cursor")
    sub = get_subscription(session, ref)
    reset = {"status": "pending", "attempts": 0, "next_attempt_at": _now()}
    mine = DeliveryRow.subscription_id == sub.id
    if event_id is not None:
        target = session.execute(
            select(DeliveryRow.golden_id, DeliveryRow.seq).where(
                mine, DeliveryRow.event_id == event_id
            )
        ).first()
        if target is None:
            raise RecordNotFound(f"subscription {sub.name} has no delivery of event {event_id}")
        where = and_(mine, DeliveryRow.golden_id == target.golden_id, DeliveryRow.seq >= target.seq)
    elif dead:
        where = and_(mine, DeliveryRow.status == "dead")
    else:
        assert after is not None
        if after < 0:
            raise ConcordError("replay: the cursor must not be negative")
        where = and_(mine, DeliveryRow.seq > after)
        session.execute(
            update(SubscriptionRow)
            .where(SubscriptionRow.id == sub.id, SubscriptionRow.cursor > after)
            .values(cursor=after)
        )
    count = int(session.execute(update(DeliveryRow).where(where).values(**reset)).rowcount)  # type: ignore[attr-defined]
    detail = {"id": sub.id, "event_id": event_id, "dead": dead, "after": after, "count": count}
    audit(session, actor, "subscription.replay", detail)
    return count


def list_deliveries(
    session: Session, ref: str | None, status: str | None, limit: int
) -> list[tuple[DeliveryRow, str]]:
    """Deliveries with their subscription's name, newest first."""
    stmt = select(DeliveryRow, SubscriptionRow.name).join(
        SubscriptionRow, SubscriptionRow.id == DeliveryRow.subscription_id
    )
    if ref is not None:
        stmt = stmt.where(DeliveryRow.subscription_id == get_subscription(session, ref).id)
    if status is not None:
        stmt = stmt.where(DeliveryRow.status == status)
    rows = session.execute(stmt.order_by(DeliveryRow.seq.desc()).limit(limit)).all()
    return [(d, name) for d, name in rows]


def state(session: Session) -> dict[str, dict[str, Any]]:
    """Per subscription id: deliveries by status, lag in events, failures, last success.

    Lag counts what the subscriber has not received yet: pending and dead deliveries plus
    outbox rows of its domains not fanned out yet (echoes among those count until fanned out).
    """
    counts: dict[str, dict[str, int]] = {}
    for sub_id, status, n in session.execute(
        select(DeliveryRow.subscription_id, DeliveryRow.status, func.count()).group_by(
            DeliveryRow.subscription_id, DeliveryRow.status
        )
    ):
        counts.setdefault(sub_id, {})[status] = n
    out: dict[str, dict[str, Any]] = {}
    for sub in list_subscriptions(session):
        c = counts.get(sub.id, {})
        unfanned = session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.seq > sub.cursor, OutboxRow.domain.in_(sub.domains))
        )
        out[sub.id] = {
            "name": sub.name,
            "status": sub.status,
            "cursor": sub.cursor,
            "pending": c.get("pending", 0),
            "delivered": c.get("delivered", 0),
            "dead": c.get("dead", 0),
            "lag": c.get("pending", 0) + c.get("dead", 0) + int(unfanned or 0),
            "failed_attempts": sub.failed_attempts,
            "last_success_at": sub.last_success_at,
        }
    return out
