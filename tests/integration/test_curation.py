"""A steward's actions on golden records through the machine API: split, merge, override.

Each goes through the bus, re-survives like ingest, tells subscribers, and is audited.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from hub.store import access
from hub.store.tables import AuditLog
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory

pytestmark = pytest.mark.contact_keys  # these records meet on a website key


def _steward(api: Api) -> None:
    with admin_session(api.hub.engine) as s:
        api.keys["steward"] = access.create_key(s, "ann", "steward")


def _feed_types(api: Api) -> list[tuple[str, str]]:
    r = api.client.get("/api/v1/feed", params={"limit": 500}, headers=api.auth("reader"))
    return [(e["event"]["type"], e["event"]["subject"]) for e in r.json()["events"]]


def _audit(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    with admin_session(api.hub.engine) as s:
        return [(a.actor, a.action, a.detail) for a in s.scalars(select(AuditLog))]


def _split_pair(api: Api, change: ChangeFactory) -> str:
    """CRM and ERP hold one client, linked by the shared website."""
    _steward(api)
    api.post("crm", change("client", "A-1", 1, name="Acme Ltd", website="https://acme.com"))
    api.post("erp", change("client", "E-9", 1, name="Acme Holdings", website="acme.com"))
    api.apply()
    gid = str(api.golden_of("crm", "client", "A-1")["id"])
    assert api.golden_of("erp", "client", "E-9")["id"] == gid
    return gid


def test_split_detaches_a_record_and_remembers_it(api: Api, change: ChangeFactory) -> None:
    gid = _split_pair(api, change)
    body = {"source": "erp", "source_key": "E-9", "reason": "different legal entity"}
    for who in ("reader", "crm"):
        r = api.client.post(f"/api/v1/golden/client/{gid}/split", json=body, headers=api.auth(who))
        assert r.status_code == 403, r.text
    r = api.client.post(
        f"/api/v1/golden/client/{gid}/split", json=body, headers=api.auth("steward")
    )
    assert r.status_code == 200, r.text
    new = r.json()["golden_id"]
    assert new != gid and r.json()["split_from"] == gid
    old, split = api.golden_of("crm", "client", "A-1"), api.golden_of("erp", "client", "E-9")
    assert old["id"] == gid and split["id"] == new
    assert [(x["source"], x["key"]) for x in old["xref"]] == [("crm", "A-1")]  # type: ignore[attr-defined]
    assert [(x["source"], x["key"]) for x in split["xref"]] == [("erp", "E-9")]  # type: ignore[attr-defined]
    assert split["xref"][0]["link"] == "steward:split"  # type: ignore[index]
    assert split["attributes"]["name"] == "Acme Holdings"  # type: ignore[index]
    types = _feed_types(api)
    assert ("concord.client.created", new) in types
    assert types[-2:] == [("concord.client.updated", gid), ("concord.client.created", new)] or (
        types[-2:] == [("concord.client.created", new), ("concord.client.updated", gid)]
    )
    (entry,) = [a for a in _audit(api) if a[1] == "golden.split"]
    assert entry[0] == "ann" and entry[2]["before"] == gid and entry[2]["after"] == new
    assert entry[2]["reason"] == "different legal entity"

    # Later changes keep the split: the ERP record stays on its own golden record, and a new
    # record that shares the website with both does not merge them back together.
    api.post("erp", change("client", "E-9", 2, name="Acme Holdings plc", website="acme.com"))
    api.post("psa", change("client", "P-4", 1, name="Acme", website="www.acme.com"))
    api.apply()
    assert api.golden_of("erp", "client", "E-9")["id"] == new
    assert api.golden_of("crm", "client", "A-1")["id"] == gid
    assert api.get(f"/api/v1/golden/client/{gid}").json()["status"] == "active"  # type: ignore[attr-defined]
    assert api.get(f"/api/v1/golden/client/{new}").json()["status"] == "active"  # type: ignore[attr-defined]


def test_split_refuses_what_makes_no_sense(api: Api, change: ChangeFactory) -> None:
    gid = _split_pair(api, change)
    post = api.client.post
    auth = api.auth("steward")
    lone = {"source": "crm", "source_key": "A-1", "reason": "x"}
    r = post(f"/api/v1/golden/client/{gid}/split", json=lone, headers=auth)
    assert r.status_code == 200, r.text
    again = post(f"/api/v1/golden/client/{r.json()['split_from']}/split", json=lone, headers=auth)
    assert again.status_code == 404 and "not linked to" in again.json()["detail"]
    alone = post(f"/api/v1/golden/client/{r.json()['golden_id']}/split", json=lone, headers=auth)
    assert alone.status_code == 409 and "only record" in alone.json()["detail"]
    ghost = {"source": "crm", "source_key": "NOPE", "reason": "x"}
    assert post(f"/api/v1/golden/client/{gid}/split", json=ghost, headers=auth).status_code == 404
    no_reason = {"source": "crm", "source_key": "A-1"}
    assert (
        post(f"/api/v1/golden/client/{gid}/split", json=no_reason, headers=auth).status_code == 422
    )


def test_merge_moves_records_and_references(api: Api, change: ChangeFactory) -> None:
    _steward(api)
    api.post("crm", change("client", "A-1", 1, name="Acme Ltd", country="GB"))
    api.post("crm", change("client", "A-2", 1, name="Globex GmbH", country="DE"))
    api.post("psa", change("client", "P-2", 1, name="Globex", country="DE"))
    api.apply()
    api.post("psa", change("project", "PR-1", 1, code="PR-1", name="Audit", client_key="P-2"))
    api.apply()
    winner = str(api.golden_of("crm", "client", "A-1")["id"])
    loser = str(api.golden_of("crm", "client", "A-2")["id"])
    project = api.golden_of("psa", "project", "PR-1")
    assert project["references"]["client"] in (
        loser,
        str(api.golden_of("psa", "client", "P-2")["id"]),
    )  # type: ignore[index]
    psa_client = str(api.golden_of("psa", "client", "P-2")["id"])
    r = api.client.post(
        f"/api/v1/golden/client/{psa_client}/merge",
        json={"into": winner, "reason": "same firm after rename"},
        headers=api.auth("steward"),
    )
    assert r.status_code == 200, r.text
    assert api.golden_of("psa", "client", "P-2")["id"] == winner
    assert api.golden_of("psa", "project", "PR-1")["references"]["client"] == winner  # type: ignore[index]
    merged = api.get(f"/api/v1/golden/client/{psa_client}").json()  # type: ignore[attr-defined]
    assert merged["status"] == "merged" and merged["merged_into"] == winner
    types = _feed_types(api)
    assert ("concord.client.merged", psa_client) in types
    assert ("concord.project.updated", project["id"]) in types
    again = api.client.post(
        f"/api/v1/golden/client/{psa_client}/merge",
        json={"into": winner, "reason": "twice"},
        headers=api.auth("steward"),
    )
    assert again.status_code == 409
    itself = api.client.post(
        f"/api/v1/golden/client/{winner}/merge",
        json={"into": winner, "reason": "x"},
        headers=api.auth("steward"),
    )
    assert itself.status_code == 400
    wrong_domain = api.client.post(
        f"/api/v1/golden/project/{project['id']}/merge",
        json={"into": loser, "reason": "x"},
        headers=api.auth("steward"),
    )
    assert wrong_domain.status_code == 404
    (entry,) = [a for a in _audit(api) if a[1] == "golden.merge"]
    assert entry[2]["winner"] == winner and entry[2]["golden_id"] == psa_client


def test_override_wins_until_removed(api: Api, change: ChangeFactory) -> None:
    _steward(api)
    api.post("crm", change("client", "A-1", 1, name="Acme Ltd", phone="+44 20 7946 0000"))
    api.apply()
    gid = str(api.golden_of("crm", "client", "A-1")["id"])
    url = f"/api/v1/golden/client/{gid}/overrides/name"
    r = api.client.put(
        url,
        json={"value": "ACME Limited", "reason": "registered name"},
        headers=api.auth("steward"),
    )
    assert r.status_code == 200, r.text and r.json()["events"] == 1
    g = api.golden_of("crm", "client", "A-1")
    assert g["attributes"]["name"] == "ACME Limited"  # type: ignore[index]
    assert g["provenance"]["name"]["rule"] == "override"  # type: ignore[index]
    assert g["provenance"]["name"]["reason"] == "registered name"  # type: ignore[index]

    api.post("crm", change("client", "A-1", 2, name="Acme Trading Ltd"))
    api.apply()
    assert api.golden_of("crm", "client", "A-1")["attributes"]["name"] == "ACME Limited"  # type: ignore[index]

    r = api.client.request(
        "DELETE", url, json={"reason": "CRM fixed it"}, headers=api.auth("steward")
    )
    assert r.status_code == 200, r.text
    g = api.golden_of("crm", "client", "A-1")
    assert g["attributes"]["name"] == "Acme Trading Ltd"  # type: ignore[index]
    assert g["provenance"]["name"]["rule"] != "override"  # type: ignore[index]
    gone = api.client.request("DELETE", url, json={"reason": "x"}, headers=api.auth("steward"))
    assert gone.status_code == 409

    actions = [
        (a[1], a[2]["before"], a[2]["after"]) for a in _audit(api) if a[1].startswith("golden.")
    ]
    assert actions[0][0] == "golden.override" and actions[0][2] == "ACME Limited"
    assert actions[1][0] == "golden.override_removed" and actions[1][1]["value"] == "ACME Limited"


def test_override_is_checked_like_ingest(api: Api, change: ChangeFactory) -> None:
    _steward(api)
    api.post("crm", change("client", "A-1", 1, name="Acme Ltd"))
    api.apply()
    gid = str(api.golden_of("crm", "client", "A-1")["id"])
    auth = api.auth("steward")
    base = f"/api/v1/golden/client/{gid}/overrides"
    bad = api.client.put(f"{base}/name", json={"value": 7, "reason": "x"}, headers=auth)
    assert bad.status_code == 400 and "name" in bad.json()["detail"]
    unknown = api.client.put(f"{base}/shoe_size", json={"value": "9", "reason": "x"}, headers=auth)
    assert unknown.status_code == 400 and "shoe_size" in unknown.json()["detail"]
    ghost = api.client.put(
        "/api/v1/golden/client/nope/overrides/name",
        json={"value": "x", "reason": "x"},
        headers=auth,
    )
    assert ghost.status_code == 404
    assert api.golden_of("crm", "client", "A-1")["attributes"]["name"] == "Acme Ltd"  # type: ignore[index]
    assert not [a for a in _audit(api) if a[1].startswith("golden.")]


def test_a_candidate_follows_its_golden_record_into_a_merge(
    api: Api, change: ChangeFactory
) -> None:
    """A candidate raised against G, then G merged into H: merging the candidate links to H,
    never to the merged-away G."""
    from tests.integration.test_candidates import _setup

    c = _setup(api, change)
    api.post("erp", change("client", "E-5", 1, name="Initech SA", country="FR"))
    api.apply()
    other = str(api.golden_of("erp", "client", "E-5")["id"])
    r = api.client.post(
        f"/api/v1/golden/client/{c['golden_id']}/merge",
        json={"into": other, "reason": "same group"},
        headers=api.auth("steward"),
    )
    assert r.status_code == 200, r.text
    r = api.client.post(
        f"/api/v1/candidates/{c['id']}/decision",
        json={"decision": "merge", "reason": "same"},
        headers=api.auth("steward"),
    )
    assert r.status_code == 200, r.text
    assert api.golden_of("northwind-crm", "client", "NW-3")["id"] == other
