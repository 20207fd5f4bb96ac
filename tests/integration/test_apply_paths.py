"""The paths of one change through apply, checked through the public API and the feed."""

from __future__ import annotations

from typing import Any, cast

import pytest

from hub.services.apply import ApplyReport
from tests.conftest import Api, ChangeFactory

T1, T2, T3 = "2024-05-01T10:00:00Z", "2024-05-02T10:00:00Z", "2024-05-03T10:00:00Z"


def post(api: Api, source: str, *changes: dict[str, object]) -> None:
    r = cast(Any, api.post(source, *changes))
    assert r.status_code == 202, r.text


def golden_of(api: Api, source: str, domain: str, key: str) -> dict[str, Any]:
    return cast(dict[str, Any], api.golden_of(source, domain, key))


def apply(api: Api) -> ApplyReport:
    return cast(ApplyReport, api.apply())


def get(api: Api, path: str) -> Any:
    r = cast(Any, api.get(path))
    assert r.status_code == 200, r.text
    return r.json()


def golden(api: Api, domain: str, gid: str) -> dict[str, Any]:
    return cast(dict[str, Any], get(api, f"/api/v1/golden/{domain}/{gid}"))


def history(api: Api, domain: str, gid: str) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], get(api, f"/api/v1/golden/{domain}/{gid}/history"))


def xref(api: Api, source: str, domain: str, key: str) -> dict[str, Any]:
    return cast(dict[str, Any], get(api, f"/api/v1/xref/{source}/{domain}/{key}"))


def feed(api: Api, after: int = 0, domain: str | None = None) -> list[dict[str, Any]]:
    q = f"/api/v1/feed?after={after}&limit=1000" + (f"&domain={domain}" if domain else "")
    return [item["event"] for item in get(api, q)["events"]]


def at(c: dict[str, object], changed_at: str) -> dict[str, object]:
    return {**c, "changed_at": changed_at}


# -- staleness -----------------------------------------------------------------------------


def test_older_sequence_never_overwrites_a_newer_one(api: Api, change: ChangeFactory) -> None:
    post(api, "crm", change("client", "C-1", 7, name="Seven"))
    apply(api)
    post(api, "crm", change("client", "C-1", 6, name="Six"))
    assert (apply(api).applied, apply(api).stale) == (0, 0)  # the second drain is empty
    g = golden_of(api, "crm", "client", "C-1")
    assert (g["attributes"], g["version"]) == ({"name": "Seven"}, 1)
    # a later sequence with an older timestamp still wins: the sequence decides
    post(api, "crm", at(change("client", "C-1", 8, name="Eight"), T1))
    apply(api)
    assert golden_of(api, "crm", "client", "C-1")["attributes"] == {"name": "Eight"}


def test_older_sequence_is_stale_in_the_same_batch(api: Api, change: ChangeFactory) -> None:
    post(
        api,
        "crm",
        change("client", "C-1", 3, name="Three"),
        change("client", "C-1", 1, name="One"),
        change("client", "C-1", 2, name="Two"),
    )
    report = apply(api)
    assert (report.applied, report.stale) == (1, 2)
    g = golden_of(api, "crm", "client", "C-1")
    assert (g["attributes"], g["version"]) == ({"name": "Three"}, 1)
    assert [e["type"] for e in feed(api)] == ["concord.client.created"]


def test_older_delete_does_not_delete(api: Api, change: ChangeFactory) -> None:
    post(api, "crm", change("client", "C-1", 5, name="Acme"))
    apply(api)
    post(api, "crm", change("client", "C-1", 4, op="delete"))
    assert apply(api).stale == 1
    assert xref(api, "crm", "client", "C-1")["status"] == "linked"
    assert golden_of(api, "crm", "client", "C-1")["status"] == "active"


def test_without_sequences_changed_at_decides(api: Api, change: ChangeFactory) -> None:
    post(api, "crm", at(change("client", "C-1", name="Tuesday"), T2))
    apply(api)
    post(api, "crm", at(change("client", "C-1", name="Monday"), T1))
    assert apply(api).stale == 1
    assert golden_of(api, "crm", "client", "C-1")["attributes"] == {"name": "Tuesday"}
    post(api, "crm", at(change("client", "C-1", name="Wednesday"), T3))
    assert apply(api).applied == 1
    g = golden_of(api, "crm", "client", "C-1")
    assert (g["attributes"], g["version"]) == ({"name": "Wednesday"}, 2)


def test_without_sequences_order_in_a_batch_does_not_matter(
    api: Api, change: ChangeFactory
) -> None:
    post(
        api,
        "crm",
        at(change("client", "C-1", name="Wednesday"), T3),
        at(change("client", "C-1", name="Monday"), T1),
    )
    apply(api)
    assert golden_of(api, "crm", "client", "C-1")["attributes"] == {"name": "Wednesday"}


def test_an_identical_resend_changes_nothing(api: Api, change: ChangeFactory) -> None:
    c = {**change("client", "C-1", 1, name="Acme"), "event_id": "e1"}
    post(api, "crm", c)
    apply(api)
    post(api, "crm", {**c, "event_id": "e2"})  # same content, new event id
    apply(api)
    g = golden_of(api, "crm", "client", "C-1")
    assert g["version"] == 1
    assert len(feed(api)) == 1


# -- deletes -------------------------------------------------------------------------------


def acme_from_crm_and_erp(api: Api, change: ChangeFactory) -> str:
    post(api, "crm", change("client", "C-1", 1, name="Acme Ltd", website="https://acme.com"))
    post(api, "erp", change("client", "E-1", 1, name="ACME LIMITED", website="acme.com"))
    apply(api)
    gid = str(xref(api, "crm", "client", "C-1")["golden_id"])
    assert xref(api, "erp", "client", "E-1")["golden_id"] == gid
    return gid


def test_delete_resurvives_from_the_remaining_sources(api: Api, change: ChangeFactory) -> None:
    gid = acme_from_crm_and_erp(api, change)
    g = golden(api, "client", gid)
    assert g["attributes"]["name"] == "Acme Ltd"
    assert g["provenance"]["name"]["source"] == "crm"
    cursor = len(feed(api))

    post(api, "crm", change("client", "C-1", 2, op="delete"))
    apply(api)
    assert xref(api, "crm", "client", "C-1")["status"] == "deleted"
    g = golden(api, "client", gid)
    assert g["status"] == "active"
    assert g["attributes"] == {"name": "ACME LIMITED", "website": "acme.com"}
    assert g["provenance"]["name"] == {"source": "erp", "key": "E-1", "rule": "source_priority"}
    assert [(x["source"], x["key"]) for x in g["xref"]] == [("erp", "E-1")]
    (event,) = feed(api, cursor)
    assert event["type"] == "concord.client.updated"
    assert event["data"]["xref"] == [{"source": "erp", "key": "E-1"}]
    assert event["data"]["version"] == 2


def test_last_source_deleted_retires_the_golden_record(api: Api, change: ChangeFactory) -> None:
    gid = acme_from_crm_and_erp(api, change)
    post(api, "crm", change("client", "C-1", 2, op="delete"))
    post(api, "erp", change("client", "E-1", 2, op="delete"))
    apply(api)
    g = golden(api, "client", gid)
    assert g["status"] == "retired"
    assert g["xref"] == []
    events = feed(api)
    assert events[-1]["type"] == "concord.client.retired"
    assert events[-1]["subject"] == gid
    assert events[-1]["data"]["status"] == "retired"
    assert [v["status"] for v in history(api, "client", gid)][-1] == "retired"
    # the retired record no longer attracts new records through its keys
    post(api, "psa", change("client", "P-1", 1, name="Acme", website="www.acme.com"))
    apply(api)
    assert xref(api, "psa", "client", "P-1")["golden_id"] != gid


def test_a_record_comes_back_after_a_delete(api: Api, change: ChangeFactory) -> None:
    post(api, "crm", change("client", "C-1", 1, name="Acme"))
    apply(api)
    gid = golden_of(api, "crm", "client", "C-1")["id"]
    post(api, "crm", change("client", "C-1", 2, op="delete"))
    apply(api)
    assert golden(api, "client", str(gid))["status"] == "retired"
    post(api, "crm", change("client", "C-1", 3, name="Acme again"))
    apply(api)
    g = golden_of(api, "crm", "client", "C-1")
    assert g["status"] == "active"
    assert g["attributes"] == {"name": "Acme again"}
    assert xref(api, "crm", "client", "C-1")["status"] == "linked"


# -- references ----------------------------------------------------------------------------


def test_pending_reference_resolves_later(api: Api, change: ChangeFactory) -> None:
    post(api, "psa", change("project", "PP-1", 1, code="PRJ-1", name="Build", client_key="PC-1"))
    apply(api)
    project = golden_of(api, "psa", "project", "PP-1")
    pid = str(project["id"])
    assert project["references"]["client"] is None
    assert project["pending_references"] == [{"name": "client", "source": "psa", "key": "PC-1"}]
    cursor = len(feed(api))

    post(api, "psa", change("client", "PC-1", 1, name="Acme", website="acme.com"))
    apply(api)
    client_id = xref(api, "psa", "client", "PC-1")["golden_id"]
    project = golden(api, "project", pid)
    assert project["version"] == 2
    assert project["references"]["client"] == client_id
    assert project["pending_references"] == []
    assert project["reference_provenance"]["client"]["source"] == "psa"
    events = {e["type"]: e for e in feed(api, cursor)}
    assert set(events) == {"concord.client.created", "concord.project.updated"}
    upd = events["concord.project.updated"]
    assert upd["subject"] == pid
    assert upd["data"]["references"]["client"] == client_id
    assert "client" in upd["data"]["changed_fields"]


def test_pending_reference_resolves_in_the_same_batch(api: Api, change: ChangeFactory) -> None:
    post(
        api,
        "psa",
        change("project", "PP-1", 1, code="PRJ-1", name="Build", client_key="PC-1"),
        change("client", "PC-1", 1, name="Acme", website="acme.com"),
    )
    apply(api)
    project = golden_of(api, "psa", "project", "PP-1")
    assert project["references"]["client"] == xref(api, "psa", "client", "PC-1")["golden_id"]
    assert project["pending_references"] == []


def crm_project_and_client(api: Api, change: ChangeFactory) -> tuple[str, str]:
    post(api, "crm", change("client", "C-1", 1, name="Acme Ltd", website="https://acme.com"))
    post(
        api,
        "crm",
        change(
            "project",
            "CP-1",
            1,
            code="PRJ-1",
            name="CRM name",
            client_key="C-1",
            opportunity_id="OPP-9",
        ),
    )
    apply(api)
    return (
        str(xref(api, "crm", "client", "C-1")["golden_id"]),
        str(xref(api, "crm", "project", "CP-1")["golden_id"]),
    )


def assert_merged(api: Api, client_id: str, winner: str, loser: str, cursor: int) -> None:
    w = golden(api, "project", winner)
    assert w["status"] == "active"
    assert w["references"]["client"] == client_id
    assert sorted((x["source"], x["key"]) for x in w["xref"]) == [
        ("crm", "CP-1"),
        ("psa", "PP-1"),
    ]
    assert w["attributes"]["name"] == "PSA name"  # PSA owns delivery fields
    assert w["provenance"]["name"] == {"source": "psa", "key": "PP-1", "rule": "source_priority"}
    assert w["provenance"]["opportunity_id"]["source"] == "crm"
    assert xref(api, "psa", "project", "PP-1")["golden_id"] == winner
    lost = golden(api, "project", loser)
    assert lost["status"] == "merged"
    assert lost["merged_into"] == winner
    assert lost["xref"] == []
    assert lost["pending_references"] == []
    assert history(api, "project", loser)[-1]["cause"] == "merged"
    events = feed(api, cursor, domain="project")
    merges = [e for e in events if e["type"] == "concord.project.merged"]
    assert len(merges) == 1
    assert merges[0]["subject"] == loser
    assert merges[0]["data"]["merge"] == {"loser": loser, "winner": winner}
    updates = [e for e in events if e["type"] == "concord.project.updated"]
    assert [e["subject"] for e in updates] == [winner]


def test_lone_golden_merges_when_its_pending_reference_resolves(
    api: Api, change: ChangeFactory
) -> None:
    client_id, winner = crm_project_and_client(api, change)
    post(api, "psa", change("project", "PP-1", 1, code="PRJ-1", name="PSA name", client_key="PC-9"))
    apply(api)
    loser = str(xref(api, "psa", "project", "PP-1")["golden_id"])
    assert loser != winner
    cursor = len(feed(api))

    post(api, "psa", change("client", "PC-9", 1, name="Acme", website="www.acme.com"))
    apply(api)
    assert xref(api, "psa", "client", "PC-9")["golden_id"] == client_id
    assert_merged(api, client_id, winner, loser, cursor)
    # a search shows one live project for the code
    found = get(api, "/api/v1/golden/project?q=PRJ-1")
    assert [g["id"] for g in found if g["status"] == "active"] == [winner]


def test_project_and_its_client_in_one_batch_link_like_in_two(
    api: Api, change: ChangeFactory
) -> None:
    _, winner = crm_project_and_client(api, change)
    post(
        api,
        "psa",
        change("project", "PP-1", 1, code="PRJ-1", name="PSA name", client_key="PC-9"),
        change("client", "PC-9", 1, name="Acme", website="www.acme.com"),
    )
    apply(api)
    assert xref(api, "psa", "project", "PP-1")["golden_id"] == winner


def test_project_after_its_client_links_directly(api: Api, change: ChangeFactory) -> None:
    _, winner = crm_project_and_client(api, change)
    post(
        api,
        "psa",
        change("client", "PC-9", 1, name="Acme", website="www.acme.com"),
        change("project", "PP-1", 1, code="PRJ-1", name="PSA name", client_key="PC-9"),
    )
    apply(api)
    assert xref(api, "psa", "project", "PP-1")["golden_id"] == winner
    assert xref(api, "psa", "project", "PP-1")["rule"] == "deterministic:code"
    assert not [e for e in feed(api) if e["type"].endswith(".merged")]


# -- lineage, xref, search -----------------------------------------------------------------


def test_lineage_per_field(api: Api, change: ChangeFactory) -> None:
    post(
        api,
        "crm",
        change(
            "client",
            "C-1",
            1,
            name="Acme Ltd",
            website="https://acme.com",
            industry="Retail",
            legal_name="Acme (CRM)",
            phone="",
        ),
    )
    post(
        api,
        "erp",
        change(
            "client",
            "E-1",
            1,
            name="ACME LIMITED",
            website="acme.com",
            legal_name="Acme Limited",
            tax_id="GB123",
            phone="+44 20 7946 0000",
            payment_terms="NET30",
        ),
    )
    apply(api)
    g = golden_of(api, "crm", "client", "C-1")
    crm = {"source": "crm", "key": "C-1", "rule": "source_priority"}
    erp = {"source": "erp", "key": "E-1", "rule": "source_priority"}
    assert g["attributes"] == {
        "name": "Acme Ltd",
        "website": "https://acme.com",
        "industry": "Retail",
        "legal_name": "Acme Limited",
        "tax_id": "GB123",
        "phone": "+44 20 7946 0000",  # a blank never wins, even from the owner
        "payment_terms": "NET30",
    }
    prov = g["provenance"]
    assert set(prov) == set(g["attributes"])
    assert {f: prov[f] for f in ("name", "website", "industry")} == {
        "name": crm,
        "website": crm,
        "industry": crm,
    }
    assert {f: prov[f] for f in ("legal_name", "tax_id", "payment_terms")} == {
        "legal_name": erp,
        "tax_id": erp,
        "payment_terms": erp,
    }
    assert prov["phone"]["source"] == "erp"
    # the lineage is kept per version, and carried by the event
    (v1,) = history(api, "client", str(g["id"]))
    assert v1["provenance"] == prov
    assert feed(api)[-1]["data"]["provenance"] == prov


@pytest.mark.contact_keys
def test_xref_lists_every_live_source_key(api: Api, change: ChangeFactory) -> None:
    post(api, "crm", change("client", "C-1", 1, name="Acme Ltd", website="https://acme.com"))
    post(api, "crm", change("client", "C-2", 1, name="Acme dup", website="acme.com"))
    post(api, "erp", change("client", "E-1", 1, name="Acme", tax_id="GB1", website="acme.com"))
    post(api, "psa", change("client", "P-1", 1, name="Acme", website="http://www.acme.com/x"))
    apply(api)
    gid = xref(api, "crm", "client", "C-1")["golden_id"]
    keys = [("crm", "C-1"), ("crm", "C-2"), ("erp", "E-1"), ("psa", "P-1")]
    for source, key in keys:
        assert xref(api, source, "client", key)["golden_id"] == gid
    g = golden(api, "client", gid)
    assert [(x["source"], x["key"]) for x in g["xref"]] == keys
    assert feed(api)[-1]["data"]["xref"] == [{"source": s, "key": k} for s, k in keys]
    post(api, "crm", change("client", "C-2", 2, op="delete"))
    apply(api)
    g = golden(api, "client", gid)
    assert [(x["source"], x["key"]) for x in g["xref"]] == [k for k in keys if k[1] != "C-2"]
    r = cast(Any, api.get("/api/v1/xref/crm/client/NOPE"))
    assert r.status_code == 404


def test_search_by_name(api: Api, change: ChangeFactory) -> None:
    post(
        api,
        "crm",
        change("client", "C-1", 1, name="Acme Ltd"),
        change("client", "C-2", 1, name="Beta Acme Holdings"),
        change("client", "C-3", 1, name="Gamma 100% Ltd"),
        change("client", "C-4", 1, name="Delta_Corp"),
    )
    post(
        api, "psa", change("project", "PP-1", 1, code="ACME-1", name="Acme rollout", client_key="X")
    )
    apply(api)

    def names(q: str, domain: str = "client") -> list[str]:
        return sorted(g["attributes"]["name"] for g in get(api, f"/api/v1/golden/{domain}?q={q}"))

    assert names("acme") == ["Acme Ltd", "Beta Acme Holdings"]
    assert names("ACME") == ["Acme Ltd", "Beta Acme Holdings"]
    assert names("holdings") == ["Beta Acme Holdings"]
    assert names("zzz") == []
    assert names("%25") == ["Gamma 100% Ltd"]  # a literal %, not a wildcard
    assert names("e_l") == []  # a literal _, not a wildcard (would match "acme ltd")
    assert names("ta_c") == ["Delta_Corp"]
    assert len(names("")) == 4
    assert names("rollout", "project") == ["Acme rollout"]
    assert names("acme-1", "project") == ["Acme rollout"]
