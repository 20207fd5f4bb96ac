"""Where a webhook may point (issue 19, items 4 and 14): URLs are checked when a subscription is
made, one broken subscription never disturbs another's deliveries, and loopback, link-local
and private addresses are refused at creation and again after DNS resolution at delivery,
unless ``CONCORD_WEBHOOK_ALLOW_PRIVATE`` allows them."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from connectors.outbound import targets
from hub.bootstrap import Hub
from hub.store import access
from hub.store.tables import DeliveryRow, SubscriptionRow
from hub.store.uow import admin_session
from tests.conftest import SOURCE_DOMAINS, Api, ChangeFactory, make_hub
from tests.integration.test_webhooks import Receiver, post, subscribe, worker_for


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _insert_subscription(api: Api, name: str, url: str) -> str:
    """A subscription written straight into the database, past every check of the API."""
    now = datetime.now(UTC)
    sub_id = str(uuid.uuid4())
    with admin_session(api.hub.engine) as s:
        s.add(
            SubscriptionRow(
                id=sub_id,
                name=name,
                kind="webhook",
                url=url,
                domains=["client"],
                source=None,
                echo=False,
                status="active",
                secret="whsec_" + "A" * 43 + "=",
                cursor=0,
                failed_attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
    return sub_id


def _rounds(api: Api, n: int, **settings: Any) -> None:
    """``n`` delivery rounds as the background loop runs them: a failing round is retried."""
    worker = worker_for(api, **settings)
    try:
        for _ in range(n):
            # the loop logs a failed round and goes on; so do we, and count what arrived
            with contextlib.suppress(Exception):
                worker.run_once()
    finally:
        worker.stop()


def test_a_bad_url_in_the_database_sends_no_duplicates_to_others(
    api: Api, change: ChangeFactory, receiver: Receiver
) -> None:
    subscribe(api, receiver)
    bad = _insert_subscription(api, "bad", "http://127.0.0.1:9/x\r\nX-Injected: yes")
    post(api, change, "crm", "A-1", name="Acme Ltd")
    _rounds(api, 6)
    assert len(receiver.delivered()) == 1, [r["id"] for r in receiver.requests]
    with admin_session(api.hub.engine) as s:
        row = s.scalar(select(DeliveryRow).where(DeliveryRow.subscription_id == bad))
        # its own failed attempts, retried on its own schedule (dead once that is spent)
        assert row is not None and row.status in ("pending", "dead") and row.attempts >= 1
        assert "url" in (row.last_response or "").lower()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a\r\nX-Injected: yes",
        "http://example.com/a b",
        "http://example.com/\x00",
        "ftp://example.com/hook",
        "http:///hook",
        "http://exa mple.com/hook",
        "https://example.com:99999/hook",
        "https://example.com/" + "a" * 2100,
        "javascript:alert(1)",
    ],
)
def test_bad_urls_are_refused_at_creation(api: Api, url: str) -> None:
    body = {"name": "x", "kind": "webhook", "url": url, "domains": ["client"]}
    r = api.client.post("/api/v1/subscriptions", json=body, headers=api.auth("admin"))
    assert r.status_code == 422, r.text


def test_kafka_urls_with_control_characters_are_refused(api: Api) -> None:
    body = {"name": "k", "kind": "kafka", "url": "kafka://a:9092\r\n/x", "domains": ["client"]}
    r = api.client.post("/api/v1/subscriptions", json=body, headers=api.auth("admin"))
    assert r.status_code == 422, r.text


def test_check_url_accepts_ordinary_urls() -> None:
    targets.check_url("https://hooks.example.com:8443/concord?x=1")
    targets.check_url("http://[2001:db8::1]/hook")


@pytest.fixture
def strict_api(sqlite_url: str) -> Iterator[Api]:
    """A hub that refuses private webhook targets: the default outside the tests."""
    hub: Hub = make_hub(sqlite_url, webhook_allow_private="")
    assert not hub.settings.webhook_allow_private
    with admin_session(hub.engine) as s:
        keys = {
            name: access.add_source(s, name, domains, None, None, set(hub.config.domains))
            for name, domains in SOURCE_DOMAINS.items()
        }
        keys["admin"] = access.create_key(s, "ops", "admin")
    yield Api(hub, keys)
    hub.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",
    ],
)
def test_private_targets_are_refused_at_creation(strict_api: Api, url: str) -> None:
    body = {"name": "x", "kind": "webhook", "url": url, "domains": ["client"]}
    r = strict_api.client.post("/api/v1/subscriptions", json=body, headers=strict_api.auth("admin"))
    assert r.status_code == 422, r.text
    assert "private" in r.text or "loopback" in r.text or "address" in r.text


def test_a_name_that_resolves_to_loopback_at_delivery_is_refused(
    strict_api: Api, change: ChangeFactory, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name looked public when the subscription was made, and points at the
    hub's own machine when the delivery goes out."""
    port = receiver.server.server_address[1]
    answers = {"rebind.example.com": "93.184.216.34"}

    def fake_getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        ip = answers[host]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(targets, "getaddrinfo", fake_getaddrinfo)
    url = f"http://rebind.example.com:{port}/hook"
    body = {"name": "rebind", "kind": "webhook", "url": url, "domains": ["client"]}
    r = strict_api.client.post("/api/v1/subscriptions", json=body, headers=strict_api.auth("admin"))
    assert r.status_code == 201, r.text
    answers["rebind.example.com"] = "127.0.0.1"
    post(strict_api, change, "crm", "A-1", name="Acme Ltd")
    _rounds(strict_api, 2, webhook_allow_private="")
    assert receiver.requests == []
    with admin_session(strict_api.hub.engine) as s:
        row = s.scalar(select(DeliveryRow))
        assert row is not None and row.status == "pending"
        assert "127.0.0.1" in (row.last_response or "")


def test_allow_private_lets_loopback_through(api: Api, receiver: Receiver) -> None:
    """The test setup sets CONCORD_WEBHOOK_ALLOW_PRIVATE=1 so local receivers work."""
    assert api.hub.settings.webhook_allow_private
    subscribe(api, receiver)
