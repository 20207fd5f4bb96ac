"""Read scopes (issue 19, item 13): a key reads only the domains it is granted, and personal
fields (a person's birth date, home address, personal e-mail and phone) only when granted them,
through the golden, history, search and xref endpoints, the feed, webhooks and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli import app as cli_app
from hub.store import access
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory
from tests.integration.test_webhooks import Receiver, run_until, subscribe, worker_for

PERSON = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "employee_id": "E-1",
    "date_of_birth": "1985-12-10",
    "personal_email": "ada@home.example",
    "job_title": "Engineer",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _scoped_keys(api: Api) -> None:
    with admin_session(api.hub.engine) as s:
        api.keys["clients"] = access.create_key(
            s, "clients", "subscriber", read_domains=["client", "project"]
        )
        api.keys["people"] = access.create_key(
            s, "people", "subscriber", read_domains=["resource"], personal=True
        )
        api.keys["steward"] = access.create_key(s, "bot", "steward")


def _person(api: Api, change: ChangeFactory) -> str:
    r = api.post("hr", change("resource", "H-1", **PERSON))
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    r = api.post("crm", change("client", "A-1", name="Acme Ltd"))
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    api.apply()
    xref = api.get("/api/v1/xref/hr/resource/H-1", "hr").json()  # type: ignore[attr-defined]
    return str(xref["golden_id"])


def _feed_domains(api: Api, who: str, **params: Any) -> list[str]:
    r = api.client.get("/api/v1/feed", params=params, headers=api.auth(who))
    assert r.status_code == 200, r.text
    return [e["event"]["type"].split(".")[1] for e in r.json()["events"]]


def test_a_clients_only_source_key_reads_no_people(api: Api, change: ChangeFactory) -> None:
    gid = _person(api, change)
    for path in (
        f"/api/v1/golden/resource/{gid}",
        f"/api/v1/golden/resource/{gid}/history",
        "/api/v1/golden/resource?q=ada",
        "/api/v1/xref/hr/resource/H-1",
        "/api/v1/feed?domain=resource",
    ):
        r = api.get(path, "crm")
        assert r.status_code == 403, (path, r.text)  # type: ignore[attr-defined]
    assert _feed_domains(api, "crm") == ["client"]
    assert api.get("/api/v1/golden/client?q=acme", "crm").status_code == 200  # type: ignore[attr-defined]


def test_personal_fields_only_for_keys_granted_them(api: Api, change: ChangeFactory) -> None:
    gid = _person(api, change)
    _scoped_keys(api)
    personal = {"date_of_birth", "personal_email"}
    for who in ("hr", "reader"):  # a source key and a subscriber key without the grant
        golden = api.get(f"/api/v1/golden/resource/{gid}", who).json()  # type: ignore[attr-defined]
        assert golden["attributes"]["job_title"] == "Engineer"
        assert not personal & set(golden["attributes"]), who
        assert not personal & set(golden["provenance"]), who
        history = api.get(f"/api/v1/golden/resource/{gid}/history", who).json()  # type: ignore[attr-defined]
        for version in history:
            assert not personal & set(version["attributes"])
            assert not personal & set(version["provenance"])
            assert not personal & set(version["changed_fields"])
        found = api.get("/api/v1/golden/resource?q=ada", who).json()  # type: ignore[attr-defined]
        assert found and not personal & set(found[0]["attributes"])
        feed = api.client.get("/api/v1/feed", headers=api.auth(who)).json()["events"]
        people = [e["event"]["data"] for e in feed if e["event"]["type"].startswith("concord.res")]
        assert people and all(not personal & set(d["attributes"]) for d in people)
        assert all(not personal & set(d["changed_fields"]) for d in people)
    for who in ("people", "steward", "admin"):
        golden = api.get(f"/api/v1/golden/resource/{gid}", who).json()  # type: ignore[attr-defined]
        assert golden["attributes"]["date_of_birth"] == "1985-12-10", who
    assert _feed_domains(api, "people") == ["resource"]
    assert _feed_domains(api, "clients") == ["client"]
    assert api.get(f"/api/v1/golden/resource/{gid}", "clients").status_code == 403  # type: ignore[attr-defined]


def test_webhooks_carry_personal_fields_only_when_granted(
    api: Api, change: ChangeFactory, receiver: Receiver
) -> None:
    subscribe(api, receiver, name="plain", domains=["resource"])
    subscribe(api, receiver, name="hr-mirror", domains=["resource"], personal=True)
    _person(api, change)
    run_until(worker_for(api), lambda: len(receiver.delivered()) == 2)
    births = sorted(
        "date_of_birth" in r["event"]["data"]["attributes"] for r in receiver.delivered()
    )
    assert births == [False, True]


def test_cli_creates_scoped_subscriber_keys(
    api: Api, change: ChangeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gid = _person(api, change)
    monkeypatch.setenv("CONCORD_DATABASE_URL", api.hub.settings.database_url)
    cli = CliRunner()
    done = cli.invoke(
        cli_app, ["keys", "create", "dash", "--role", "subscriber", "--domains", "resource"]
    )
    assert done.exit_code == 0, done.output
    api.keys["dash"] = done.output.strip().splitlines()[-1]
    golden = api.get(f"/api/v1/golden/resource/{gid}", "dash").json()  # type: ignore[attr-defined]
    assert "date_of_birth" not in golden["attributes"]
    assert api.get("/api/v1/golden/client?q=acme", "dash").status_code == 403  # type: ignore[attr-defined]
    done = cli.invoke(
        cli_app,
        ["keys", "create", "hr2", "--role", "subscriber", "--domains", "resource", "--personal"],
    )
    assert done.exit_code == 0, done.output
    api.keys["hr2"] = done.output.strip().splitlines()[-1]
    golden = api.get(f"/api/v1/golden/resource/{gid}", "hr2").json()  # type: ignore[attr-defined]
    assert golden["attributes"]["date_of_birth"] == "1985-12-10"
    bad = cli.invoke(cli_app, ["keys", "create", "x", "--domains", "nonsense"])
    assert bad.exit_code != 0 and "nonsense" in bad.output
