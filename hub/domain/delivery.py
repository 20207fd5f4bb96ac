"""What a delivery is, as plain values: a subscriber, a delivery due to it, what an attempt
came to. Shared by the delivery worker (``connectors/outbound``), its port
(``hub.services.delivery_ports``) and the SQL store that fills it (stdlib only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

RESPONSE_KEPT = 2000  # characters of a receiver's response body kept on the delivery


@dataclass(frozen=True)
class Subscription:
    """A subscriber as the worker sees it: where to send, how to sign, what to leave out."""

    id: str
    name: str
    kind: str  # webhook | kafka
    url: str
    domains: tuple[str, ...]
    source: str | None
    echo: bool
    personal: bool
    secret: str
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None


@dataclass(frozen=True)
class Due:
    """A delivery to send now, with what is needed to send it."""

    delivery_id: int
    seq: int
    event_id: str
    golden_id: str
    attempts: int
    subscription: Subscription
    payload: dict[str, Any]
    correlation_id: str | None = None
    replays: int = 0  # as read: its outcome is written only if no replay reset it since


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
    replays: int = 0  # its delivery's, as read (``Due.replays``)


# Whether an event is not for a subscription (the echo rule of connectors.outbound.routing).
Skip = Callable[[Subscription, dict[str, Any]], bool]
