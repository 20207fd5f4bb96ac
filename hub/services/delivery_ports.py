"""What the delivery worker needs from the store, as values and Protocols.

``connectors/outbound`` sends events; it does not know SQL. The worker reads subscriptions and
due deliveries and writes outcomes through :class:`DeliveryStore`, and keeps its leadership
on a :class:`LeaderLine`; ``hub.bootstrap`` wires the SQL store in (docs/architecture.md,
"The parts": connectors depend on the services' ports).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Protocol

from hub.domain.delivery import RESPONSE_KEPT, Due, Outcome, Skip, Subscription

__all__ = [
    "RESPONSE_KEPT",
    "Closeable",
    "DeliveryStore",
    "Due",
    "LeaderLine",
    "Outcome",
    "Skip",
    "Subscription",
]


class LeaderLine(Protocol):
    """A lock held on a line of its own to the store: it goes when that line goes."""

    def take(self) -> bool:
        """Try to take the lock, without waiting; whether it is ours now."""
        ...

    def holds(self) -> bool:
        """Ask the line whether the lock is still ours (False when the line is dead)."""
        ...

    def close(self) -> None: ...


class Closeable(Protocol):
    def close(self) -> None: ...


class DeliveryStore(Protocol):
    """The delivery table, the subscriptions' cursors over the outbox, and their wake-ups.

    Every call is one short transaction of its own (or a read), so a worker killed between
    two calls loses nothing: what was sent and not recorded is sent again with its id.
    """

    # Shortest time between two busy cycles of the worker, each a few statements and commits:
    # short where writers run side by side, longer where they queue for one lock (SQLite).
    pace: float

    def behind(self) -> bool:
        """Whether some subscription's cursor is behind the outbox (a read only)."""
        ...

    def fan_out(self, skip: Skip, batch: int, fence: Callable[[], bool]) -> int:
        """Turn up to ``batch`` outbox rows past the cursors into deliveries; commit only if
        ``fence()`` still says we lead. How many deliveries were made."""
        ...

    def due(
        self, now: datetime, room: Callable[[str], int], held: Collection[int]
    ) -> tuple[list[Subscription], list[Due]]:
        """The active subscriptions, and for each up to ``room(id)`` due deliveries that are
        the oldest undelivered one of their golden record (so at most one per record), leaving
        out those in ``held`` (being sent already)."""
        ...

    def record(self, outcomes: Collection[Outcome]) -> None:
        """Write what attempts came to (one transaction)."""
        ...

    def leader_line(self) -> LeaderLine | None:
        """A new line for the leader lock, or None where one process delivers anyway."""
        ...

    def listen(self, wake: Callable[[], None]) -> Closeable | None:
        """Call ``wake`` whenever another process commits outbox rows (None: no such signal
        here; the worker polls)."""
        ...

    def close(self) -> None:
        """Let go of what the store holds of its own (connections), once the worker stopped."""
        ...
