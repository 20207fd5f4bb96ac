"""Kafka out: a blocking face on aiokafka's producer, and the publisher of kafka subscriptions.

The hub's workers are threads, aiokafka is asyncio: each ``Producer`` runs its own event loop
in a daemon thread and callers wait on the acknowledgements (``acks="all"``), so a record
counts as sent only once every in-sync replica has it. Idempotent producers are off on
purpose: ordering per golden record comes from the delivery table (one undelivered event per
record in flight), duplicates after a crash are harmless (same event id), and the test broker
cannot give out producer ids.

A kafka subscription's ``url`` is ``kafka://HOST:PORT[,HOST:PORT]/PREFIX`` (the subscriber's
cluster) or ``kafka:///PREFIX`` (the hub's ``CONCORD_KAFKA_BOOTSTRAP``); each event goes to
the topic ``PREFIX.<domain>`` with the golden id as key, so one record stays on one partition.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer

from connectors.outbound import routing
from hub.config import Settings
from hub.services.delivery_ports import Due, Outcome

log = logging.getLogger("concord.kafka")

T = TypeVar("T")
Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers
CLOUDEVENT = ("content-type", b"application/cloudevents+json; charset=utf-8")


class KafkaTargetError(ValueError):
    """A kafka subscription URL that does not say where to publish."""


@dataclass(frozen=True)
class Target:
    bootstrap: str
    prefix: str

    def topic(self, domain: str) -> str:
        return f"{self.prefix}.{domain}"


def parse_target(url: str, default_bootstrap: str | None) -> Target:
    """Where a kafka subscription publishes.

    Examples:
        >>> parse_target("kafka:///concord.psa", "k:9092")
        Target(bootstrap='k:9092', prefix='concord.psa')
        >>> parse_target("kafka://a:9092,b:9092/erp.golden", None).bootstrap
        'a:9092,b:9092'
    """
    if not url.startswith("kafka://"):
        raise KafkaTargetError(f"url {url!r}: expected kafka://HOST:PORT/PREFIX or kafka:///PREFIX")
    hosts, _, prefix = url.removeprefix("kafka://").partition("/")
    if not prefix or not all(c.isalnum() or c in "._-" for c in prefix):
        raise KafkaTargetError(
            f"url {url!r}: the topic prefix must be letters, digits, '.', '_' or '-'"
        )
    bootstrap = hosts or default_bootstrap
    if not bootstrap:
        raise KafkaTargetError(
            f"url {url!r}: names no broker and CONCORD_KAFKA_BOOTSTRAP is not set"
        )
    return Target(bootstrap, prefix)


class Producer:
    """One aiokafka producer on its own event loop thread, used from blocking code."""

    def __init__(self, bootstrap: str, settings: Settings) -> None:
        self.bootstrap = bootstrap
        self.timeout = settings.kafka_timeout_seconds
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="concord-kafka", daemon=True
        )
        self._thread.start()
        self._producer: AIOKafkaProducer | None = None
        self._settings = settings

    def _submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            s = self._settings
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                enable_idempotence=False,
                max_batch_size=s.kafka_max_batch_bytes,
                linger_ms=s.kafka_linger_ms,
                request_timeout_ms=int(s.kafka_timeout_seconds * 1000),
                client_id="concord",
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()  # release the half-started client; retried next time
                raise
            self._producer = producer
        return self._producer

    async def _send_all(self, records: Sequence[Record]) -> list[BaseException | str]:
        """Each record's outcome, in order: ``topic[partition]@offset`` or the error."""
        try:
            producer = await self._started()
        except Exception as exc:
            return [exc] * len(records)
        futures = []
        for topic, key, value, headers in records:
            try:
                futures.append(await producer.send(topic, value, key=key, headers=headers))
            except Exception as exc:
                futures.append(_failed(exc))
        out: list[BaseException | str] = []
        for result in await asyncio.gather(*futures, return_exceptions=True):
            if isinstance(result, BaseException):
                out.append(result)
            else:
                out.append(f"{result.topic}[{result.partition}]@{result.offset}")
        return out

    def send_all(self, records: Sequence[Record]) -> list[BaseException | str]:
        """Send and wait for every acknowledgement (or the timeout, which fails them all)."""
        if not records:
            return []
        try:
            return self._submit(self._send_all(records)).result(self.timeout * 2)
        except Exception as exc:  # the wait itself timed out: treat every record as failed
            return [exc] * len(records)

    async def asend_all(self, records: Sequence[Record]) -> list[BaseException | str]:
        """``send_all`` for a caller on another event loop (the API)."""
        if not records:
            return []
        return await asyncio.wrap_future(self._submit(self._send_all(records)))

    def close(self) -> None:
        async def stop() -> None:
            if self._producer is not None:
                await self._producer.stop()

        try:
            self._submit(stop()).result(self.timeout)
        except Exception:
            log.warning("stopping the Kafka producer for %s failed", self.bootstrap, exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


class KafkaPublisher:
    """Sends the due deliveries of kafka subscriptions; a delivery is done once acknowledged.

    Outcomes have the same shape as webhook attempts, so lag, last success, failures, retries
    with backoff and dead deliveries work the same for both kinds.
    """

    def __init__(self, settings: Settings, personal_fields: Mapping[str, frozenset[str]]) -> None:
        self.settings = settings
        self.personal_fields = personal_fields
        self._producers: dict[str, Producer] = {}
        self._lock = threading.Lock()  # kafka lanes of several subscriptions send at once

    def _producer(self, bootstrap: str) -> Producer:
        with self._lock:
            if bootstrap not in self._producers:
                self._producers[bootstrap] = Producer(bootstrap, self.settings)
            return self._producers[bootstrap]

    def send(self, items: Sequence[Due]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        by_bootstrap: dict[str, list[tuple[Due, Record]]] = {}
        for item in items:
            sub = item.subscription
            try:  # a subscription that cannot be built fails alone, never the round
                target = parse_target(sub.url, self.settings.kafka_bootstrap)
                domain = str(item.payload.get("type", "")).split(".")[1]
                headers = [CLOUDEVENT]
                if item.correlation_id:
                    headers.append(("x-correlation-id", item.correlation_id.encode()))
                record = (
                    target.topic(domain),
                    item.golden_id.encode(),
                    routing.body(
                        item.payload,
                        sub.source,
                        routing.hidden_fields(item.payload, sub.personal, self.personal_fields),
                    ),
                    headers,
                )
            except KafkaTargetError as exc:
                outcomes.append(self._failure(item, str(exc)))
                continue
            except Exception as exc:
                outcomes.append(self._failure(item, f"{type(exc).__name__}: {exc}"))
                continue
            by_bootstrap.setdefault(target.bootstrap, []).append((item, record))
        for bootstrap, pairs in by_bootstrap.items():
            results = self._producer(bootstrap).send_all([r for _, r in pairs])
            for (item, _), result in zip(pairs, results, strict=True):
                if isinstance(result, str):
                    at = datetime.now(UTC)
                    outcomes.append(
                        Outcome(
                            item.delivery_id, item.subscription.id, "delivered", None, result, at
                        )
                    )
                else:
                    why = f"{type(result).__name__}: {result}"
                    outcomes.append(self._failure(item, why))
        return outcomes

    def _failure(self, item: Due, why: str) -> Outcome:
        from connectors.outbound.webhooks import next_delay  # one retry schedule for both kinds

        at = datetime.now(UTC)
        s = self.settings
        delay = next_delay(item.attempts + 1, s.retry_delays, s.webhook_retry_jitter)
        log.info("kafka delivery %s of %s failed: %s", item.event_id, item.subscription.name, why)
        return Outcome(
            item.delivery_id,
            item.subscription.id,
            "dead" if delay is None else "pending",
            None,
            why,
            at,
            None if delay is None else at + timedelta(seconds=delay),
        )

    def close(self) -> None:
        with self._lock:
            producers, self._producers = list(self._producers.values()), {}
        for producer in producers:
            producer.close()
