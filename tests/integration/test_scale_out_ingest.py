"""Scale-out ingest: ``POST /api/v1/changes`` validates as in embedded mode, then publishes to
``concord.changes`` keyed by the source record, answering 202 only once the broker has
acknowledged every change, and 503 (nothing in the inbox) when it cannot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.bootstrap import Hub
from hub.runtime.kafka_changes import decode
from hub.store import access
from hub.store.tables import InboxRow
from hub.store.uow import admin_session
from tests.conftest import make_hub
from tests.support.kafka import Broker, read_topics


def scale_out_client(url: str, bootstrap: str, topic: str) -> tuple[Hub, TestClient, str]:
    hub = make_hub(
        url,
        kafka_bootstrap=bootstrap,
        kafka_changes_topic=topic,
        kafka_max_batch_bytes=1,
        kafka_timeout_seconds=2,
    )
    with admin_session(hub.engine) as s:
        key = access.add_source(s, "crm", ["client"], None, None, set(hub.config.domains))
    return hub, TestClient(create_app(hub, run_worker=False)), key


@pytest.fixture
def closing() -> Iterator[list[tuple[Hub, TestClient]]]:
    opened: list[tuple[Hub, TestClient]] = []
    yield opened
    for hub, client in opened:
        producer = getattr(client.app.state, "changes_producer", None)  # type: ignore[attr-defined]
        if producer is not None:
            producer.close()
        hub.close()


def inbox_size(hub: Hub) -> int:
    with admin_session(hub.engine) as s:
        return int(s.scalar(select(func.count()).select_from(InboxRow)) or 0)


def change(key: str, seq: int, **attributes: Any) -> dict[str, Any]:
    return {"domain": "client", "key": key, "sequence": seq, "attributes": attributes}


def test_accepted_changes_are_on_the_topic_keyed_by_source_record(
    db_url: str, kafka_broker: Broker, closing: list[tuple[Hub, TestClient]]
) -> None:
    topic = kafka_broker.create_topic(kafka_broker.unique("changes"), partitions=4)
    hub, client, key = scale_out_client(db_url, kafka_broker.bootstrap, topic)
    closing.append((hub, client))
    auth = {"Authorization": f"Bearer {key}"}
    batch = [change(f"A-{i}", 1, name=f"Acme {i}") for i in range(6)] + [
        change("A-0", 2, name="Acme Zero")
    ]
    r = client.post("/api/v1/changes", json={"changes": batch}, headers=auth)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 7, "duplicates": 0}
    assert inbox_size(hub) == 0  # the workers' inbox, not this process's

    records = read_topics(kafka_broker.bootstrap, [topic], 7)
    assert len(records) == 7
    changes = [(r, decode(r.value)) for r in records]
    for r, c in changes:
        assert json.loads(r.key) == ["client", "crm", c.key]
        assert c.source == "crm" and c.event_id
    a0 = [(r.partition, c.sequence) for r, c in changes if c.key == "A-0"]
    assert len({p for p, _ in a0}) == 1  # one source record, one partition
    assert [s for _, s in a0] == [1, 2]  # in the order accepted


def test_a_bad_change_is_refused_before_anything_is_published(
    db_url: str, kafka_broker: Broker, closing: list[tuple[Hub, TestClient]]
) -> None:
    topic = kafka_broker.create_topic(kafka_broker.unique("changes"))
    hub, client, key = scale_out_client(db_url, kafka_broker.bootstrap, topic)
    closing.append((hub, client))
    bad = [change("A-1", 1, name="Acme"), {"domain": "planet", "key": "P-1", "attributes": {}}]
    r = client.post(
        "/api/v1/changes", json={"changes": bad}, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 422 and "planet" in r.text
    assert read_topics(kafka_broker.bootstrap, [topic], 0, settle=1.0) == []


def test_no_broker_answers_503_and_stores_nothing(
    db_url: str, closing: list[tuple[Hub, TestClient]]
) -> None:
    hub, client, key = scale_out_client(db_url, "127.0.0.1:9", "concord.changes")
    closing.append((hub, client))
    r = client.post(
        "/api/v1/changes",
        json={"changes": [change("A-1", 1, name="Acme")]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 503, r.text
    assert "send the batch again" in r.json()["detail"] and r.headers["retry-after"] == "1"
    assert inbox_size(hub) == 0
