"""Steward decisions through the machine API: list, merge, reject (never proposed again)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.store import access
from hub.store.tables import AuditLog
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory

ACME = {
    "name": "ACME International Corporation",
    "address_line": "1 Long Lane",
    "city": "London",
    "postcode": "EC1A 1BB",
    "country": "GB",
}
# a misspelt name and the country, nothing else to confirm it: enough to ask, too little to link
WEAK = {"name": "Acme Internationl Corp", "country": "GB"}


def _setup(api: Api, change: ChangeFactory) -> dict[str, Any]:
    with admin_session(api.hub.engine) as s:
        api.keys["northwind-crm"] = access.add_source(
            s, "northwind-crm", ["client"], None, None, set(api.hub.config.domains)
        )
        api.keys["steward"] = access.create_key(s, "ann", "steward")
    api.post("crm", change("client", "A-1", 1, **ACME))
    api.apply()
    api.post("northwind-crm", change("client", "NW-3", 1, **WEAK))
    api.apply()
    r = api.client.get(
        "/api/v1/candidates", params={"domain": "client"}, headers=api.auth("steward")
    )
    assert r.status_code == 200, r.text
    (candidate,) = r.json()["candidates"]
    return dict(candidate)


def test_list_shows_both_sides_field_by_field(api: Api, change: ChangeFactory) -> None:
    c = _setup(api, change)
    assert (c["source"], c["source_key"]) == ("northwind-crm", "NW-3")
    assert c["golden_id"] == api.golden_of("crm", "client", "A-1")["id"]
    assert c["fields"]["name"]["record"] == WEAK["name"]
    assert c["fields"]["name"]["golden"] == ACME["name"]
    assert c["fields"]["name"]["weight"] > 0
    for who in ("reader", "crm"):
        assert api.client.get("/api/v1/candidates", headers=api.auth(who)).status_code == 403


def test_merge_links_the_record_and_tells_subscribers(api: Api, change: ChangeFactory) -> None:
    c = _setup(api, change)
    own = api.golden_of("northwind-crm", "client", "NW-3")["id"]
    r = api.client.post(
        f"/api/v1/candidates/{c['id']}/decision",
        json={"decision": "merge", "reason": "same registered office"},
        headers=api.auth("steward"),
    )
    assert r.status_code == 200, r.text
    golden = api.golden_of("northwind-crm", "client", "NW-3")
    assert golden["id"] == c["golden_id"] != own
    assert {x["source"] for x in golden["xref"]} == {"crm", "northwind-crm"}  # type: ignore[union-attr]
    gone = api.get(f"/api/v1/golden/client/{own}").json()  # type: ignore[attr-defined]
    assert gone["status"] == "merged" and gone["merged_into"] == c["golden_id"]
    feed = api.client.get("/api/v1/feed", params={"limit": 100}, headers=api.auth("reader"))
    types = [e["event"]["type"] for e in feed.json()["events"]]
    assert "concord.client.merged" in types
    again = api.client.post(
        f"/api/v1/candidates/{c['id']}/decision",
        json={"decision": "reject"},
        headers=api.auth("steward"),
    )
    assert again.status_code == 409 and "merged already" in again.json()["detail"]
    with admin_session(api.hub.engine) as s:
        actions = [(a.actor, a.action, a.detail.get("reason")) for a in s.scalars(select(AuditLog))]
    assert ("ann", "candidate.merge", "same registered office") in actions


def test_a_rejected_pair_is_never_proposed_again(api: Api, change: ChangeFactory) -> None:
    c = _setup(api, change)
    r = api.client.post(
        f"/api/v1/candidates/{c['id']}/decision",
        json={"decision": "reject", "reason": "different firm"},
        headers=api.auth("steward"),
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    # the record is deleted and comes back: it is matched again, but not against that golden
    api.post("northwind-crm", change("client", "NW-3", 2, op="delete"))
    api.apply()
    api.post("northwind-crm", change("client", "NW-3", 3, **WEAK))
    api.apply()
    pending = api.client.get("/api/v1/candidates", headers=api.auth("steward")).json()
    assert pending["candidates"] == []
    assert api.golden_of("northwind-crm", "client", "NW-3")["id"] != c["golden_id"]
