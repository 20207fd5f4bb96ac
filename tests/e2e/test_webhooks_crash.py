"""SIGKILL of a `concord serve` that is delivering webhooks loses nothing.

The server runs as a real subprocess (SQLite file or PostgreSQL); a receiver on 127.0.0.1
answers slowly and sometimes 503, so the kill lands mid-delivery and mid-retry. After a
restart every event arrives at least once, and no record's versions arrive out of order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.runtime.serving import free_port
from hub.store import access
from hub.store.db import make_engine
from hub.store.tables import InboxRow, OutboxRow
from hub.store.uow import admin_session
from tests.conftest import make_hub
from tests.integration.test_webhooks import Receiver, receiver  # noqa: F401  (fixture)

RECORDS = 60
VERSIONS = 3


def _serve(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CONCORD_DATABASE_URL": url,
        "CONCORD_WEBHOOK_RETRY_SCHEDULE": "0.05,0.1,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2",
        "CONCORD_WEBHOOK_CONCURRENCY": "4",
        "CONCORD_DELIVERY_BATCH": "8",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
        )


def _healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("server not healthy")


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_sigkill_mid_delivery_loses_nothing(
    backend: str,
    request: pytest.FixtureRequest,
    receiver: Receiver,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))
    hub = make_hub(url)
    with admin_session(hub.engine) as s:
        crm = access.add_source(s, "crm", ["client"], None, None, set(hub.config.domains))
        admin = access.create_key(s, "ops", "admin")
    hub.close()

    def slow_and_flaky(attempt: int, event: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        time.sleep(0.01)
        if attempt == 1 and event["data"]["version"] == 2:
            return 503, {}, "try later"
        return 200, {}, "ok"

    receiver.behaviour = slow_and_flaky
    port, log = free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    proc = _serve(url, port, log)
    try:
        _healthy(base, proc, log)
        receiver.subscribe_over_http(base, admin)
        for v in range(1, VERSIONS + 1):
            changes = [
                {
                    "domain": "client",
                    "key": f"C-{i}",
                    "sequence": v,
                    "attributes": {"name": f"C{i} v{v}"},
                }
                for i in range(RECORDS)
            ]
            r = httpx.post(
                f"{base}/api/v1/changes",
                json={"changes": changes},
                headers={"Authorization": f"Bearer {crm}"},
            )
            assert r.status_code == 202, r.text
        _wait(lambda: len(receiver.delivered()) >= 40, 60, "first deliveries")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        got_before = len(receiver.requests)
        assert len(receiver.delivered()) < RECORDS * VERSIONS, "killed too late to prove much"

        proc = _serve(url, port, log)
        _healthy(base, proc, log)
        _wait(lambda: _all_applied(url), 60, "the inbox applied")
        outbox = _outbox(url)
        assert len({subject for subject, _ in outbox.values()}) == RECORDS
        _wait(lambda: {r["id"] for r in receiver.delivered()} >= set(outbox), 90, "all events")
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)

    assert receiver.problems == []
    assert len(receiver.requests) > got_before
    by_subject: dict[str, list[int]] = {}
    for r in receiver.requests:  # every arrival, failed ones too: none may overtake
        by_subject.setdefault(r["subject"], []).append(r["version"])
    assert len(by_subject) == RECORDS
    for subject, versions in by_subject.items():
        assert versions == sorted(versions), versions
        assert set(versions) == {v for s, v in outbox.values() if s == subject}


def _all_applied(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            pending = conn.execute(
                select(func.count()).select_from(InboxRow).where(InboxRow.status == "pending")
            ).scalar_one()
            total = conn.execute(select(func.count()).select_from(InboxRow)).scalar_one()
        return bool(total == RECORDS * VERSIONS and pending == 0)
    finally:
        engine.dispose()


def _outbox(url: str) -> dict[str, tuple[str, int]]:
    """event id -> (golden id, version), for every event the hub committed."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxRow.event_id, OutboxRow.golden_id, OutboxRow.version))
            return {e: (g, v) for e, g, v in rows}
    finally:
        engine.dispose()
