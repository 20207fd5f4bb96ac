"""Two golden records proven to be one merge: records, references and subscribers follow."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, ChangeFactory

pytestmark = pytest.mark.contact_keys  # these records meet on a website key


def _events(api: Api) -> list[dict[str, Any]]:
    body = api.client.get("/api/v1/feed", params={"limit": 1000}, headers=api.auth("reader"))
    return [e["event"] for e in body.json()["events"]]


def test_a_bridging_record_merges_two_goldens_and_moves_references(
    api: Api, change: ChangeFactory
) -> None:
    api.post(
        "crm",
        change("client", "A-1", 1, name="Acme Ltd", website="https://acme.com"),
        change("project", "CP-1", 1, code="P-1", client_key="A-1"),
    )
    api.post("erp", change("client", "E-1", 1, name="ACME LIMITED", tax_id="GB123", country="GB"))
    api.apply()
    crm_golden = api.golden_of("crm", "client", "A-1")["id"]
    erp_golden = api.golden_of("erp", "client", "E-1")["id"]
    assert crm_golden != erp_golden  # nothing tied them together yet
    project = api.golden_of("crm", "project", "CP-1")
    assert project["references"]["client"] == crm_golden  # type: ignore[index]

    # PSA knows both the website and the tax id: one company after all
    api.post(
        "psa",
        change("client", "PC-1", 1, name="Acme", website="acme.com", tax_id="GB 123", country="GB"),
    )
    api.apply()
    golden = api.golden_of("psa", "client", "PC-1")
    assert {(x["source"], x["key"]) for x in golden["xref"]} == {  # type: ignore[union-attr]
        ("crm", "A-1"),
        ("erp", "E-1"),
        ("psa", "PC-1"),
    }
    winner = golden["id"]
    # the first key in priority order that finds a golden record decides the winner: the tax
    # id (a default key) comes before the website this test's firm declared
    assert winner == erp_golden
    loser = crm_golden
    assert api.golden_of("crm", "client", "A-1")["id"] == winner
    moved = api.golden_of("crm", "project", "CP-1")
    assert moved["references"]["client"] == winner  # type: ignore[index]
    assert moved["version"] == project["version"] + 1  # type: ignore[operator]

    gone = api.get(f"/api/v1/golden/client/{loser}").json()  # type: ignore[attr-defined]
    assert gone["status"] == "merged" and gone["merged_into"] == winner and gone["xref"] == []
    merges = [e for e in _events(api) if e["type"] == "concord.client.merged"]
    assert [e["data"]["merge"] for e in merges] == [{"loser": loser, "winner": winner}]


def test_recreated_record_returns_to_its_golden_when_nothing_else_claims_it(
    api: Api, change: ChangeFactory
) -> None:
    api.post("crm", change("client", "A-1", 1, name="Acme Ltd", website="https://acme.com"))
    api.apply()
    first = api.golden_of("crm", "client", "A-1")["id"]
    api.post("crm", change("client", "A-1", 2, op="delete"))
    api.apply()
    assert api.get(f"/api/v1/golden/client/{first}").json()["status"] == "retired"  # type: ignore[attr-defined]
    api.post("crm", change("client", "A-1", 3, name="Acme Ltd", website="https://acme.com"))
    api.apply()
    again = api.golden_of("crm", "client", "A-1")
    assert again["id"] == first and again["status"] == "active"
