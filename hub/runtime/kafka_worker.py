"""``concord worker``: the scale-out worker, a faust-streaming app that applies changes from Kafka.

It consumes ``concord.changes`` (what ``POST /api/v1/changes`` published) and, when
configured, Debezium topics; each batch goes through the same ingest path as the HTTP API:
``AcceptChanges`` into the idempotent inbox, then apply. Consumption is at least once (offsets
commit after a batch is in the inbox and applied), so a batch seen again after a crash is
stored as duplicates and applied once. Any number of workers may run in one consumer group:
a source record's changes share a partition, hence a worker; new-record matching across
workers serialises on advisory locks (hub/services/linking.py).

The agents are thin: decode, build the command, hand the blocking database work to a thread
(``run_in_executor``) so the event loop keeps heartbeating while a batch applies. The process
also runs the delivery worker (webhooks, kafka subscriptions, and the relay subscription that
publishes every golden change to ``concord.golden.<domain>``); on PostgreSQL one process of
all the hub's processes delivers at a time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, cast

import faust
import typer
from sqlalchemy.exc import IntegrityError

from connectors.inbound.debezium import decode
from connectors.inbound.mappings import Mappings, load_mappings
from hub.bootstrap import Hub, bootstrap, delivery_worker
from hub.cli_errors import require_known_codes
from hub.config import HubConfig, Settings
from hub.domain.commands import AcceptChanges, CreateSubscription, KeepUnreadable
from hub.domain.errors import ConcordError, ConfigError
from hub.domain.model import Change, UnreadableMessage
from hub.runtime import kafka_changes, memory
from hub.runtime.worker import EmbeddedWorker
from hub.services.bus import MessageBus
from hub.store import deliveries
from hub.store.db import is_sqlite
from hub.store.uow import session_factory

log = logging.getLogger("concord.kafka_worker")

Ingest = Callable[[Sequence[Change]], int]
# Messages that are not changes, kept as dead letters before their offsets are committed.
Reject = Callable[[Sequence[UnreadableMessage]], int]
# A Debezium event (value, key, topic) as a change, None for a tombstone or a skipped table.
DebeziumDecoder = Callable[[bytes | None, bytes | None, str], Change | None]
RELAY = "golden"  # the relay subscription's name: every golden change to PREFIX.<domain>


class BusIngest:
    """Changes into the inbox, then applied: the blocking half of an agent, run in a thread.

    One lock per process: the agents and the idle timer share one applier, so two threads of
    one worker never apply at once (two workers may, and the store makes that safe).
    """

    def __init__(self, bus: MessageBus, settings: Settings) -> None:
        self.bus = bus
        aside = not is_sqlite(settings.database_url)  # statistics beside the turns
        self.applier = EmbeddedWorker(
            bus, settings.worker_batch, settings.worker_idle_seconds, statistics_aside=aside
        )
        self.lock = threading.Lock()

    def __call__(self, changes: Sequence[Change]) -> int:
        by_source: dict[str, list[Change]] = {}
        for c in changes:
            by_source.setdefault(c.source, []).append(c)
        for source, items in by_source.items():
            self.bus.accept(AcceptChanges(source, tuple(items)))
        return self.apply(rounds=2 + len(changes) // max(1, self.applier.batch))

    def reject(self, messages: Sequence[UnreadableMessage]) -> int:
        kept: int = self.bus.handle(KeepUnreadable(tuple(messages)))
        return kept

    def apply(self, rounds: int = 1_000) -> int:
        """Apply the inbox until it is empty or ``rounds`` batches were applied (so a worker
        never stops consuming because other workers keep the inbox full)."""
        done = 0
        with self.lock:
            for _ in range(rounds):
                n = self.applier.turn()
                done += n
                if n == 0:
                    break
        return done


def faust_settings(settings: Settings) -> dict[str, Any]:
    """The faust app's settings from ours. At-least-once on purpose: exactly-once needs
    transactional producers, and the inbox already makes a redelivered change harmless."""
    assert settings.kafka_bootstrap, "CONCORD_KAFKA_BOOTSTRAP is not set"
    return {
        "broker": [f"kafka://{h.strip()}" for h in settings.kafka_bootstrap.split(",")],
        "processing_guarantee": "at_least_once",
        "web_enabled": False,
        "store": "memory://",
        "topic_partitions": settings.kafka_partitions,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "producer_max_batch_size": settings.kafka_max_batch_bytes,
        "broker_session_timeout": settings.kafka_session_timeout_seconds,
        "broker_heartbeat_interval": settings.kafka_heartbeat_seconds,
        "broker_rebalance_timeout": settings.kafka_rebalance_timeout_seconds,
        "broker_commit_every": settings.kafka_worker_batch,
        "broker_commit_interval": 1.0,
    }


HandOver = Callable[[list[Change], list[UnreadableMessage]], Awaitable[int]]


def build_app(
    settings: Settings,
    ingest: Ingest,
    debezium: DebeziumDecoder | None = None,
    *,
    reject: Reject,
    **overrides: Any,
) -> faust.App:
    """The faust app: one agent on ``concord.changes``, one on the Debezium topics if any.

    A message an agent cannot decode goes to ``reject`` (the dead letters) in the same step as
    the batch around it, so its offset is committed only once it is kept."""
    app = faust.App(settings.kafka_group, **(faust_settings(settings) | overrides))
    batch, within = settings.kafka_worker_batch, settings.kafka_worker_within_seconds

    async def hand_over(changes: list[Change], rejected: list[UnreadableMessage]) -> int:
        loop = asyncio.get_running_loop()
        if rejected:
            await loop.run_in_executor(None, reject, rejected)
        if not changes:
            return 0
        return await loop.run_in_executor(None, ingest, changes)

    changes_topic = _raw_topic(
        app, settings.kafka_changes_topic, partitions=settings.kafka_partitions
    )

    @app.agent(changes_topic, name="apply-changes")
    async def apply_changes(stream: faust.StreamT[bytes]) -> AsyncIterator[int]:
        events_of = cast(faust.Stream[bytes], stream).take_events  # not on StreamT
        async for events in events_of(batch, within=within):
            changes, rejected = [], []
            for event in events:
                try:
                    changes.append(kafka_changes.decode(event.value))
                except kafka_changes.UnreadableChange as exc:
                    # The API validated it; only a foreign writer on our topic gets here.
                    rejected.append(_unreadable(event.message, event.value, str(exc)))
            yield await hand_over(changes, rejected)

    if settings.debezium_topics and debezium is not None:
        _debezium_agent(app, settings, debezium, hand_over)
    return app


def _raw_topic(app: faust.App, *names: str, partitions: int | None = None) -> Any:
    """Topics read as bytes: decoding is ours, so a bad message can be kept as it came."""
    return app.topic(
        *names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )


def _debezium_agent(
    app: faust.App, settings: Settings, decode: DebeziumDecoder, hand_over: HandOver
) -> None:
    """The agent on the Debezium topics: each event decoded by its topic's mapping."""
    batch, within = settings.kafka_worker_batch, settings.kafka_worker_within_seconds
    cdc_topic = _raw_topic(app, *settings.debezium_topics)

    @app.agent(cdc_topic, name="apply-debezium")
    async def apply_debezium(stream: faust.StreamT[bytes]) -> AsyncIterator[int]:
        events_of = cast(faust.Stream[bytes], stream).take_events  # not on StreamT
        async for events in events_of(batch, within=within):
            changes, rejected = [], []
            for event in events:
                msg = event.message
                try:
                    change = decode(event.value, msg.key, msg.topic)
                except ConcordError as exc:  # names the record and the field
                    rejected.append(_unreadable(msg, event.value, str(exc)))
                    continue
                if change is not None:
                    changes.append(change)
            yield await hand_over(changes, rejected)


def _unreadable(msg: Any, value: Any, reason: str) -> UnreadableMessage:
    raw = value if isinstance(value, bytes | None) else bytes(value)
    return kafka_changes.unreadable(msg.topic, msg.partition, msg.offset, msg.key, raw, reason)


def debezium_decoder(settings: Settings, config: HubConfig) -> DebeziumDecoder | None:
    """The decoder for the configured Debezium topics, each routed to the one source system
    whose mapping file maps it; None when no topic is configured.

    Raises:
        ConfigError: a topic no mapping file maps, or that two map; a mapping file at fault
            (naming the file, table and column).
    """
    topics = settings.debezium_topics
    if not topics:
        return None
    files = [load_mappings(path, config) for path in settings.debezium_mappings]
    route: dict[str, Mappings] = {}
    for topic in topics:
        owners = [m for m in files if m.find(topic) is not None]
        if len(owners) != 1:
            named = ", ".join(m.path for m in owners) or "none of CONCORD_KAFKA_DEBEZIUM_MAPPINGS"
            raise ConfigError(
                f"CONCORD_KAFKA_DEBEZIUM_TOPICS: topic {topic!r} must be mapped by exactly one "
                f"mapping file ({named})"
            )
        route[topic] = owners[0]

    def decode_event(value: bytes | None, key: bytes | None, topic: str) -> Change | None:
        return decode(value, key, topic, route[topic])

    return decode_event


def ensure_relay(hub: Hub) -> None:
    """The relay subscription: every golden change of every domain to
    ``CONCORD_KAFKA_GOLDEN_PREFIX.<domain>`` keyed by golden id, from the start of the outbox.
    Made once, through the bus like any subscription; a second worker starting at the same
    moment finds it made."""
    made = CreateSubscription(
        name=RELAY,
        kind="kafka",
        url=f"kafka:///{hub.settings.kafka_golden_prefix}",
        domains=tuple(sorted(hub.config.domains)),
        start="beginning",
        actor="concord worker",
    )
    try:
        hub.bus.handle(made)
    except (IntegrityError, deliveries.SubscriptionExists):
        # Made already, or by another worker first (the name is unique): fine if it exists.
        with session_factory(hub.engine, readonly=True)() as s:
            if not any(r.name == RELAY for r in deliveries.list_subscriptions(s)):
                raise


def run_worker(*, relay: bool, deliver: bool, loglevel: str) -> None:
    """``concord worker`` (its options: :mod:`hub.cli.worker`, which `--help` reads without
    importing faust, Kafka or the store)."""
    settings = Settings()
    if not settings.kafka_bootstrap:
        typer.echo("concord worker: set CONCORD_KAFKA_BOOTSTRAP (host:port of Kafka)", err=True)
        raise typer.Exit(2)
    hub = bootstrap(settings)
    try:
        debezium = debezium_decoder(settings, hub.config)
        for line in require_known_codes(hub.engine, hub.config):
            typer.echo(f"concord worker: warning: {line}", err=True)
    except ConcordError as exc:
        typer.echo(f"concord worker: {exc}", err=True)
        hub.close()
        raise typer.Exit(2) from None
    if relay:
        ensure_relay(hub)
    ingest = BusIngest(hub.bus, settings)
    app = build_app(settings, ingest, debezium, reject=ingest.reject)

    @app.timer(max(settings.worker_idle_seconds, 1.0))  # type: ignore[untyped-decorator]
    async def apply_leftovers() -> None:
        """Rows a killed worker stored but did not apply, and rows another worker left."""
        await asyncio.get_running_loop().run_in_executor(None, ingest.apply)

    delivery = None
    if deliver:
        delivery = delivery_worker(hub.engine, settings, hub.config.personal_fields)
    memory.settle()
    if delivery is not None:
        delivery.start()
    try:
        faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    finally:
        if delivery is not None:
            delivery.stop()
        hub.close()
