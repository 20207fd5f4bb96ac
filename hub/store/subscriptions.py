"""Subscriptions as an admin sees them: made, paused, rotated, replayed, watched.

The delivery queue itself (fan-out, due deliveries, outcomes) is ``hub.store.deliveries``;
this module holds what the API and the CLI do to a subscription, each in the caller's
transaction, each audited.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.orm import Session

from hub.domain.delivery import Subscription
from hub.domain.errors import ConcordError, RecordNotFound
from hub.store.access import audit
from hub.store.tables import DeliveryRow, OutboxRow, SourceSystem, SubscriptionRow

KINDS = ("webhook", "kafka")
STATUSES = ("active", "paused", "disabled")


class InvalidSubscription(ConcordError):
    """A subscription that cannot be made as asked (the API answers 422)."""


class SubscriptionExists(ConcordError):
    """A subscription of that name exists (the API answers 409)."""


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _now() -> datetime:
    return datetime.now(UTC)


def subscription_of(row: Any) -> Subscription:
    """The worker's frozen copy of a row (a mapped ``SubscriptionRow``, or a row of its
    columns): it crosses threads and outlives the session."""
    return Subscription(
        id=row.id,
        name=row.name,
        kind=row.kind,
        url=row.url,
        domains=tuple(row.domains),
        source=row.source,
        echo=bool(row.echo),
        personal=bool(row.personal),
        secret=row.secret,
        previous_secret=row.previous_secret,
        previous_secret_until=row.previous_secret_until,
    )


def _check_new(
    session: Session,
    name: str,
    kind: str,
    url: str,
    domains: Sequence[str],
    known_domains: set[str],
    source: str | None,
    start: str,
) -> None:
    """Refuse a subscription that cannot be made, naming the field, before anything is written."""
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
    _check_new(session, name, kind, url, domains, known_domains, source, start)
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
    detail: dict[str, Any] = {"id": row.id, "name": name, "url": url}
    detail |= {"domains": list(domains), "source": source}
    if personal:
        detail["personal"] = True
    audit(session, actor, "subscription.create", detail)
    return row, secret


def get_subscription(session: Session, ref: str, lock: bool = False) -> SubscriptionRow:
    """By id, else by name; ``lock``: row-locked, before its deliveries (docs/architecture.md,
    "Locks": the subscription row first, then its delivery rows)."""
    by_name = select(SubscriptionRow).where(SubscriptionRow.name == ref)
    if lock:
        by_name = by_name.with_for_update()
    row = session.get(SubscriptionRow, ref, with_for_update=lock) or session.scalar(by_name)
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
    row = get_subscription(session, ref, lock=True)
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


def _replayed(
    session: Session, sub: SubscriptionRow, event_id: str | None, dead: bool, after: int | None
) -> ColumnElement[bool]:
    """Which deliveries a replay resets (a replay from a cursor also lowers the cursor)."""
    mine = DeliveryRow.subscription_id == sub.id
    if event_id is not None:
        target = session.execute(
            select(DeliveryRow.golden_id, DeliveryRow.seq).where(
                mine, DeliveryRow.event_id == event_id
            )
        ).first()
        if target is None:
            raise RecordNotFound(f"subscription {sub.name} has no delivery of event {event_id}")
        return and_(mine, DeliveryRow.golden_id == target.golden_id, DeliveryRow.seq >= target.seq)
    if dead:
        return and_(mine, DeliveryRow.status == "dead")
    assert after is not None
    if after < 0:
        raise ConcordError("replay: the cursor must not be negative")
    session.execute(
        update(SubscriptionRow)
        .where(SubscriptionRow.id == sub.id, SubscriptionRow.cursor > after)
        .values(cursor=after)
    )
    return and_(mine, DeliveryRow.seq > after)


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
    sub = get_subscription(session, ref, lock=True)
    # counted, so the outcome of a request in flight now is not written over the reset
    reset = {
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": _now(),
        "replays": DeliveryRow.replays + 1,
    }
    where = _replayed(session, sub, event_id, dead, after)
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
