"""The worker's agents with faust's ``test_context()`` (no broker): a message on
``concord.changes`` becomes a change handed to the ingest path, whole and unchanged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from hub import kafka_changes
from hub.config import Settings, load_config
from hub.domain.errors import ConfigError
from hub.domain.model import Change, UnreadableMessage
from hub.kafka_worker import build_app, debezium_decoder

CHANGE = Change(
    source="crm",
    domain="client",
    key="A-17",
    op="upsert",
    event_id="e-1",
    attributes={"name": "Acme", "tags": ["x"]},
    changed_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    sequence=7,
    correlation_id="req-42",
)


def keep(into: list[UnreadableMessage]) -> Callable[[Sequence[UnreadableMessage]], int]:
    def reject(messages: Sequence[UnreadableMessage]) -> int:
        into.extend(messages)
        return len(messages)

    return reject


def test_a_change_round_trips_through_the_topic_codec() -> None:
    assert kafka_changes.decode(kafka_changes.encode(CHANGE)) == CHANGE


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (b"not json", "not JSON"),
        (b'{"op": "upsert", "attributes": {}}', "field changed_at"),
        (b'{"op": "merge"}', "field op"),
        (
            b'{"op": "upsert", "attributes": {}, "changed_at": "0001-01-01T00:00:00+14:00"}',
            "field changed_at: must lie between",
        ),
    ],
)
def test_a_foreign_message_is_refused_naming_the_field(value: bytes, field: str) -> None:
    with pytest.raises(kafka_changes.UnreadableChange, match=field):
        kafka_changes.decode(value)


def test_one_source_record_has_one_key_whatever_its_contents() -> None:
    other = Change("crm", "client", "A-17", "delete", "e-2", {}, CHANGE.changed_at)
    assert kafka_changes.key_of(CHANGE) == kafka_changes.key_of(other)
    assert kafka_changes.key_of(CHANGE) != kafka_changes.key_of(
        Change("erp", "client", "A-17", "upsert", "e-3", {}, CHANGE.changed_at)
    )


def test_the_changes_agent_hands_decoded_changes_to_ingest() -> None:
    received: list[list[Change]] = []
    rejected: list[UnreadableMessage] = []

    def ingest(changes: Sequence[Change]) -> int:
        received.append(list(changes))
        return len(changes)

    settings = Settings(kafka_bootstrap="127.0.0.1:1", kafka_worker_within_seconds=0.01)
    app = build_app(settings, ingest, reject=keep(rejected), store="memory://")
    app.finalize()
    app.flow_control.resume()
    agent = app.agents["apply-changes"]

    async def run() -> None:
        async with agent.test_context() as ctx:
            await ctx.put(kafka_changes.encode(CHANGE), key=kafka_changes.key_of(CHANGE))
            await ctx.put(b"garbage", key=b"x")
            for _ in range(200):
                if received:
                    break
                await asyncio.sleep(0.01)

    asyncio.run(run())
    assert [c for batch in received for c in batch] == [CHANGE]
    [garbage] = rejected  # kept as a dead letter, not only logged
    assert garbage.payload["value"] == "garbage" and "not JSON" in garbage.reason


def envelope(op: str, lsn: int, row: dict[str, object]) -> bytes:
    image = {"before": row, "after": None} if op == "d" else {"before": None, "after": row}
    source = {"lsn": lsn, "txId": lsn // 10, "schema": "public", "table": "clients"}
    return json.dumps({**image, "op": op, "source": source, "ts_ms": 1_760_000_000_000}).encode()


def test_the_debezium_agent_decodes_with_the_topics_mapping() -> None:
    received: list[Change] = []
    rejected: list[UnreadableMessage] = []

    def ingest(changes: Sequence[Change]) -> int:
        received.extend(changes)
        return len(changes)

    settings = Settings(
        kafka_bootstrap="127.0.0.1:1",
        kafka_worker_within_seconds=0.01,
        kafka_debezium_topics="pg.public.clients",
        kafka_debezium_mappings="examples/mappings/psa-postgres.yaml",
    )
    decoder = debezium_decoder(settings, load_config())
    app = build_app(settings, ingest, decoder, reject=keep(rejected), store="memory://")
    app.finalize()
    app.flow_control.resume()
    agent = app.agents["apply-debezium"]
    row = {"id": 17, "name": " Acme ", "website": "ACME.example", "country": "gb"}

    async def run() -> None:
        async with agent.test_context() as ctx:
            await ctx.put(envelope("c", 100, row), key=b'{"id": 17}')
            await ctx.put(b'{"no": "op"}', key=b"x")  # not Debezium: a dead letter
            await ctx.put(envelope("d", 200, row), key=b'{"id": 17}')
            for _ in range(200):
                if len(received) == 2:
                    break
                await asyncio.sleep(0.01)

    asyncio.run(run())
    assert [(c.source, c.domain, c.key, c.op, c.sequence) for c in received] == [
        ("psa", "client", "17", "upsert", 100),
        ("psa", "client", "17", "delete", 200),
    ]
    assert received[0].attributes == {"name": "Acme", "website": "acme.example", "country": "GB"}
    [bad] = rejected
    assert "not a Debezium envelope" in bad.reason
    assert (bad.origin, bad.payload["key"]) == ("kafka:pg.public.clients", "x")


def test_a_debezium_topic_without_a_mapping_stops_the_start() -> None:
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1",
        kafka_debezium_topics="pg.public.invoices",
        kafka_debezium_mappings="examples/mappings/psa-postgres.yaml",
    )
    with pytest.raises(ConfigError, match=r"pg\.public\.invoices"):
        debezium_decoder(settings, load_config())
