"""Webhooks against a real HTTP receiver on 127.0.0.1: signed (verified with the Standard
Webhooks reference library), retried with the same id, ordered per record, dead after the
schedule, replayable, 410 disables, each subscriber's own keys and no echo."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from typer.testing import CliRunner

from connectors.outbound.worker import DeliveryWorker
from hub.bootstrap import delivery_worker
from hub.cli.deliveries import deliveries_app
from hub.config import Settings
from hub.store.tables import DeliveryRow, SubscriptionRow
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory

# (attempt number for this webhook-id starting at 1, event) -> (status, headers, body)
Behaviour = Callable[[int, dict[str, Any]], tuple[int, dict[str, str], str]]


def ok(_: int, __: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    return 200, {}, "ok"


class Receiver:
    """A real HTTP server that verifies every request and answers as ``behaviour`` says."""

    def __init__(self) -> None:
        self.behaviour: Behaviour = ok
        self.secrets: list[str] = []
        self.requests: list[dict[str, Any]] = []  # every request, in arrival order
        self.problems: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.handle(self, body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        verified = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified.append(secret)
            except WebhookVerificationError:
                pass
        event = json.loads(body)
        with self.lock:
            if not verified:
                self.problems.append(f"bad signature on {headers.get('webhook-id')}")
            if headers.get("webhook-id") != event["id"]:
                self.problems.append("webhook-id is not the CloudEvent id")
            attempt = 1 + sum(r["id"] == event["id"] for r in self.requests)
            status, extra, text = self.behaviour(attempt, event)
            self.requests.append(
                {
                    "id": event["id"],
                    "subject": event["subject"],
                    "version": event["data"]["version"],
                    "event": event,
                    "status": status,
                    "verified": verified,
                    "signatures": headers["webhook-signature"].split(" "),
                    "correlation_id": headers.get("x-correlation-id"),
                }
            )
        h.send_response(status)
        for k, v in extra.items():
            h.send_header(k, v)
        h.send_header("content-length", str(len(text)))
        h.end_headers()
        h.wfile.write(text.encode())

    def subscribe_over_http(self, base: str, admin_key: str, name: str = "psa") -> None:
        """Subscribe this receiver to clients through a served hub's API (a process of its
        own), keeping the secret it answers with to verify what arrives."""
        r = httpx.post(
            f"{base}/api/v1/subscriptions",
            json={"name": name, "url": self.url, "domains": ["client"]},
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        self.secrets.append(r.json()["secret"])

    def delivered(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if 200 <= r["status"] < 300]

    def versions(self, subject: str, delivered_only: bool = True) -> list[int]:
        rows = self.delivered() if delivered_only else list(self.requests)
        return [r["version"] for r in rows if r["subject"] == subject]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def worker_for(api: Api, schedule: str = "0.05,0.05,0.05", **extra: Any) -> DeliveryWorker:
    values: dict[str, Any] = {"webhook_timeout_seconds": 5} | extra
    settings = Settings(
        database_url=api.hub.settings.database_url,
        webhook_retry_schedule=schedule,
        webhook_retry_jitter=0,
        **values,
    )
    return delivery_worker(api.hub.engine, settings, api.hub.config.personal_fields)


def run_until(worker: DeliveryWorker, done: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "timed out waiting for deliveries"
            if worker.run_once() == 0:
                time.sleep(0.02)
    finally:
        worker.stop()


def subscribe(api: Api, receiver: Receiver, **body: Any) -> dict[str, Any]:
    payload = {"name": "psa-hook", "kind": "webhook", "url": receiver.url, "domains": ["client"]}
    payload.update(body)
    r = api.client.post("/api/v1/subscriptions", json=payload, headers=api.auth("admin"))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    assert out["secret"].startswith("whsec_")
    receiver.secrets.append(out["secret"])
    return out


def post(api: Api, change: ChangeFactory, source: str, key: str, **attrs: Any) -> None:
    r = api.post(source, change("client", key, **attrs))
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    api.apply()


def test_signed_retried_with_same_id_ordered_per_record(
    api: Api, change: ChangeFactory, receiver: Receiver
) -> None:
    subscribe(api, receiver)
    post(api, change, "crm", "A-1", name="Acme")
    post(api, change, "crm", "B-1", name="Beta")
    post(api, change, "crm", "A-1", name="Acme Ltd")
    post(api, change, "crm", "B-1", name="Beta Ltd")
    a = str(api.golden_of("crm", "client", "A-1")["id"])
    b = str(api.golden_of("crm", "client", "B-1")["id"])

    def fail_a_three_times(attempt: int, event: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        if event["subject"] == a and event["data"]["version"] == 1 and attempt <= 3:
            return 503, {}, "busy"
        return 200, {}, "ok"

    receiver.behaviour = fail_a_three_times
    worker = worker_for(api)
    run_until(worker, lambda: len(receiver.delivered()) == 4)

    assert receiver.problems == []
    assert all(r["verified"] for r in receiver.requests)
    assert receiver.versions(a, delivered_only=False) == [1, 1, 1, 1, 2]
    assert receiver.versions(b) == [1, 2]
    a1 = [r["id"] for r in receiver.requests if r["subject"] == a and r["version"] == 1]
    assert len(set(a1)) == 1  # every repeat carries the same webhook-id
    # B was not held up by A: both of B's versions arrived before A's first success
    order = [(r["subject"], r["version"]) for r in receiver.delivered()]
    assert order.index((b, 2)) < order.index((a, 1))
    with admin_session(api.hub.engine) as s:
        sub = s.query(SubscriptionRow).one()
        assert sub.failed_attempts == 3 and sub.last_success_at is not None


def test_retry_after_is_honoured(api: Api, change: ChangeFactory, receiver: Receiver) -> None:
    subscribe(api, receiver)
    post(api, change, "crm", "A-1", name="Acme")
    receiver.behaviour = lambda n, e: (429, {"Retry-After": "30"}, "slow down")
    worker = worker_for(api, schedule="0.01")
    try:
        worker.run_once()
    finally:
        worker.stop()
    with admin_session(api.hub.engine) as s:
        d = s.query(DeliveryRow).one()
        assert d.status == "pending" and d.attempts == 1 and d.last_status == 429
        assert d.last_attempt_at is not None
        assert d.next_attempt_at - d.last_attempt_at >= timedelta(seconds=29)


def test_dead_after_the_schedule_holds_the_record_and_replays(
    api: Api, change: ChangeFactory, receiver: Receiver
) -> None:
    sub = subscribe(api, receiver)
    post(api, change, "crm", "A-1", name="Acme")
    post(api, change, "crm", "A-1", name="Acme Ltd")
    post(api, change, "crm", "B-1", name="Beta")
    a = str(api.golden_of("crm", "client", "A-1")["id"])
    receiver.behaviour = lambda n, e: (500, {}, "boom") if e["subject"] == a else (200, {}, "")
    worker = worker_for(api, schedule="0.01,0.01")
    run_until(worker, lambda: len(receiver.versions(a, delivered_only=False)) == 3)
    time.sleep(0.1)
    worker = worker_for(api, schedule="0.01,0.01")
    worker.run_once()
    worker.stop()

    r = api.client.get(
        f"/api/v1/subscriptions/{sub['id']}/deliveries?status=dead", headers=api.auth("admin")
    )
    dead = r.json()
    assert [(d["status"], d["attempts"], d["last_status"], d["last_response"]) for d in dead] == [
        ("dead", 3, 500, "boom")
    ]
    assert receiver.versions(a, delivered_only=False) == [1, 1, 1]  # v2 is held behind dead v1
    state = api.client.get(f"/api/v1/subscriptions/{sub['id']}", headers=api.auth("admin")).json()
    assert state["delivery"]["dead"] == 1 and state["delivery"]["lag"] == 2
    metrics = api.client.get("/metrics").text
    assert 'concord_subscription_dead_deliveries{subscription="psa-hook"} 1.0' in metrics
    assert 'concord_subscription_lag_events{subscription="psa-hook"} 2.0' in metrics

    receiver.behaviour = ok
    r = api.client.post(
        f"/api/v1/subscriptions/{sub['id']}/replay", json={"dead": True}, headers=api.auth("admin")
    )
    assert r.json() == {"replayed": 1}
    run_until(worker_for(api), lambda: receiver.versions(a) == [1, 2])
    assert receiver.problems == []


def test_replay_one_event_and_from_a_cursor_by_cli(
    api: Api, change: ChangeFactory, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribe(api, receiver, start="beginning")
    post(api, change, "crm", "A-1", name="Acme")
    post(api, change, "crm", "A-1", name="Acme Ltd")
    post(api, change, "crm", "B-1", name="Beta")
    a = str(api.golden_of("crm", "client", "A-1")["id"])
    b = str(api.golden_of("crm", "client", "B-1")["id"])
    run_until(worker_for(api), lambda: len(receiver.delivered()) == 3)
    first = next(r["id"] for r in receiver.delivered() if (r["subject"], r["version"]) == (a, 1))

    monkeypatch.setenv("CONCORD_DATABASE_URL", api.hub.settings.database_url)
    cli = CliRunner()
    done = cli.invoke(deliveries_app, ["replay", "psa-hook", "--event", first])
    assert done.exit_code == 0, done.output
    assert "replaying 2" in done.output  # A's v1 and, after it, v2 again
    run_until(worker_for(api), lambda: len(receiver.delivered()) == 5)
    assert receiver.versions(a) == [1, 2, 1, 2]

    feed = api.get("/api/v1/feed").json()  # type: ignore[attr-defined]
    cursor = feed["events"][1]["seq"]
    done = cli.invoke(deliveries_app, ["replay", "psa-hook", "--after", str(cursor)])
    assert done.exit_code == 0 and "replaying 1" in done.output, done.output
    run_until(worker_for(api), lambda: len(receiver.delivered()) == 6)
    assert receiver.versions(b) == [1, 1]
    listed = cli.invoke(deliveries_app, ["list", "-s", "psa-hook"])
    assert listed.exit_code == 0 and "delivered" in listed.output
    assert cli.invoke(deliveries_app, ["replay", "psa-hook"]).exit_code == 1


def test_gone_disables_and_resume_sends_what_was_missed(
    api: Api, change: ChangeFactory, receiver: Receiver
) -> None:
    sub = subscribe(api, receiver)
    post(api, change, "crm", "A-1", name="Acme")
    receiver.behaviour = lambda n, e: (410, {}, "gone")
    worker = worker_for(api)
    worker.run_once()
    worker.run_once()
    worker.stop()
    assert len(receiver.requests) == 1
    show = api.client.get(f"/api/v1/subscriptions/{sub['id']}", headers=api.auth("admin")).json()
    assert show["status"] == "disabled" and "410" in show["status_reason"]
    post(api, change, "crm", "A-1", name="Acme Ltd")  # still collected while disabled

    receiver.behaviour = ok
    r = api.client.post(f"/api/v1/subscriptions/{sub['id']}/resume", headers=api.auth("admin"))
    assert r.json()["status"] == "active"
    a = str(api.golden_of("crm", "client", "A-1")["id"])
    run_until(worker_for(api), lambda: receiver.versions(a) == [1, 2])


def test_your_keys_and_no_echo(api: Api, change: ChangeFactory, receiver: Receiver) -> None:
    subscribe(api, receiver, name="crm-hook", source="crm")
    subscribe(api, receiver, name="crm-echo", source="crm", echo=True)
    subscribe(api, receiver, name="plain")
    post(api, change, "crm", "A-17", name="Acme", tax_id="GB123", country="GB")
    # ERP's record links by tax id and contributes legal_name (ERP owns it): news to CRM
    post(api, change, "erp", "E-9", legal_name="Acme Holdings Ltd", tax_id="GB123", country="GB")
    gid = str(api.golden_of("crm", "client", "A-17")["id"])
    assert api.golden_of("erp", "client", "E-9")["id"] == gid
    run_until(worker_for(api), lambda: len(receiver.delivered()) == 5)
    time.sleep(0.1)

    def got(secret_of: str) -> list[tuple[int, list[str] | None]]:
        secret = receiver.secrets[["crm-hook", "crm-echo", "plain"].index(secret_of)]
        return [
            (r["version"], r["event"]["data"].get("your_keys"))
            for r in receiver.delivered()
            if secret in r["verified"]
        ]

    assert got("crm-hook") == [(2, ["A-17"])]  # v1 came only from CRM: no echo
    assert got("crm-echo") == [(1, ["A-17"]), (2, ["A-17"])]
    assert got("plain") == [(1, None), (2, None)]


def test_secret_rotation_sends_both_signatures(
    api: Api, change: ChangeFactory, receiver: Receiver
) -> None:
    sub = subscribe(api, receiver)
    old = receiver.secrets[0]
    r = api.client.post(
        f"/api/v1/subscriptions/{sub['id']}/rotate-secret", headers=api.auth("admin")
    )
    new = r.json()["secret"]
    assert new != old and r.json()["previous_secret_valid_until"]
    receiver.secrets.append(new)
    post(api, change, "crm", "A-1", name="Acme")
    run_until(worker_for(api), lambda: len(receiver.delivered()) == 1)
    request = receiver.requests[0]
    assert len(request["signatures"]) == 2
    assert request["verified"] == [old, new]  # each secret alone verifies the request


def test_subscription_api_admin_only_and_kafka_needs_a_broker(api: Api, receiver: Receiver) -> None:
    body = {"name": "k", "kind": "kafka", "domains": ["client"]}
    r = api.client.post("/api/v1/subscriptions", json=body, headers=api.auth("admin"))
    assert r.status_code == 422 and "CONCORD_KAFKA_BOOTSTRAP" in r.json()["detail"]
    body = {"name": "x", "url": receiver.url, "domains": ["client"]}
    r = api.client.post("/api/v1/subscriptions", json=body, headers=api.auth("reader"))
    assert r.status_code == 403
    r = api.client.post(
        "/api/v1/subscriptions", json={**body, "domains": ["planet"]}, headers=api.auth("admin")
    )
    assert r.status_code == 422 and "planet" in r.json()["detail"]
    r = api.client.post(
        "/api/v1/subscriptions", json={**body, "source": "nosuch"}, headers=api.auth("admin")
    )
    assert r.status_code == 422
    sub = subscribe(api, receiver, name="x")
    r = api.client.post("/api/v1/subscriptions", json=body, headers=api.auth("admin"))
    assert r.status_code == 409
    listed = api.client.get("/api/v1/subscriptions", headers=api.auth("admin")).json()
    assert [s["name"] for s in listed] == ["x"] and "secret" not in listed[0]
    r = api.client.post("/api/v1/subscriptions/x/pause", headers=api.auth("admin"))
    assert r.json()["status"] == "paused"
    r = api.client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=api.auth("admin"))
    assert r.status_code == 204
    r = api.client.get(f"/api/v1/subscriptions/{sub['id']}", headers=api.auth("admin"))
    assert r.status_code == 404


def test_feed_long_poll_returns_when_an_event_exists(api: Api, change: ChangeFactory) -> None:
    started = time.monotonic()
    r = api.get("/api/v1/feed?wait=0.3")
    assert r.json()["events"] == [] and time.monotonic() - started >= 0.3  # type: ignore[attr-defined]

    result: dict[str, Any] = {}

    def poll() -> None:
        t0 = time.monotonic()
        result["response"] = api.get("/api/v1/feed?wait=8")
        result["seconds"] = time.monotonic() - t0

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.5)
    writer = Api(api.hub, api.keys)
    r2 = writer.post("crm", change("client", "A-1", name="Acme"))
    assert r2.status_code == 202  # type: ignore[attr-defined]
    api.apply()
    thread.join(15)
    assert len(result["response"].json()["events"]) == 1
    assert 0.5 <= result["seconds"] < 5
    assert api.get("/api/v1/feed?wait=61").status_code == 422  # type: ignore[attr-defined]
