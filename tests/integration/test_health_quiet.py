"""/healthz answers every few seconds under a load balancer: it must not log each time."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.bootstrap import Hub
from hub.store.migrate import downgrade


def test_healthz_writes_no_log_line(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(hub, run_worker=False))
    caplog.set_level(logging.DEBUG, logger="alembic")
    caplog.set_level(logging.INFO, logger="concord")
    for _ in range(3):
        r = client.get("/healthz")
        assert r.status_code == 200 and r.json()["migrations"] == "current", r.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


def test_healthz_still_sees_a_database_behind(hub: Hub) -> None:
    downgrade(str(hub.engine.url.render_as_string(hide_password=False)), "-1")
    r = TestClient(create_app(hub, run_worker=False)).get("/healthz")
    assert r.status_code == 503 and r.json()["migrations"] == "behind"
