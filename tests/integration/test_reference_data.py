"""Reference data and opportunities as domains (issue 17, must-haves 1 and 2).

Legal entities, cost centers, billing codes, labour codes and rate cards are owned by ERP,
link only by their code within the issuing firm (never fuzzy-matched) and survive, version
and publish like any golden record. An opportunity is CRM's and references its golden client.
Time-entry validation takes its labour codes from the golden ``labor_code`` records.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hub.bootstrap import Hub, bootstrap
from hub.config import Settings, load_config
from hub.store import access
from hub.store.uow import admin_session
from tests.conftest import Api
from tests.migrated import migrate

REFERENCE = ["legal_entity", "cost_center", "billing_code", "labor_code", "rate_card"]
SOURCES: dict[str, tuple[str, list[str]]] = {
    "crm": ("crm", ["client", "opportunity"]),
    "erp": ("erp", ["client", "project", "resource", *REFERENCE]),
    "psa": ("psa", ["client", "project", "resource", "assignment", "cost_center", "labor_code"]),
    "time": ("time", ["client", "project", "resource"]),
    "northwind-erp": ("erp", ["client", *REFERENCE]),
}


def hub_with(url: str, config: str | None = None) -> Hub:
    h = bootstrap(Settings(database_url=url), config=load_config(text=config) if config else None)
    migrate(url)
    return h


@pytest.fixture
def ref_api(db_url: str) -> Iterator[Api]:
    h = hub_with(db_url)
    keys: dict[str, str] = {}
    with admin_session(h.engine) as s:
        for name, (kind, domains) in SOURCES.items():
            keys[name] = access.add_source(s, name, domains, kind, None, set(h.config.domains))
        keys["reader"] = access.create_key(s, "reader", "subscriber")
    yield Api(h, keys)
    h.close()


def ch(domain: str, key: str, **attributes: Any) -> dict[str, Any]:
    return {"domain": domain, "key": key, "attributes": attributes}


def post(api: Api, source: str, *changes: dict[str, Any]) -> None:
    r = api.post(source, *changes)
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    report = api.apply()
    assert report.dead == 0  # type: ignore[attr-defined]


def test_reference_data_links_by_code_within_its_firm_and_never_fuzzily(ref_api: Api) -> None:
    post(
        ref_api,
        "erp",
        ch(
            "legal_entity",
            "LE-UK",
            code="UK01",
            name="Concord UK Ltd",
            country="GB",
            currency="GBP",
            status="active",
        ),
        ch(
            "cost_center",
            "CC-100",
            code="CC-100",
            name="Consulting London",
            status="active",
            legal_entity_key="LE-UK",
        ),
        ch(
            "cost_center",
            "CC-101",
            code="CC-101",
            name="Consulting Londn",
            status="active",
            legal_entity_key="LE-UK",
        ),
    )
    # PSA carries the same cost center under its own key; the code (written its own way)
    # joins it to ERP's golden record (case and spaces do not count; "-" does)
    post(ref_api, "psa", ch("cost_center", "psa-7", code=" cc-100", name="Consulting (London)"))
    erp_cc = ref_api.golden_of("erp", "cost_center", "CC-100")
    assert ref_api.golden_of("psa", "cost_center", "psa-7")["id"] == erp_cc["id"]
    assert erp_cc["attributes"]["name"] == "Consulting London"  # type: ignore[index]  # ERP owns it
    assert erp_cc["references"] == {  # type: ignore[comparison-overlap]
        "legal_entity": ref_api.golden_of("erp", "legal_entity", "LE-UK")["id"]
    }
    # a near-identical name with another code stays its own record: no fuzzy matching here
    assert ref_api.golden_of("erp", "cost_center", "CC-101")["id"] != erp_cc["id"]
    # an acquired firm's ERP numbers its own cost centers: its CC-100 is not ours
    post(
        ref_api,
        "northwind-erp",
        ch("legal_entity", "NW", code="NW01", name="Northwind BV", country="NL", currency="EUR"),
        ch("cost_center", "100", code="CC-100", name="Advisory", legal_entity_key="NW"),
    )
    assert ref_api.golden_of("northwind-erp", "cost_center", "100")["id"] != erp_cc["id"]


def test_a_rate_card_holds_a_rate_per_role(ref_api: Api) -> None:
    rates = {"partner": 2400, "senior": 1450.5, "analyst": 900}
    post(
        ref_api,
        "erp",
        ch(
            "rate_card",
            "RC-1",
            code="STD-GBP-2027",
            currency="GBP",
            valid_from="2027-01-01",
            valid_to="2027-12-31",
            rates=rates,
            status="active",
        ),
    )
    card = ref_api.golden_of("erp", "rate_card", "RC-1")
    assert card["attributes"]["rates"] == rates  # type: ignore[index]
    assert card["provenance"]["rates"]["rule"] == "source_priority"  # type: ignore[index]


@pytest.mark.parametrize(
    ("rates", "why"),
    [
        ({"senior": {"day": 1200}}, "entry 'senior': expected a number or text, got dict"),
        ({"senior": None}, "entry 'senior': expected a number or text, got None"),
        ({"": 5}, "entry name '' must be non-empty text"),
        ([1200, 900], "expected a mapping of names to values, got list"),
    ],
)
def test_a_bad_rate_card_is_refused_naming_the_record_and_field(
    ref_api: Api, rates: Any, why: str
) -> None:
    r = ref_api.post("erp", ch("rate_card", "RC-9", code="X", rates=rates))
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert "RC-9" in str(body) and "rates" in str(body) and why in str(body), body


def test_an_opportunity_references_its_golden_client(ref_api: Api) -> None:
    post(
        ref_api,
        "crm",
        ch("client", "A-1", name="Acme Engineering", country="GB"),
        ch(
            "opportunity",
            "OPP-1",
            name="Acme ERP rollout",
            stage="proposal",
            amount=250000,
            currency="GBP",
            expected_start="2027-02-01",
            expected_end="2027-09-30",
            service_line="technology",
            billing_type="time_and_materials",
            owner="dana@firm.example",
            client_key="A-1",
        ),
    )
    opp = ref_api.golden_of("crm", "opportunity", "OPP-1")
    assert opp["references"] == {"client": ref_api.golden_of("crm", "client", "A-1")["id"]}  # type: ignore[comparison-overlap]
    assert opp["attributes"]["amount"] == 250000  # type: ignore[index]
    # a second opportunity of the same name and client is another deal, not a duplicate
    post(ref_api, "crm", ch("opportunity", "OPP-2", name="Acme ERP rollout", client_key="A-1"))
    assert ref_api.golden_of("crm", "opportunity", "OPP-2")["id"] != opp["id"]


def _time_world(api: Api) -> None:
    post(
        api,
        "psa",
        ch("client", "C-1", name="Acme", tax_id="GB1", country="GB"),
        ch("resource", "R-1", given_name="Ada", family_name="Byron", employee_id="E1"),
        ch("project", "PP-1", code="P100", name="Build", status="active", client_key="C-1"),
        ch("assignment", "AS-1", role="dev", resource_key="R-1", project_key="PP-1"),
    )
    post(
        api,
        "time",
        ch("client", "TC-1", name="Acme", tax_id="GB1", country="GB"),
        ch("resource", "T-1", employee_id="E1"),
        ch("project", "TP-1", code="P100", client_key="TC-1"),
    )


def _verdicts(api: Api, *codes: str | None) -> dict[str, list[str]]:
    entries = [
        {
            "id": f"e{i}",
            "resource_key": "T-1",
            "project_key": "TP-1",
            "date": "2027-03-01",
            "hours": 8,
            "billable": False,
            "labor_code": code,
        }
        for i, code in enumerate(codes)
    ]
    r = api.client.post(
        "/api/v1/time-entries/validate", json={"entries": entries}, headers=api.auth("time")
    )
    assert r.status_code == 200, r.text
    return {v["id"]: v["reasons"] for v in r.json()["results"]}


def test_time_entries_take_their_labour_codes_from_reference_data(ref_api: Api) -> None:
    _time_world(ref_api)
    # no labour codes in the hub yet: any code passes, as before reference data
    assert _verdicts(ref_api, "ANY") == {"e0": []}
    post(
        ref_api,
        "erp",
        ch("labor_code", "L1", code="DEV", name="Development", billable=True, status="active"),
        ch("labor_code", "L2", code="PM", name="Project management", status="active"),
        ch("labor_code", "L3", code="OLD", name="Retired code", status="closed"),
    )
    got = _verdicts(ref_api, "DEV", "PM", "OLD", "NOPE", None)
    assert got == {
        "e0": [],
        "e1": [],
        "e2": ["invalid_labor_code"],  # closed in ERP
        "e3": ["invalid_labor_code"],
        "e4": ["invalid_labor_code"],
    }
    # when every code is closed, none is accepted (not "any", as with no reference data)
    post(
        ref_api,
        "erp",
        ch("labor_code", "L1", code="DEV", status="closed"),
        ch("labor_code", "L2", code="PM", status="closed"),
    )
    assert _verdicts(ref_api, "DEV") == {"e0": ["invalid_labor_code"]}


def test_the_configured_labour_codes_override_reference_data(db_url: str) -> None:
    h = hub_with(db_url, "time_entries:\n  labor_codes: [TRAVEL]\n")
    try:
        keys: dict[str, str] = {}
        with admin_session(h.engine) as s:
            for name, (kind, domains) in SOURCES.items():
                keys[name] = access.add_source(s, name, domains, kind, None, set(h.config.domains))
        api = Api(h, keys)
        _time_world(api)
        post(api, "erp", ch("labor_code", "L1", code="DEV", status="active"))
        assert _verdicts(api, "DEV", "TRAVEL") == {"e0": ["invalid_labor_code"], "e1": []}
    finally:
        h.close()
