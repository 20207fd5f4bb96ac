"""Delivery as a pipeline (issue 14, must-have 3), against real HTTP receivers on 127.0.0.1:
a hanging subscriber never holds up a fast one, one deadline covers a whole request, many
records are in flight per subscriber while each record's versions go one after another over
kept-alive connections, and on PostgreSQL a commit of outbox rows wakes the worker of another
process at once (``NOTIFY``), without waiting for its poll."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from connectors.outbound.worker import DeliveryWorker
from hub.store.tables import DeliveryRow
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory
from tests.integration.test_webhooks import worker_for

# what a receiver does with one request: (handler, event) -> None; it answers itself
Act = Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


class KeepAliveReceiver:
    """An HTTP/1.1 receiver (connections stay open) that notes what arrived, when it was
    answered, and from which client connection; ``act`` answers each request."""

    def __init__(self, act: Act | None = None) -> None:
        self.act: Act = act or answer(204)
        self.release = threading.Event()  # ends every hanging or dripping answer
        self.events: list[dict[str, Any]] = []
        self.answered: list[tuple[str, int]] = []  # (subject, version), in answer order
        self.connections: set[tuple[str, int]] = set()
        self.problems: list[str] = []
        self.open = 0
        self.most_open = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver.handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        event = json.loads(h.rfile.read(int(h.headers["content-length"])))
        subject, version = event["subject"], event["data"]["version"]
        with self.lock:
            self.connections.add(h.client_address)
            if version > 1 and (subject, version - 1) not in self.answered:
                self.problems.append(
                    f"{subject} v{version} sent before v{version - 1} was answered"
                )
            self.events.append(event)
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            self.act(h, event)
        finally:
            with self.lock:
                self.open -= 1
                self.answered.append((subject, version))

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def answer(status: int, hold: float = 0.0) -> Act:
    def act(h: BaseHTTPRequestHandler, _: dict[str, Any]) -> None:
        if hold:
            time.sleep(hold)
        h.send_response(status)
        h.send_header("content-length", "0")
        h.end_headers()

    return act


def hang(receiver: KeepAliveReceiver) -> Act:
    """Never answer (until the test ends)."""

    def act(h: BaseHTTPRequestHandler, _: dict[str, Any]) -> None:
        receiver.release.wait(120)
        h.close_connection = True  # and then hang up, unanswered

    return act


def drip(receiver: KeepAliveReceiver) -> Act:
    """Answer 200 at once, then the body a byte every 0.2 s: every read is quick, the whole
    answer never ends (until the test does)."""

    def act(h: BaseHTTPRequestHandler, _: dict[str, Any]) -> None:
        h.send_response(200)
        h.send_header("content-length", "1000")
        h.end_headers()
        for _ in range(1000):
            if receiver.release.wait(0.2):
                h.close_connection = True
                return
            h.wfile.write(b".")
            h.wfile.flush()

    return act


@pytest.fixture
def receivers() -> Iterator[list[KeepAliveReceiver]]:
    made: list[KeepAliveReceiver] = []
    yield made
    for r in made:
        r.close()


def _receiver(made: list[KeepAliveReceiver], act: Act | None = None) -> KeepAliveReceiver:
    r = KeepAliveReceiver(act)
    made.append(r)
    return r


def _subscribe(api: Api, name: str, url: str) -> None:
    body = {"name": name, "kind": "webhook", "url": url, "domains": ["client"]}
    r = api.client.post("/api/v1/subscriptions", json=body, headers=api.auth("admin"))
    assert r.status_code == 201, r.text


def _post(api: Api, change: ChangeFactory, key: str, version: int) -> None:
    r = api.post("crm", change("client", key, name=f"Company {key} v{version} Ltd"))
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]


def _wait(what: str, done: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _running(worker: DeliveryWorker) -> DeliveryWorker:
    worker.start()
    return worker


def test_a_hanging_subscriber_never_holds_up_a_fast_one(
    api: Api, change: ChangeFactory, receivers: list[KeepAliveReceiver]
) -> None:
    stuck = _receiver(receivers)
    stuck.act = hang(stuck)
    fast = _receiver(receivers)
    _subscribe(api, "stuck", stuck.url)
    _subscribe(api, "fast", fast.url)
    # a deadline longer than the test: the stuck requests stay open throughout
    worker = _running(
        worker_for(
            api, webhook_timeout_seconds=60, webhook_concurrency=3, delivery_idle_seconds=0.05
        )
    )
    try:
        for i in range(12):
            _post(api, change, f"C-{i}", 1)
            api.apply()
            worker.wake()
        _wait("the fast subscriber's twelve events", lambda: len(fast.answered) == 12)
        with stuck.lock:
            assert len(stuck.events) == 3  # its own window is full; nothing more goes to it
    finally:
        stuck.release.set()
        worker.stop()
    assert fast.problems == [] and stuck.problems == []


def test_one_deadline_covers_the_whole_request(
    api: Api, change: ChangeFactory, receivers: list[KeepAliveReceiver]
) -> None:
    """A receiver that drips its answer beats every per-read timeout; the request's one
    deadline still ends it, as a failed attempt with its retry."""
    slow = _receiver(receivers)
    slow.act = drip(slow)
    _subscribe(api, "drip", slow.url)
    _post(api, change, "A-1", 1)
    api.apply()
    worker = worker_for(api, schedule="60", webhook_timeout_seconds=1)
    try:
        worker.run_once()
    finally:
        worker.stop()
    with admin_session(api.hub.engine) as s:
        row = s.scalar(select(DeliveryRow))
        assert row is not None and (row.status, row.attempts) == ("pending", 1)
        assert "no answer within 1 s" in (row.last_response or "")


def test_many_records_in_flight_each_in_order_over_kept_connections(
    api: Api, change: ChangeFactory, receivers: list[KeepAliveReceiver]
) -> None:
    receiver = _receiver(receivers, answer(200, hold=0.1))
    _subscribe(api, "hook", receiver.url)
    for version in (1, 2, 3):
        for i in range(8):
            _post(api, change, f"R-{i}", version)
        api.apply()
    worker = _running(worker_for(api, webhook_concurrency=4, delivery_idle_seconds=0.05))
    try:
        _wait("24 events", lambda: len(receiver.answered) == 24)
    finally:
        worker.stop()
    assert receiver.problems == []  # no version went out before the one before it was answered
    by_record: dict[str, list[int]] = {}
    for subject, version in receiver.answered:
        by_record.setdefault(subject, []).append(version)
    assert sorted(by_record.values()) == [[1, 2, 3]] * 8
    assert 2 <= receiver.most_open <= 4  # several records at once, never past the window
    assert len(receiver.connections) <= 4  # kept alive: connections are reused, not redialled


def test_a_commit_in_another_process_wakes_the_worker(
    api: Api, change: ChangeFactory, receivers: list[KeepAliveReceiver]
) -> None:
    """The worker polls once a minute here; the outbox trigger's NOTIFY brings it at once."""
    if api.hub.engine.dialect.name != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's; embedded, the apply worker wakes it in-process")
    receiver = _receiver(receivers)
    _subscribe(api, "hook", receiver.url)
    worker = _running(worker_for(api, delivery_idle_seconds=60))
    try:
        time.sleep(1.0)  # the worker has looked, found nothing, and sleeps its minute
        _post(api, change, "N-1", 1)
        api.apply()  # committed by this test's hub, never woken by hand
        _wait("the event, well before the next poll", lambda: len(receiver.answered) == 1, 20)
    finally:
        worker.stop()


def test_replays_and_pauses_race_the_running_worker_without_a_failed_cycle(
    api: Api,
    change: ChangeFactory,
    receivers: list[KeepAliveReceiver],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An admin's replay from a cursor (which lowers it) and a pause or resume lock the
    subscription row that fan-out locks and outcomes update: on PostgreSQL they wait for each
    other, in one order, while the worker delivers; nothing fails and every record ends on its
    newest version."""
    if api.hub.engine.dialect.name != "postgresql":
        pytest.skip("row locks and their order are PostgreSQL's; SQLite has one writer")
    receiver = _receiver(receivers)
    _subscribe(api, "hook", receiver.url)
    admin = api.auth("admin")
    worker = _running(worker_for(api, delivery_idle_seconds=0.05))
    try:
        for round_ in range(1, 9):
            for i in range(5):
                _post(api, change, f"X-{i}", round_)
            api.apply()
            worker.wake()
            r = api.client.post(
                "/api/v1/subscriptions/hook/replay", json={"after": 0}, headers=admin
            )
            assert r.status_code == 200, r.text
            action = "pause" if round_ % 2 else "resume"
            assert api.client.post(f"/api/v1/subscriptions/hook/{action}", headers=admin).is_success
        assert api.client.post("/api/v1/subscriptions/hook/resume", headers=admin).is_success

        def newest_everywhere() -> bool:
            with receiver.lock:
                last = {s: v for s, v in receiver.answered}
            return len(last) == 5 and set(last.values()) == {8}

        _wait("every record's newest version", newest_everywhere, 60)
    finally:
        worker.stop()
    assert not [r for r in caplog.records if "cycle failed" in r.getMessage()]
