"""End to end over real HTTP: a uvicorn server with the embedded worker, as `concord serve`
runs it, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from hub.app import create_app
from hub.bootstrap import Hub
from hub.cli import app
from hub.runtime.serving import BackgroundServer, free_port
from tests.conftest import make_hub
from tests.support.process import run_concord


@pytest.fixture
def served(hub: Hub) -> Iterator[str]:
    with BackgroundServer(create_app(hub), free_port()) as server:
        yield server.url


def wait_for(client: httpx.Client, path: str, key: str, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(path, headers={"Authorization": f"Bearer {key}"})
        if r.status_code != 404 or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def test_change_in_golden_out_with_lineage(served: str, keys: dict[str, str]) -> None:
    with httpx.Client(base_url=served, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        r = c.post(
            "/api/v1/changes",
            headers={"Authorization": f"Bearer {keys['crm']}"},
            json={
                "changes": [
                    {
                        "event_id": "crm-000123",
                        "domain": "client",
                        "key": "A-17",
                        "op": "upsert",
                        "sequence": 123,
                        "changed_at": "2026-11-20T10:00:00Z",
                        "attributes": {"name": "Acme Ltd", "website": "https://acme.com"},
                    }
                ]
            },
        )
        assert r.status_code == 202 and r.json() == {"accepted": 1, "duplicates": 0}
        r = c.post(
            "/api/v1/changes",
            headers={"Authorization": f"Bearer {keys['erp']}"},
            json={
                "changes": [
                    {
                        "event_id": "erp-9",
                        "domain": "client",
                        "key": "E-9",
                        "sequence": 9,
                        "attributes": {
                            "name": "ACME LIMITED",
                            "legal_name": "Acme Limited",
                            "website": "www.acme.com",
                            "tax_id": "GB123",
                        },
                    }
                ]
            },
        )
        assert r.status_code == 202
        xref = wait_for(c, "/api/v1/xref/erp/client/E-9", keys["reader"])
        assert xref.status_code == 200, xref.text
        gid = xref.json()["golden_id"]
        assert (
            wait_for(c, "/api/v1/xref/crm/client/A-17", keys["reader"]).json()["golden_id"] == gid
        )
        g = c.get(
            f"/api/v1/golden/client/{gid}", headers={"Authorization": f"Bearer {keys['reader']}"}
        ).json()
        assert g["attributes"]["name"] == "Acme Ltd"  # CRM owns the name
        assert g["attributes"]["legal_name"] == "Acme Limited"  # ERP owns the legal name
        assert g["provenance"]["name"] == {
            "source": "crm",
            "key": "A-17",
            "rule": "source_priority",
        }
        assert g["provenance"]["tax_id"]["source"] == "erp"
        assert {(x["source"], x["key"]) for x in g["xref"]} == {("crm", "A-17"), ("erp", "E-9")}
        feed = c.get(
            "/api/v1/feed",
            params={"domain": "client"},
            headers={"Authorization": f"Bearer {keys['reader']}"},
        ).json()
        events = [e["event"] for e in feed["events"]]
        assert events and all(e["subject"] == gid for e in events)
        assert events[-1]["data"]["version"] == g["version"]
        assert c.get("/openapi.json").status_code == 200


def test_access_rules(served: str, keys: dict[str, str]) -> None:
    one = {"changes": [{"domain": "client", "key": "X", "attributes": {"name": "X"}}]}
    with httpx.Client(base_url=served, timeout=30) as c:
        assert c.post("/api/v1/changes", json=one).status_code == 401
        assert (
            c.post(
                "/api/v1/changes", json=one, headers={"Authorization": "Bearer ck_not-a-key"}
            ).status_code
            == 401
        )
        # a source may not write a domain that is not its own
        r = c.post("/api/v1/changes", headers={"Authorization": f"Bearer {keys['hr']}"}, json=one)
        assert r.status_code == 403 and "client" in r.json()["detail"]
        # subscriber and admin keys read, never write
        for who in ("reader", "admin"):
            r = c.post(
                "/api/v1/changes", json=one, headers={"Authorization": f"Bearer {keys[who]}"}
            )
            assert r.status_code == 403, who
        assert (
            c.get(
                "/api/v1/golden/client", headers={"Authorization": f"Bearer {keys['reader']}"}
            ).status_code
            == 200
        )
        assert c.get("/api/v1/golden/client").status_code == 401


def test_bad_batches_are_refused_whole(served: str, keys: dict[str, str], hub: Hub) -> None:
    auth = {"Authorization": f"Bearer {keys['crm']}"}
    with httpx.Client(base_url=served, timeout=30) as c:
        good = {"domain": "client", "key": "G-1", "attributes": {"name": "Good Ltd"}}
        bad = {"domain": "client", "key": "B-2", "attributes": {"name": "Bad", "status": 7}}
        r = c.post("/api/v1/changes", headers=auth, json={"changes": [good, bad]})
        assert r.status_code == 422
        err = r.json()["errors"][0]
        assert (err["index"], err["field"], err["key"]) == (1, "attributes.status", "B-2")
        r = c.post(
            "/api/v1/changes",
            headers={**auth, "Content-Type": "application/json"},
            content=b'{"changes": [{"domain": "client", "key": "K", "sequence": "x"}]}',
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["index"] == 0
        assert r.json()["errors"][0]["field"] == "sequence"
        r = c.post(
            "/api/v1/changes",
            headers={**auth, "Content-Type": "application/json"},
            content=b'{"changes": [ oops',
        )
        assert r.status_code == 422
        too_many = {"changes": [good] * (hub.settings.max_batch + 1)}
        assert c.post("/api/v1/changes", headers=auth, json=too_many).status_code == 413
        # nothing of the refused batches was stored
        assert wait_for(c, "/api/v1/xref/crm/client/G-1", keys["reader"], 0.5).status_code == 404


def test_cli_keys_print_the_key_on_the_last_line(tmp_path: Path) -> None:
    """The first key comes from a real process's stdout, as a script reads it; the other
    commands run in process through Typer's runner."""
    env = {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "COLUMNS": "200"}
    runner = CliRunner()

    def concord(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    added = run_concord(("sources", "add", "northwind-crm", "--domains", "client"), env, tmp_path)
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("ck_") and " " not in key
    listed = concord("sources", "list")
    assert "northwind-crm" in listed.stdout and "crm" in listed.stdout
    sub = concord("keys", "create", "bi", "--role", "subscriber")
    assert sub.stdout.strip().splitlines()[-1].startswith("ck_")
    assert concord("keys", "revoke", "bi").exit_code == 0
    assert concord("keys", "revoke", "bi").exit_code == 1
    hub = make_hub(env["CONCORD_DATABASE_URL"])
    with BackgroundServer(create_app(hub, run_worker=False), free_port()) as server:
        r = httpx.get(
            f"{server.url}/api/v1/golden/client", headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 200
    hub.close()


def test_metrics_follow_ingest_and_apply(served: str, keys: dict[str, str]) -> None:
    with httpx.Client(base_url=served, timeout=30) as c:
        auth = {"Authorization": f"Bearer {keys['crm']}"}
        c.post(
            "/api/v1/changes",
            headers=auth,
            json={
                "changes": [
                    {
                        "event_id": "m-1",
                        "domain": "client",
                        "key": "M-1",
                        "sequence": 2,
                        "attributes": {"name": "Metric Ltd"},
                    },
                    {
                        "event_id": "m-2",
                        "domain": "client",
                        "key": "M-1",
                        "sequence": 1,
                        "attributes": {"name": "Older Ltd"},
                    },
                ]
            },
        )
        c.post(
            "/api/v1/changes",
            headers=auth,
            json={
                "changes": [
                    {
                        "event_id": "m-1",
                        "domain": "client",
                        "key": "M-1",
                        "sequence": 2,
                        "attributes": {"name": "Metric Ltd"},
                    }
                ]
            },
        )
        assert wait_for(c, "/api/v1/xref/crm/client/M-1", keys["reader"]).status_code == 200
        deadline = time.monotonic() + 10
        while True:
            text = c.get("/metrics").text
            if 'concord_changes_processed_total{outcome="stale",source="crm"} 1.0' in text:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
        assert 'concord_changes_received_total{source="crm"} 2.0' in text
        assert 'concord_changes_duplicate_total{source="crm"} 1.0' in text
        assert 'concord_changes_processed_total{outcome="applied",source="crm"} 1.0' in text
        assert "concord_inbox_depth 0.0" in text
        assert "concord_apply_batch_seconds_count" in text
