"""Kafka subscriptions against a real Kafka-protocol broker: topic per domain, key = golden id,
in order per record, the subscriber's own keys and no echo, and the same delivery state
(lag, last success, failures, dead) as webhooks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from connectors.outbound.worker import DeliveryWorker
from hub.bootstrap import delivery_worker
from hub.config import Settings
from tests.conftest import Api, ChangeFactory
from tests.support.kafka import Broker, read_topics


def worker_for(api: Api, **extra: Any) -> DeliveryWorker:
    values: dict[str, Any] = {
        "database_url": api.hub.settings.database_url,
        "webhook_retry_schedule": "0.05,0.05",
        "webhook_retry_jitter": 0,
        "kafka_max_batch_bytes": 1,  # one record per batch: the test broker's end-offset bug
        "kafka_timeout_seconds": 5,
    }
    settings = Settings(**(values | extra))
    return delivery_worker(api.hub.engine, settings, api.hub.config.personal_fields)


def run_until(worker: DeliveryWorker, done: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "timed out waiting for deliveries"
            if worker.run_once() == 0:
                time.sleep(0.02)
    finally:
        worker.stop()


def subscribe(api: Api, **body: Any) -> dict[str, Any]:
    r = api.client.post(
        "/api/v1/subscriptions", json={"kind": "kafka", **body}, headers=api.auth("admin")
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def state(api: Api, name: str) -> dict[str, Any]:
    r = api.client.get(f"/api/v1/subscriptions/{name}", headers=api.auth("admin"))
    assert r.status_code == 200, r.text
    delivery: dict[str, Any] = r.json()["delivery"]
    return delivery


def post(api: Api, change: ChangeFactory, source: str, domain: str, key: str, **a: Any) -> None:
    r = api.post(source, change(domain, key, **a))
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    api.apply()


def test_events_go_to_the_domain_topic_keyed_by_golden_id_in_order(
    api: Api, change: ChangeFactory, kafka_broker: Broker
) -> None:
    prefix = kafka_broker.unique("crm.golden")
    for domain in ("client", "project"):
        kafka_broker.create_topic(f"{prefix}.{domain}", partitions=3)
    url = f"kafka://{kafka_broker.bootstrap}/{prefix}"
    subscribe(api, name="crm-kafka", url=url, domains=["client", "project"], source="crm")
    post(api, change, "crm", "client", "A-17", name="Acme", tax_id="GB123", country="GB")
    post(api, change, "crm", "client", "B-2", name="Beta")
    # ERP links by tax id and brings legal_name (ERP owns it): news to CRM
    post(
        api,
        change,
        "erp",
        "client",
        "E-9",
        legal_name="Acme Holdings",
        tax_id="GB123",
        country="GB",
    )
    post(api, change, "crm", "client", "B-2", name="Beta Ltd")
    post(api, change, "crm", "client", "B-2", name="Beta Group")
    a = str(api.golden_of("crm", "client", "A-17")["id"])
    b = str(api.golden_of("crm", "client", "B-2")["id"])
    assert state(api, "crm-kafka")["lag"] > 0

    # No echo: CRM's own creates and renames come back only when someone else changed them.
    # So CRM gets A v2 (ERP's legal name) only; B's versions are all its own: none.
    run_until(worker_for(api), lambda: state(api, "crm-kafka")["lag"] == 0)
    records = read_topics(kafka_broker.bootstrap, [f"{prefix}.client"], 1)
    events = [(r.key.decode(), json.loads(r.value)) for r in records]
    assert [(k, e["data"]["version"]) for k, e in events] == [(a, 2)]
    _, event = events[0]
    assert event["subject"] == a and event["type"] == "concord.client.updated"
    assert event["data"]["your_keys"] == ["A-17"]
    headers = dict(records[0].headers)
    assert headers["content-type"].startswith(b"application/cloudevents+json")
    assert headers["x-correlation-id"]  # the request that brought ERP's change

    s = state(api, "crm-kafka")
    assert s["delivered"] == 1 and s["pending"] == 0 and s["last_success_at"] is not None
    assert s["failed_attempts"] == 0
    assert b not in {k for k, _ in events}


def test_every_version_in_order_per_record_without_a_source(
    api: Api, change: ChangeFactory, kafka_broker: Broker
) -> None:
    prefix = kafka_broker.unique("all.golden")
    kafka_broker.create_topic(f"{prefix}.client", partitions=3)
    subscribe(api, name="all", url=f"kafka://{kafka_broker.bootstrap}/{prefix}", domains=["client"])
    names = {"A-1": ["Acme", "Acme Ltd", "Acme Group"], "B-1": ["Beta", "Beta Ltd"]}
    for i in range(3):
        for key, versions in names.items():
            if i < len(versions):
                post(api, change, "crm", "client", key, name=versions[i])
    run_until(worker_for(api), lambda: state(api, "all")["delivered"] == 5)
    records = read_topics(kafka_broker.bootstrap, [f"{prefix}.client"], 5)
    by_key: dict[str, list[int]] = {}
    partitions: dict[str, set[int]] = {}
    for r in records:
        by_key.setdefault(r.key.decode(), []).append(json.loads(r.value)["data"]["version"])
        partitions.setdefault(r.key.decode(), set()).add(r.partition)
    a = str(api.golden_of("crm", "client", "A-1")["id"])
    b = str(api.golden_of("crm", "client", "B-1")["id"])
    assert by_key == {a: [1, 2, 3], b: [1, 2]}
    assert all(len(p) == 1 for p in partitions.values())  # one record, one partition
    assert all("your_keys" not in json.loads(r.value)["data"] for r in records)


def test_an_unreachable_broker_is_retried_then_dead_and_counted(
    api: Api, change: ChangeFactory
) -> None:
    subscribe(api, name="nowhere", url="kafka://127.0.0.1:9/x.golden", domains=["client"])
    post(api, change, "crm", "client", "A-1", name="Acme")
    worker = worker_for(api, kafka_timeout_seconds=1)
    run_until(worker, lambda: state(api, "nowhere")["dead"] == 1)
    s = state(api, "nowhere")
    assert s["failed_attempts"] == 3 and s["last_success_at"] is None and s["lag"] == 1
    r = api.client.get("/api/v1/subscriptions/nowhere/deliveries", headers=api.auth("admin"))
    assert "KafkaConnectionError" in r.json()[0]["last_response"]
