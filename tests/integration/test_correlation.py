"""One correlation id from ingest to delivery: the caller's X-Correlation-ID (or a fresh one)
is echoed, kept with the change in the inbox, with the golden version in the outbox, sent to
the subscriber and written in every log line on the way, as JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from hub.logs import JsonFormatter
from hub.store.tables import InboxRow, OutboxRow
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory
from tests.integration.test_webhooks import Receiver, run_until, subscribe, worker_for


@pytest.fixture
def hook() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_one_id_from_ingest_to_delivery(
    api: Api, change: ChangeFactory, hook: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="concord")
    subscribe(api, hook)
    r = api.client.post(
        "/api/v1/changes",
        json={"changes": [change("client", "A-1", 1, name="Acme Ltd")]},
        headers={**api.auth("crm"), "X-Correlation-ID": "trace-42"},
    )
    assert r.status_code == 202 and r.headers["X-Correlation-ID"] == "trace-42"
    api.apply()
    worker = worker_for(api)
    run_until(worker, lambda: bool(hook.delivered()))
    with admin_session(api.hub.engine) as s:
        assert s.scalar(select(InboxRow.correlation_id)) == "trace-42"
        assert s.scalar(select(OutboxRow.correlation_id)) == "trace-42"
    assert hook.delivered()[0]["correlation_id"] == "trace-42"

    tagged = {
        r.name
        for r in caplog.get_records("call")
        if getattr(r, "correlation_id", None) == "trace-42"
    }
    assert {"concord.http", "concord.apply", "concord.webhooks"} <= tagged
    delivery = next(r for r in caplog.get_records("call") if r.name == "concord.webhooks")
    line = json.loads(JsonFormatter().format(delivery))
    assert line["correlation_id"] == "trace-42" and line["outcome"] == "delivered"
    assert line["level"] == "INFO" and line["subscription"] and line["event_id"]


def test_a_missing_or_unsafe_id_is_replaced(api: Api, change: ChangeFactory) -> None:
    for offered in (None, "x" * 65, "a b", "<script>"):
        headers = {**api.auth("crm")}
        if offered is not None:
            headers["X-Correlation-ID"] = offered
        r = api.client.post(
            "/api/v1/changes",
            json={"changes": [change("client", "A-1", 1, name="Acme")]},
            headers=headers,
        )
        cid = r.headers["X-Correlation-ID"]
        assert cid != offered and len(cid) == 32 and cid.isalnum()
    refused = api.client.post("/api/v1/changes", content=b"{", headers=api.auth("crm"))
    assert refused.status_code == 422 and refused.headers["X-Correlation-ID"]
