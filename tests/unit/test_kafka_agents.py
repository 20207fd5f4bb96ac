"""The worker's agents with faust's ``test_context()`` (no broker): a message on
``concord.changes`` becomes a change handed to the ingest path, whole and unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from hub import kafka_changes
from hub.config import Settings
from hub.domain.model import Change
from hub.kafka_worker import build_app

CHANGE = Change(
    source="crm",
    domain="client",
    key="A-17",
    op="upsert",
    event_id="e-1",
    attributes={"name": "Acme", "tags": ["x"]},
    changed_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    sequence=7,
)


def test_a_change_round_trips_through_the_topic_codec() -> None:
    assert kafka_changes.decode(kafka_changes.encode(CHANGE)) == CHANGE


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (b"not json", "not JSON"),
        (b'{"op": "upsert", "attributes": {}}', "field changed_at"),
        (b'{"op": "merge"}', "field op"),
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

    def ingest(changes: Sequence[Change]) -> int:
        received.append(list(changes))
        return len(changes)

    settings = Settings(kafka_bootstrap="127.0.0.1:1", kafka_worker_within_seconds=0.01)
    app = build_app(settings, ingest, store="memory://")
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
