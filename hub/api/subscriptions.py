"""/api/v1/subscriptions: who receives golden-record changes, and how their deliveries stand.

Admin keys only: a subscription holds a signing secret and decides where the firm's master
data goes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from connectors.outbound.kafka import KafkaTargetError, parse_target
from connectors.outbound.targets import MAX_URL, InvalidTarget, check_creation, check_text
from hub.api.deps import Caller, HubDep, ReadSession
from hub.api.schemas import ERRORS
from hub.domain.access import Principal
from hub.domain.admin import Subscription, SubscriptionSecret
from hub.domain.commands import (
    CreateSubscription,
    DeleteSubscription,
    ReplayDeliveries,
    RotateSubscriptionSecret,
    SetSubscriptionStatus,
)
from hub.domain.errors import Forbidden
from hub.store import queries
from hub.store.deliveries import InvalidSubscription, SubscriptionExists
from hub.store.tables import SubscriptionRow


def admin(caller: Caller) -> Principal:
    if caller.role != "admin":
        raise Forbidden(f"subscriptions need an admin key, not a {caller.role} key")
    return caller


Admin = Annotated[Principal, Depends(admin)]
router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["webhook", "kafka"] = "webhook"
    url: str | None = Field(default=None, max_length=MAX_URL)
    domains: list[str] = Field(min_length=1, max_length=20)
    source: str | None = Field(default=None, max_length=100)
    echo: bool = False
    personal: bool = Field(
        default=False, description="Send personal fields (a person's birth date, home address)."
    )
    start: Literal["now", "beginning"] = "now"


class SubscriptionOut(BaseModel):
    id: str
    name: str
    kind: str
    url: str
    domains: list[str]
    source: str | None
    echo: bool
    personal: bool
    status: str
    status_reason: str | None
    created_at: datetime
    delivery: dict[str, Any] | None = None


class SecretOut(BaseModel):
    id: str
    name: str
    secret: str = Field(description="Shown once; keep it to verify webhook-signature.")
    previous_secret_valid_until: datetime | None = None


class ReplayIn(BaseModel):
    """Name exactly one: an event id, every dead delivery, or an outbox cursor (``after``)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str | None = Field(default=None, max_length=64)
    dead: bool = False
    after: int | None = Field(default=None, ge=0)


class DeliveryOut(BaseModel):
    id: int
    subscription: str
    seq: int
    event_id: str
    golden_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None
    last_response: str | None
    delivered_at: datetime | None


def _out(
    row: SubscriptionRow | Subscription, delivery: dict[str, Any] | None = None
) -> SubscriptionOut:
    return SubscriptionOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        url=row.url,
        domains=list(row.domains),
        source=row.source,
        echo=row.echo,
        personal=row.personal,
        status=row.status,
        status_reason=row.status_reason,
        created_at=row.created_at,
        delivery=delivery,
    )


@router.post("", status_code=201, response_model=SecretOut, responses=ERRORS)
def create(body: SubscriptionIn, caller: Admin, hub: HubDep) -> SecretOut:
    """A new subscription; the answer holds its ``whsec_`` secret, shown only this once.

    A ``kafka`` subscription publishes each event to ``PREFIX.<domain>`` keyed by golden id;
    its ``url`` is ``kafka://HOST:PORT/PREFIX``, or ``kafka:///PREFIX`` for the hub's own
    ``CONCORD_KAFKA_BOOTSTRAP`` (the default, with the prefix ``concord.<name>``).
    """
    url = body.url or ""
    if body.kind == "kafka":
        # Topic per domain, ``PREFIX.<domain>``; the prefix defaults to concord.<name>.
        url = body.url or f"kafka:///concord.{body.name}"
        try:
            check_text(url)  # brokers are the firm's own: no address rule, but no CR/LF either
            parse_target(url, hub.settings.kafka_bootstrap)
        except (KafkaTargetError, InvalidTarget) as exc:
            raise HTTPException(422, str(exc)) from exc
    else:
        try:
            check_creation(url, hub.settings.webhook_policy)
        except InvalidTarget as exc:
            raise HTTPException(422, str(exc)) from exc
    made = CreateSubscription(
        name=body.name,
        kind=body.kind,
        url=url,
        domains=tuple(body.domains),
        source=body.source,
        echo=body.echo,
        personal=body.personal,
        start=body.start,
        actor=caller.name,
    )
    try:
        secret: SubscriptionSecret = hub.bus.handle(made)
    except InvalidSubscription as exc:
        raise HTTPException(422, str(exc)) from exc
    except SubscriptionExists as exc:
        raise HTTPException(409, str(exc)) from exc
    return SecretOut(id=secret.id, name=secret.name, secret=secret.secret)


@router.get("", response_model=list[SubscriptionOut], responses=ERRORS)
def list_all(_: Admin, session: ReadSession) -> list[SubscriptionOut]:
    """Every subscription, with its delivery state."""
    states = queries.delivery_state(session)
    return [_out(r, states.get(r.id)) for r in queries.list_subscriptions(session)]


@router.get("/{ref}", response_model=SubscriptionOut, responses=ERRORS)
def show(ref: str, _: Admin, session: ReadSession) -> SubscriptionOut:
    """One subscription (by id or name) with lag, pending, dead, failures and last success."""
    row = queries.get_subscription(session, ref)
    return _out(row, queries.delivery_state(session).get(row.id))


def _status(hub: HubDep, ref: str, status: str, actor: str) -> SubscriptionOut:
    return _out(hub.bus.handle(SetSubscriptionStatus(ref, status, actor)))


@router.post("/{ref}/pause", response_model=SubscriptionOut, responses=ERRORS)
def pause(ref: str, caller: Admin, hub: HubDep) -> SubscriptionOut:
    """Stop sending; deliveries keep collecting and go out in order on resume."""
    return _status(hub, ref, "paused", caller.name)


@router.post("/{ref}/resume", response_model=SubscriptionOut, responses=ERRORS)
def resume(ref: str, caller: Admin, hub: HubDep) -> SubscriptionOut:
    """Send again, also after the receiver's 410 disabled the subscription."""
    return _status(hub, ref, "active", caller.name)


@router.delete("/{ref}", status_code=204, responses=ERRORS)
def remove(ref: str, caller: Admin, hub: HubDep) -> Response:
    hub.bus.handle(DeleteSubscription(ref, caller.name))
    return Response(status_code=204)


@router.post("/{ref}/rotate-secret", response_model=SecretOut, responses=ERRORS)
def rotate(ref: str, caller: Admin, hub: HubDep) -> SecretOut:
    """A new secret; the previous one keeps signing too until ``previous_secret_valid_until``
    (``CONCORD_WEBHOOK_SECRET_OVERLAP_SECONDS``)."""
    overlap = hub.settings.webhook_secret_overlap_seconds
    secret: SubscriptionSecret = hub.bus.handle(RotateSubscriptionSecret(ref, overlap, caller.name))
    return SecretOut(
        id=secret.id,
        name=secret.name,
        secret=secret.secret,
        previous_secret_valid_until=secret.previous_valid_until,
    )


@router.post("/{ref}/replay", responses=ERRORS)
def replay(ref: str, body: ReplayIn, caller: Admin, hub: HubDep) -> dict[str, int]:
    """Send again one event (and the later versions of its record), every dead delivery, or
    everything after an outbox cursor."""
    cmd = ReplayDeliveries(ref, body.event_id, body.dead, body.after, caller.name)
    count: int = hub.bus.handle(cmd)
    return {"replayed": count}


@router.get("/{ref}/deliveries", response_model=list[DeliveryOut], responses=ERRORS)
def list_deliveries(
    ref: str,
    _: Admin,
    session: ReadSession,
    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    """Deliveries newest first, with the last response of each."""
    return [
        DeliveryOut(
            id=d.id,
            subscription=name,
            seq=d.seq,
            event_id=d.event_id,
            golden_id=d.golden_id,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_attempt_at=d.last_attempt_at,
            last_status=d.last_status,
            last_response=d.last_response,
            delivered_at=d.delivered_at,
        )
        for d, name in queries.list_deliveries(session, ref, status, limit)
    ]
