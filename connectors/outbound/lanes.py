"""One subscription's sends: many records in flight, each record's deliveries in turn.

A lane is fed only deliveries that are the oldest undelivered one of their golden record
(``DeliveryStore.due``), and the next delivery of that record becomes due only once this
one's outcome is written, so a lane may send everything it holds at once without a record
overtaking itself. It sends up to ``parallel`` requests at a time (the subscription's window),
each taking ``batch`` deliveries (1 for a webhook; a Kafka lane sends a window's worth as one
batch of produce requests). Each request runs in a numbered *slot*, and the sender keeps one
kept-alive connection per slot: a pool per slot is found at once, where one pool of ``parallel``
connections looks through all of them on every request (a third of the throughput).
A lane's slow or hanging receiver fills its own window, never another lane's: each
subscription has its own lane, its own connections and its own room.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from hub.services.delivery_ports import Due, Outcome, Subscription

log = logging.getLogger("concord.deliveries")

SendMany = Callable[[Sequence[Due], int], Awaitable[Sequence[Outcome]]]  # items, slot
Done = Callable[[Sequence[Due], Sequence[Outcome]], None]


GONE_GRACE = 2.0
"""Seconds a lane closed by a 410 waits before an active subscription gets a new one."""


class Fence:
    """Whether this process still leads, asked at most every ``max_age`` seconds however many
    requests ask, and asked once however many ask at the same moment."""

    def __init__(self, ask: Callable[[], Awaitable[bool]], max_age: float) -> None:
        self.ask = ask
        self.max_age = max_age
        self._good_until = 0.0
        self._asking: asyncio.Future[bool] | None = None

    def vouch(self, asked_at: float) -> None:
        """The leader was confirmed at ``asked_at`` (monotonic) by someone else."""
        self._good_until = max(self._good_until, asked_at + self.max_age)

    def fresh(self) -> bool:
        """Whether the last confirmation is recent enough to go on without asking."""
        return time.monotonic() < self._good_until

    def forget(self) -> None:
        self._good_until = 0.0

    async def confirm(self) -> bool:
        if self.fresh():
            return True
        if self._asking is None:
            self._asking = asyncio.ensure_future(self._ask())
        return await asyncio.shield(self._asking)

    async def _ask(self) -> bool:
        started = time.monotonic()
        try:
            ok = await self.ask()
        finally:
            self._asking = None
        if ok:
            self.vouch(started)
        return ok


class Lane:
    """The sends of one subscription (see the module doc)."""

    def __init__(
        self,
        sub: Subscription,
        send: SendMany,
        fence: Fence,
        done: Done,
        parallel: int,
        batch: int = 1,
        capacity: int = 0,
    ) -> None:
        self.sub = sub
        self.send = send
        self.fence = fence
        self.done = done
        self.parallel = parallel
        self.batch = batch
        self.capacity = max(capacity, 2 * parallel * batch)
        self.queue: deque[Due] = deque()
        self.in_flight: set[asyncio.Task[None]] = set()
        self.free = list(range(parallel))  # the slots no request runs in
        self.closed = False
        self.gone_at: float | None = None  # when the receiver answered 410 (monotonic)

    @property
    def spent(self) -> bool:
        """Closed, with nothing in flight: an active subscription's next lane may take over.
        After a 410 only past ``GONE_GRACE``: the subscription reads as active until the 410's
        outcome is written (the next cycle), and a new lane then would send a window of
        requests to a receiver that said Gone. Past it the subscription was resumed (or the
        write keeps failing, and those requests are retried anyway)."""
        if not self.closed or self.in_flight:
            return False
        return self.gone_at is None or time.monotonic() - self.gone_at > GONE_GRACE

    def room(self) -> int:
        """How many more deliveries the lane takes (0 once closed): at least what it can send
        now and one window more, so the next requests are ready when a slot frees, and as many
        as one read of the store gives (``capacity``), so a busy subscriber's records are read
        in few large groups rather than many small ones."""
        if self.closed:
            return 0
        return max(0, self.capacity - len(self.queue) - len(self.in_flight) * self.batch)

    def add(self, items: Sequence[Due]) -> None:
        self.queue.extend(items)
        self._pump()

    def close(self) -> None:
        """Send nothing more; what waits in the queue is handed back unsent."""
        self.closed = True
        dropped = list(self.queue)
        self.queue.clear()
        if dropped:
            self.done(dropped, ())

    async def drain(self) -> None:
        """Wait until the lane holds nothing: queue empty, every request answered."""
        while True:
            self._pump()
            if not self.in_flight:
                return
            await asyncio.gather(*list(self.in_flight), return_exceptions=True)

    def _pump(self) -> None:
        while self.queue and not self.closed and self.free:
            items = [self.queue.popleft() for _ in range(min(self.batch, len(self.queue)))]
            slot = self.free.pop()
            task = asyncio.get_running_loop().create_task(self._go(items, slot))
            self.in_flight.add(task)
            task.add_done_callback(functools.partial(self._finished, slot=slot))

    def _finished(self, task: asyncio.Task[None], *, slot: int) -> None:
        self.in_flight.discard(task)
        self.free.append(slot)
        self._pump()

    async def _go(self, items: list[Due], slot: int) -> None:
        outcomes: Sequence[Outcome] = ()
        try:
            if await self.fence.confirm():  # a deposed leader sends nothing more
                outcomes = await self.send(items, slot)
        except Exception:  # the sender turns failures into outcomes; this is a bug's net
            log.exception("sending to subscription %s failed", self.sub.name)
            outcomes = ()
        if any(o.status == "gone" for o in outcomes):
            self.gone_at = time.monotonic()
            self.close()  # the receiver said 410: the subscription is being disabled
        self.done(items, outcomes)
