"""Scale-out mode against a real Kafka-protocol broker and PostgreSQL: the API publishes to
``concord.changes`` (202 only once acknowledged), ``concord worker`` processes apply through the
inbox (a change seen twice is applied once), and the relay publishes every golden change to
``concord.golden.<domain>`` keyed by golden id."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.bootstrap import Hub
from hub.store import access
from hub.store.tables import GoldenRecordRow, InboxRow, OutboxRow, SourceRecordRow
from hub.store.uow import admin_session
from tests.conftest import CONTACT_KEYS, make_hub
from tests.kafka import Broker, produce, read_topics

pytestmark = pytest.mark.postgres


@dataclass
class ScaleOut:
    hub: Hub
    env: dict[str, str]
    broker: Broker
    golden_prefix: str
    logs: Path
    client: TestClient
    key: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        n = len(list(self.logs.glob("worker-*.log")))
        log = (self.logs / f"worker-{n}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker"], env=self.env, stdout=log, stderr=log
        )
        self.workers.append(proc)
        return proc

    def kill_and_restart(self, victim: subprocess.Popen[bytes]) -> None:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)  # gone before its replacement joins the group
        self.workers.remove(victim)
        self.start_worker()

    def post(self, changes: list[dict[str, Any]]) -> dict[str, Any]:
        r = self.client.post(
            "/api/v1/changes",
            json={"changes": changes},
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert r.status_code == 202, r.text
        body: dict[str, Any] = r.json()
        return body

    def count(self, stmt: Any) -> int:
        with admin_session(self.hub.engine) as s:
            return int(s.scalar(stmt) or 0)

    def wait(self, done: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            for p in self.workers:
                assert p.poll() is None, f"a worker exited with {p.returncode}: {self.log()}"
            assert time.monotonic() < deadline, f"timed out; worker logs: {self.log()}"
            time.sleep(0.2)

    def log(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.logs.glob("worker-*.log")))


def kafka_env(broker: Broker, db_url: str, tag: str) -> dict[str, str]:
    """Settings for a test's hub and workers: its own topics and group on the session broker,
    one record per producer batch and the short group timers the test broker needs."""
    return {
        "CONCORD_DATABASE_URL": db_url,
        "CONCORD_KAFKA_BOOTSTRAP": broker.bootstrap,
        "CONCORD_KAFKA_CHANGES_TOPIC": f"{tag}.changes",
        "CONCORD_KAFKA_GOLDEN_PREFIX": f"{tag}.golden",
        "CONCORD_KAFKA_GROUP": f"{tag}-workers",
        "CONCORD_KAFKA_PARTITIONS": "4",
        "CONCORD_KAFKA_MAX_BATCH_BYTES": "1",
        "CONCORD_KAFKA_SESSION_TIMEOUT_SECONDS": "1",
        "CONCORD_KAFKA_HEARTBEAT_SECONDS": "0.3",
        "CONCORD_KAFKA_REBALANCE_TIMEOUT_SECONDS": "1",
        "CONCORD_DELIVERY_IDLE_SECONDS": "0.05",
    }


@pytest.fixture
def scale_out(pg_url: str, kafka_broker: Broker, tmp_path: Path) -> Iterator[ScaleOut]:
    tag = kafka_broker.unique("t")
    env = kafka_env(kafka_broker, pg_url, tag)
    kafka_broker.create_topic(f"{tag}.changes", partitions=4)
    kafka_broker.create_topic(f"{tag}.golden.client", partitions=2)
    settings = {k.removeprefix("CONCORD_").lower(): v for k, v in env.items()}
    del settings["database_url"]
    hub = make_hub(pg_url, contact_keys=True, **settings)
    with admin_session(hub.engine) as s:
        key = access.add_source(s, "crm", ["client"], None, None, set(hub.config.domains))
    client = TestClient(create_app(hub, run_worker=False))
    config = tmp_path / "concord.yaml"  # the workers link by website too, as the hub above
    config.write_text(CONTACT_KEYS, encoding="utf-8")
    env["CONCORD_CONFIG"] = str(config)
    so = ScaleOut(hub, {**os.environ, **env}, kafka_broker, f"{tag}.golden", tmp_path, client, key)
    yield so
    for p in so.workers:
        p.kill()
        p.wait(10)
    producer = getattr(client.app.state, "changes_producer", None)  # type: ignore[attr-defined]
    if producer is not None:
        producer.close()
    hub.close()


def clients(start: int, n: int, version: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "domain": "client",
            "key": f"C-{i}",
            "sequence": version,
            "attributes": {"name": f"Client {i} v{version}", "city": "Leeds"},
        }
        for i in range(start, start + n)
    ]


def test_changes_go_through_kafka_to_golden_records_and_out_again(scale_out: ScaleOut) -> None:
    so = scale_out
    accepted = so.post(clients(0, 20))
    assert accepted == {"accepted": 20, "duplicates": 0}
    # Nothing reaches the inbox until a worker consumes the topic.
    assert so.count(select(func.count()).select_from(InboxRow)) == 0
    so.start_worker()
    so.wait(lambda: so.count(select(func.count()).select_from(GoldenRecordRow)) == 20)
    so.post(clients(0, 5, version=2))
    so.post(clients(0, 5, version=2))  # the same batch again: same event ids
    applied = select(func.count()).select_from(InboxRow).where(InboxRow.status == "applied")
    so.wait(lambda: so.count(applied) == 25)
    assert so.count(select(func.count()).select_from(InboxRow)) == 25  # the resend: duplicates
    assert so.count(select(func.count()).select_from(SourceRecordRow)) == 20

    records = read_topics(so.broker.bootstrap, [f"{so.golden_prefix}.client"], 25, timeout=30)
    versions: dict[str, list[int]] = {}
    for r in records:
        event = json.loads(r.value)
        assert r.key.decode() == event["subject"]
        versions.setdefault(event["subject"], []).append(event["data"]["version"])
    assert len(versions) == 20
    assert sorted(v for vs in versions.values() for v in vs) == [1] * 20 + [2] * 5
    assert all(vs == sorted(vs) for vs in versions.values())


def company_name(rng: random.Random) -> str:
    """A made-up firm name, far from every other one, so fuzzy matching links nothing."""
    syllables = ["zor", "vath", "quil", "len", "mar", "dox", "pry", "tesh", "kol", "bun", "yal"]
    word = "".join(rng.choice(syllables) for _ in range(4))
    return f"{word.capitalize()} {rng.choice(['Partners', 'Group', 'Holdings', 'Works'])}"


def test_a_worker_killed_mid_stream_loses_nothing_and_doubles_nothing(
    scale_out: ScaleOut,
) -> None:
    """Two workers; each is SIGKILLed once while batches stream in, and restarted. Every
    change is stored once and applied once, the newest version of each record wins, every
    golden version has exactly one outbox event, and the relay published every one of them."""
    so = scale_out
    rng = random.Random(6)
    names: dict[str, str] = {}
    versions: dict[str, int] = {}
    stream: list[dict[str, Any]] = []
    for _ in range(1_500):
        if len(names) < 400 and (not names or rng.random() < 0.35):
            key = f"C-{len(names)}"
        else:
            key = rng.choice(sorted(names))
        versions[key] = versions.get(key, 0) + 1
        names[key] = company_name(rng)
        stream.append(
            {
                "domain": "client",
                "key": key,
                "sequence": versions[key],
                "attributes": {"name": names[key], "city": "Leeds"},
            }
        )
    batches = [stream[i : i + 50] for i in range(0, len(stream), 50)]
    so.start_worker()
    so.start_worker()
    kills = (len(batches) // 3, 2 * len(batches) // 3)
    for i, batch in enumerate(batches):
        if i in kills:
            so.kill_and_restart(so.workers[0])  # the oldest: first one, then the other
        so.post(batch)
        time.sleep(0.05)

    done = select(func.count()).select_from(InboxRow).where(InboxRow.status != "pending")
    so.wait(lambda: so.count(done) == len(stream), timeout=180)
    with admin_session(so.hub.engine) as s:
        assert s.scalar(select(func.count()).select_from(InboxRow)) == len(stream)
        statuses = dict(
            s.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all()
        )
        assert statuses.get("dead", 0) == 0 and statuses.get("pending", 0) == 0
        rows = s.execute(
            select(
                SourceRecordRow.source_key, GoldenRecordRow.attributes, GoldenRecordRow.version
            ).join(GoldenRecordRow, GoldenRecordRow.id == SourceRecordRow.golden_id)
        ).all()
        assert {k: a["name"] for k, a, _ in rows} == names  # the newest version of each won
        events = s.execute(select(OutboxRow.golden_id, OutboxRow.version, OutboxRow.event_id)).all()
        goldens = dict(s.execute(select(GoldenRecordRow.id, GoldenRecordRow.version)).all())
    per_golden: dict[str, list[int]] = {}
    for gid, version, _ in events:
        per_golden.setdefault(gid, []).append(version)
    assert {g: sorted(v) for g, v in per_golden.items()} == {
        g: list(range(1, v + 1)) for g, v in goldens.items()
    }  # one event per version: none missing, none doubled

    wanted = {e for _, _, e in events}
    records = read_topics(so.broker.bootstrap, [f"{so.golden_prefix}.client"], len(wanted), 120)
    assert {json.loads(r.value)["id"] for r in records} == wanted


def debezium(op: str, lsn: int, row: dict[str, Any]) -> tuple[bytes, bytes]:
    image = {"before": row, "after": None} if op == "d" else {"before": None, "after": row}
    source = {"lsn": lsn, "txId": lsn, "schema": "public", "table": "clients"}
    value = {**image, "op": op, "source": source, "ts_ms": 1_760_000_000_000 + lsn}
    return json.dumps({"id": row["id"]}).encode(), json.dumps(value).encode()


def test_debezium_events_become_golden_records_once(scale_out: ScaleOut) -> None:
    so = scale_out
    topic = so.env["CONCORD_KAFKA_CHANGES_TOPIC"].replace(".changes", ".pg.public.clients")
    so.broker.create_topic(topic, partitions=2)
    so.env |= {
        "CONCORD_KAFKA_DEBEZIUM_TOPICS": topic,
        "CONCORD_KAFKA_DEBEZIUM_MAPPINGS": "examples/mappings/psa-postgres.yaml",
    }
    with admin_session(so.hub.engine) as s:
        access.add_source(s, "psa", ["client"], None, None, set(so.hub.config.domains))
    acme = {"id": 1, "name": "Acme", "website": "acme.example", "country": "gb"}
    beta = {"id": 2, "name": "Zorblax Holdings", "website": "zorblax.example", "country": "de"}
    events = [
        debezium("r", 10, acme),  # snapshot read
        debezium("c", 20, beta),
        debezium("u", 30, {**acme, "name": "Acme Consulting"}),
        debezium("u", 30, {**acme, "name": "Acme Consulting"}),  # redelivered: a duplicate
        debezium("d", 40, beta),
    ]
    produce(so.broker.bootstrap, topic, [*events, (b'{"id": 2}', None)])  # and a tombstone
    so.start_worker()
    done = select(func.count()).select_from(InboxRow).where(InboxRow.status != "pending")
    so.wait(lambda: so.count(done) == 4)
    with admin_session(so.hub.engine) as s:
        assert s.scalar(select(func.count()).select_from(InboxRow)) == 4
        rows = dict(
            s.execute(
                select(SourceRecordRow.source_key, GoldenRecordRow.attributes).join(
                    GoldenRecordRow, GoldenRecordRow.id == SourceRecordRow.golden_id
                )
            ).all()
        )
        statuses = dict(
            s.execute(select(SourceRecordRow.source_key, SourceRecordRow.deleted)).all()
        )
    assert rows["1"]["name"] == "Acme Consulting" and rows["1"]["country"] == "GB"
    assert statuses == {"1": False, "2": True}


def test_two_workers_make_one_golden_record_of_a_pair_that_arrives_at_once(
    scale_out: ScaleOut,
) -> None:
    """CRM and ERP send the same 60 firms (same website) in one burst; their changes have
    different keys, so they land on different partitions and often on different workers at
    the same moment. Each pair still makes one golden record (advisory locks on match keys)."""
    so = scale_out
    with admin_session(so.hub.engine) as s:
        erp = access.add_source(s, "erp", ["client"], None, None, set(so.hub.config.domains))
    so.start_worker()
    so.start_worker()
    rng = random.Random(7)
    firms = [(company_name(rng), f"https://firm{i}.co.uk") for i in range(60)]
    crm = [
        {"domain": "client", "key": f"C-{i}", "attributes": {"name": n, "website": w}}
        for i, (n, w) in enumerate(firms)
    ]
    erp_changes = [
        {"domain": "client", "key": f"E-{i}", "attributes": {"legal_name": n, "website": w}}
        for i, (n, w) in enumerate(firms)
    ]
    time.sleep(3)  # both workers in the group before the burst
    for i in range(0, 60, 10):
        so.post(crm[i : i + 10])
        r = so.client.post(
            "/api/v1/changes",
            json={"changes": erp_changes[i : i + 10]},
            headers={"Authorization": f"Bearer {erp}"},
        )
        assert r.status_code == 202, r.text
    done = select(func.count()).select_from(InboxRow).where(InboxRow.status != "pending")
    so.wait(lambda: so.count(done) == 120)
    with admin_session(so.hub.engine) as s:
        links = s.execute(select(SourceRecordRow.source_key, SourceRecordRow.golden_id)).all()
    golden = dict(links)
    assert len(golden) == 120
    assert all(golden[f"C-{i}"] == golden[f"E-{i}"] for i in range(60))
    assert len(set(golden.values())) == 60
