"""What administration commands answer: plain values, so no store row leaves its session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Subscription:
    """A subscription as an admin sees it (never its secret)."""

    id: str
    name: str
    kind: str
    url: str
    domains: tuple[str, ...]
    source: str | None
    echo: bool
    personal: bool
    status: str
    status_reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class SubscriptionSecret:
    """A subscription's new signing secret, shown once; the previous one signs too until
    ``previous_valid_until`` (after a rotation)."""

    id: str
    name: str
    secret: str
    previous_valid_until: datetime | None = None
