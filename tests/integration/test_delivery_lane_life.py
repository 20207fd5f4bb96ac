"""A subscription's lane against the admin's actions and a receiver's DNS, while requests are
in flight (found by a helper's audit of delivery, issue 14 must-have 3):

- paused and resumed while a request is out, the subscription delivers again once that
  request ends (its closed lane took nothing, for good);
- a replay of a record's older version while the newer one is out waits for that request,
  and the subscriber then gets the older version and the newer one again, in that order
  (the newer one's answer was recorded over the replay, and the older one arrived last);
- a subscriber whose host name takes long to resolve holds up no other subscriber (the
  lookups ran on the event loop's shared pool of six threads).

Each test fails without its fix.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from sqlalchemy import select

from connectors.outbound import targets
from hub.store.tables import DeliveryRow
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory
from tests.integration import test_delivery_pipeline as pipeline
from tests.integration.test_delivery_pipeline import (
    KeepAliveReceiver,
    _post,
    _receiver,
    _running,
    _subscribe,
    _wait,
    answer,
)
from tests.integration.test_webhooks import worker_for

receivers = pipeline.receivers  # the fixture: receivers closed when the test ends


def _admin(api: Api, path: str, body: dict[str, Any] | None = None) -> None:
    r = api.client.post(f"/api/v1/subscriptions/{path}", json=body, headers=api.auth("admin"))
    assert r.is_success, r.text


def test_paused_and_resumed_while_a_request_is_out_it_delivers_again(
    api: Api, change: ChangeFactory, receivers: list[KeepAliveReceiver]
) -> None:
    receiver = _receiver(receivers, answer(204, hold=1.5))
    _subscribe(api, "hook", receiver.url)
    _post(api, change, "A-1", 1)
    api.apply()
    worker = _running(worker_for(api, delivery_idle_seconds=0.05))
    try:
        _wait("A-1 out", lambda: len(receiver.events) == 1)
        _admin(api, "hook/pause")
        time.sleep(0.3)  # the worker sees the pause and closes the lane, A-1 still out
        _admin(api, "hook/resume")
        _wait("A-1 answered", lambda: len(receiver.answered) == 1)
        receiver.act = answer(204)
        for key in ("B-1", "C-1"):
            _post(api, change, key, 1)
        api.apply()
        worker.wake()
        _wait("B-1 and C-1 after the resume", lambda: len(receiver.answered) == 3, 10)
    finally:
        worker.stop()


def _versions(events: list[dict[str, Any]]) -> list[int]:
    return [e["data"]["version"] for e in events]


def test_a_replay_of_an_older_version_waits_for_the_newer_one_out(
    api: Api, change: ChangeFactory, receivers: list[KeepAliveReceiver]
) -> None:
    def slow_second(h: BaseHTTPRequestHandler, event: dict[str, Any]) -> None:
        answer(204, hold=1.5 if event["data"]["version"] == 2 else 0)(h, event)

    receiver = _receiver(receivers, slow_second)
    _subscribe(api, "hook", receiver.url)
    _post(api, change, "A-1", 1)
    api.apply()
    worker = _running(worker_for(api, delivery_idle_seconds=0.05))
    try:
        _wait("version 1", lambda: len(receiver.answered) == 1)
        _post(api, change, "A-1", 2)
        api.apply()
        worker.wake()
        _wait("version 2 out", lambda: len(receiver.events) == 2)
        with admin_session(api.hub.engine) as s:
            first = s.scalars(select(DeliveryRow.event_id).order_by(DeliveryRow.seq)).first()
        _admin(api, "hook/replay", {"event_id": first})
        _wait("the replay's two sends", lambda: len(receiver.answered) == 4, 15)
    finally:
        worker.stop()
    with receiver.lock:
        arrived, answered = _versions(receiver.events), [v for _, v in receiver.answered]
    assert arrived == [1, 2, 1, 2], "the older version went out while the newer one was out"
    assert answered == [1, 2, 1, 2]
    with admin_session(api.hub.engine) as s:
        assert set(s.scalars(select(DeliveryRow.status))) == {"delivered"}


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """``slow.example`` and ``fast.example`` resolve to this machine; once the returned event
    is cleared, ``slow.example`` takes 8 s a lookup (until the test ends and sets it)."""
    quick = threading.Event()
    quick.set()
    real = targets.getaddrinfo

    def lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.example":
            quick.wait(8)
        if host in ("slow.example", "fast.example"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port or 80))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(targets, "getaddrinfo", lookup)
    yield quick
    quick.set()


def test_a_subscriber_whose_name_resolves_slowly_holds_up_no_other(
    api: Api,
    change: ChangeFactory,
    receivers: list[KeepAliveReceiver],
    names: threading.Event,
) -> None:
    slow, fast = _receiver(receivers), _receiver(receivers)
    _subscribe(api, "slow", slow.url.replace("127.0.0.1", "slow.example"))
    _subscribe(api, "fast", fast.url.replace("127.0.0.1", "fast.example"))
    names.clear()
    for i in range(8):
        _post(api, change, f"D-{i}", 1)
    api.apply()
    worker = _running(
        worker_for(
            api,
            schedule="30",
            webhook_allow_private="127.0.0.0/8",  # names pinned to the address they resolve to
            webhook_timeout_seconds=2,
            webhook_concurrency=16,
            delivery_idle_seconds=0.05,
        )
    )
    try:
        _wait("the fast subscriber's eight events", lambda: len(fast.answered) == 8, 10)
    finally:
        names.set()
        worker.stop()
