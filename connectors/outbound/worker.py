"""The delivery worker: a pipeline from the outbox to every subscriber, not a round.

One thread runs an asyncio event loop (docs/architecture.md, "Delivery: a pipeline"). On it:

- the *conductor* writes outcomes as they come in, fans new outbox rows out into deliveries,
  reads what is due (per subscription, as much as its lane has room for) and hands it to the
  lanes; it runs again at once whenever a commit is announced (``wake``: the apply worker in
  this process, PostgreSQL's ``NOTIFY`` for the others) or a send ends, and polls every
  ``CONCORD_DELIVERY_IDLE_SECONDS`` in case a wake-up was missed;
- one *lane* per subscription (``connectors.outbound.lanes``) sends up to
  ``CONCORD_WEBHOOK_CONCURRENCY`` records at once over its own keep-alive connections, each
  record's deliveries in turn, each request under one deadline.

Database work runs on one thread of its own, one call at a time, so the event loop never
waits on the store and SQLite sees one delivering writer. All state is in the database: a
worker killed at any point resumes from it, and what was sent but not recorded is sent again
with the same ``webhook-id`` (at least once). Only the leader sends (``leader``); it re-checks
its lock before fan-out commits, before outcomes are written and (at most every half second)
before requests go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from connectors.outbound import routing
from connectors.outbound.kafka import KafkaPublisher
from connectors.outbound.lanes import Fence, Lane
from connectors.outbound.leader import DeliveryLeader
from connectors.outbound.webhooks import WebhookSender
from hub.config import Settings
from hub.services.delivery_ports import Closeable, DeliveryStore, Due, Outcome, Subscription

log = logging.getLogger("concord.deliveries")

T = TypeVar("T")


def _skip(sub: Subscription, event: dict[str, Any]) -> bool:
    return sub.source is not None and not sub.echo and routing.is_echo(event, sub.source)


class DeliveryWorker:
    name = "concord-deliveries"

    def __init__(
        self,
        store: DeliveryStore,
        settings: Settings,
        personal_fields: Mapping[str, frozenset[str]],
    ) -> None:
        """``personal_fields``: per domain, what only subscriptions granted personal fields
        get (the hub's ``concord.yaml``)."""
        self.store = store
        self.settings = settings
        # httpx logs every request at INFO; our own line per delivery says more, once
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
        self.window = settings.webhook_concurrency
        self.idle = settings.delivery_idle_seconds
        self._stopping = threading.Event()
        grace = settings.delivery_takeover_seconds
        grace = settings.webhook_timeout_seconds + 1 if grace is None else grace
        self.leader = DeliveryLeader(store.leader_line(), grace, self._stopping)
        self.sender = WebhookSender(settings, personal_fields)
        self.kafka = KafkaPublisher(settings, personal_fields)  # connects on first use
        self._db = ThreadPoolExecutor(1, "concord-delivery-db")
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._main: Future[None] | None = None
        self._listener: Closeable | None = None
        self._kick = asyncio.Event()
        self._fence = Fence(lambda: self._in_db(self._still_leading), min(0.5, grace / 2))
        self._lanes: dict[str, Lane] = {}
        # read and not yet recorded (in a lane or being written): delivery -> (its
        # subscription, its golden record)
        self._held: dict[int, tuple[str, str]] = {}
        self._outcomes: list[Outcome] = []
        self._next_retry: datetime | None = None
        self._news = True  # the outbox may have rows not fanned out yet: look
        self._closed = False

    # -- the thread-facing side: start, wake, stop, and one synchronous round for tests --

    def start(self) -> None:
        self._ensure_loop()
        self._listener = self.store.listen(self.wake)
        self._main = asyncio.run_coroutine_threadsafe(self._run(), self._loop)

    def wake(self) -> None:
        """Something was committed to the outbox: look now, not at the next poll."""
        self._news = True
        if self._thread is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._kick.set)

    @property
    def alive(self) -> bool:
        return self._main is not None and not self._main.done()

    def join(self, timeout: float) -> None:
        if self._main is not None:
            with contextlib.suppress(Exception):  # a timeout, or the loop's failure (logged)
                self._main.result(timeout)

    def stop(self, timeout: float = 10) -> None:
        """Stop sending, wait for the requests in flight (within their deadline), write what
        they came to, and let go of connections and the leader lock."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self.wake()
        if self._listener is not None:
            self._listener.close()
        if self._thread is not None:
            if self._main is not None:
                self.join(timeout + self.settings.webhook_timeout_seconds)
            else:
                self._call(self._finish(), timeout + self.settings.webhook_timeout_seconds)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        try:
            self._db.submit(self.leader.release).result(timeout)
            self._db.shutdown(wait=True)
        finally:  # even when letting go of the lead timed out: no connection stays open
            self.store.close()
            self.kafka.close()

    def run_once(self) -> int:
        """One synchronous round (tests and tools): fan out, send everything due, wait for
        the answers and write them. How many deliveries were made or sent."""
        return self._call(self._round(), None)

    def _ensure_loop(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop.run_forever, name=self.name, daemon=True
            )
            self._thread.start()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        self._ensure_loop()
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _in_db(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._loop.run_in_executor(self._db, fn, *args)

    # -- the conductor --

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                started = time.monotonic()
                if not self._fence.fresh() and not await self._in_db(self.leader.lead):
                    await self._stand_down()
                    await self._sleep(self.idle)
                    continue
                self._fence.vouch(started)
                done = await self._cycle()
            except Exception:  # the state is in the database: the next cycle takes it up
                log.exception("%s: a delivery cycle failed", self.name)
                await self._sleep(1.0)
                continue
            if done == 0:
                await self._sleep(self._idle_for())
            else:  # let more answers come in, so one commit records them together; this
                # adds at most the store's pace to a delivery's latency
                await asyncio.sleep(max(0.0, self.store.pace - (time.monotonic() - started)))
        await self._finish()

    async def _round(self) -> int:
        self._news = True  # a round asked for by hand always looks at the outbox
        if not await self._in_db(self.leader.lead):
            await self._stand_down()
            return 0
        done = await self._cycle()
        await asyncio.gather(*(lane.drain() for lane in self._lanes.values()))
        await self._record()
        return done

    async def _cycle(self) -> int:
        """Write what came back, fan out what is new, hand out what is due."""
        self._kick.clear()  # a wake-up from here on runs the next cycle at once
        recorded = await self._record()
        made = 0
        if self._news:  # a commit was announced, the poll came round, or fan-out was busy
            self._news = False
            if await self._in_db(self.store.behind):
                made = await self._in_db(
                    self.store.fan_out,
                    _skip,
                    self.settings.delivery_batch,
                    self._still_leading,
                )
                if made:  # more may wait; a wake-up meanwhile set it already
                    self._news = True
        return recorded + made + await self._load()

    async def _load(self) -> int:
        rooms = {sub_id: lane.room() for sub_id, lane in self._lanes.items()}
        batch = self.settings.delivery_batch

        def room(sub_id: str) -> int:
            return min(rooms.get(sub_id, batch), batch)

        subs, todo = await self._in_db(
            self.store.due, datetime.now(UTC), room, frozenset(self._held)
        )
        self._refresh_lanes(subs)
        by_lane: dict[str, list[Due]] = {}
        # A record with a delivery in flight gets no other one meanwhile: only a replay makes
        # an earlier version due again while a later one is out, and it waits for that one's
        # answer (which the replay made void: it is sent again after, hub/store/deliveries.py).
        busy = set(self._held.values())
        for item in todo:
            record = (item.subscription.id, item.golden_id)
            if item.delivery_id not in self._held and record not in busy:
                self._held[item.delivery_id] = record
                busy.add(record)
                by_lane.setdefault(item.subscription.id, []).append(item)
        for sub_id, items in by_lane.items():
            self._lanes[sub_id].add(items)
        return sum(len(items) for items in by_lane.values())

    def _refresh_lanes(self, subs: Sequence[Subscription]) -> None:
        """A lane per active subscription; a paused, disabled or deleted one's lane stops
        (its requests in flight finish) and goes once empty."""
        active = {s.id: s for s in subs}
        for sub_id, lane in list(self._lanes.items()):
            if sub_id in active and lane.spent:
                # paused and active again: a closed lane takes nothing, so a new one, once
                # the old one's requests have ended
                del self._lanes[sub_id]
                continue
            if sub_id in active:
                lane.sub = active[sub_id]
                continue
            lane.close()
            if not lane.in_flight:
                del self._lanes[sub_id]
                self._loop.create_task(self.sender.forget(sub_id))
        for sub in subs:
            if sub.id not in self._lanes:
                self._lanes[sub.id] = self._lane(sub)

    def _lane(self, sub: Subscription) -> Lane:
        batch = self.settings.delivery_batch
        if sub.kind == "kafka":
            return Lane(sub, self._send_kafka, self._fence, self._done, 1, self.window, batch)
        return Lane(sub, self._send_webhook, self._fence, self._done, self.window, 1, batch)

    async def _send_webhook(self, items: Sequence[Due], slot: int) -> list[Outcome]:
        return [await self.sender.send(item, slot) for item in items]

    async def _send_kafka(self, items: Sequence[Due], slot: int) -> list[Outcome]:
        return await asyncio.to_thread(self.kafka.send, items)

    def _done(self, items: Sequence[Due], outcomes: Sequence[Outcome]) -> None:
        """A lane's answer: outcomes to write; deliveries it did not send go back (unheld),
        to be read again once due (and we lead)."""
        answered = {o.delivery_id for o in outcomes}
        for i in items:
            if i.delivery_id not in answered:
                self._held.pop(i.delivery_id, None)
        replayed = {i.delivery_id: i.replays for i in items if i.replays}
        if replayed:  # each outcome carries its delivery's replays, as read
            outcomes = [replace(o, replays=replayed.get(o.delivery_id, 0)) for o in outcomes]
        self._outcomes += outcomes
        self._kick.set()

    async def _record(self) -> int:
        outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return 0
        try:
            await self._in_db(self._write, outcomes)
        except BaseException:
            self._outcomes = outcomes + self._outcomes  # written on the next try
            raise
        for o in outcomes:
            self._held.pop(o.delivery_id, None)
        retries = [o.retry_at for o in outcomes if o.retry_at is not None]
        if retries:
            self._next_retry = min([*retries, *([self._next_retry] if self._next_retry else [])])
        return len(outcomes)

    def _still_leading(self) -> bool:
        """The leader's own check (on the store's thread); a lost lead also stops the lanes
        from trusting their last confirmation."""
        if self.leader.still_leading():
            return True
        self._loop.call_soon_threadsafe(self._fence.forget)
        return False

    def _write(self, outcomes: list[Outcome]) -> None:
        if not self._still_leading():
            # What was sent was sent: recording it spares the new leader a second send; the
            # retries are the new leader's to schedule.
            outcomes = [o for o in outcomes if o.status == "delivered"]
        self.store.record(outcomes)

    async def _stand_down(self) -> None:
        """Not (or no longer) the leader: send nothing more, let what is in flight end, write
        what was delivered, forget the rest (the leader reads it again)."""
        self._fence.forget()
        for lane in self._lanes.values():
            lane.close()
        await asyncio.gather(*(lane.drain() for lane in self._lanes.values()))
        await self._record()
        self._lanes.clear()
        self._held.clear()
        await self.sender.close()  # connections and lookup threads, made again when it leads

    async def _finish(self) -> None:
        try:
            await self._stand_down()
        except Exception:
            log.exception("%s: writing the last outcomes failed; they go out again", self.name)
        await self.sender.close()

    def _idle_for(self) -> float:
        if self._next_retry is None:
            return self.idle
        wait = (self._next_retry - datetime.now(UTC)).total_seconds()
        if wait <= 0:
            self._next_retry = None
            return 0.0
        return min(self.idle, wait)

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0 or self._stopping.is_set():
            return
        try:
            async with asyncio.timeout(seconds):
                await self._kick.wait()
        except TimeoutError:
            self._news = True  # the poll: in case a commit's wake-up was missed
