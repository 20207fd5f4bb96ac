"""Links you can trust, end to end on SQLite and PostgreSQL with the default configuration:
a golden side of distinct companies is never merged among itself, the group's shared values
are generic and the steward page says so, the acquired firm's copy links by its name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.store.tables import GoldenRecordRow, SourceRecordRow
from hub.store.uow import admin_session
from tests.conftest import make_hub
from tests.support.steward import SECRET, Web, add_source, add_stewards, login

GROUP = {
    "website": "https://www.northgate-group.com",
    "phone": "+44 20 7946 0100",
    "address_line": "1 Canada Square",
    "postcode": "E14 5AB",
}

# Distinct registered companies as a CRM holds them: sisters under one group website,
# switchboard and address; one name in two countries; trusts run by one trustee; legal forms.
DISTINCT = [
    {"name": "Northgate Holdings Ltd", "city": "London", "country": "GB", **GROUP},
    {"name": "Northgate Logistics Ltd", "city": "London", "country": "GB", **GROUP},
    {"name": "Northgate Energy plc", "city": "London", "country": "GB", **GROUP},
    {"name": "Northgate Holdings GmbH", "city": "Berlin", "country": "DE", **GROUP},
    {"name": "Harbour Freight Services", "city": "London", "country": "GB", **GROUP},
    {"name": "Alder Family Trust", "address_line": "5 Trustee Row", "city": "Jersey",
     "country": "JE", "phone": "+44 1534 000111"},
    {"name": "Birch Family Trust", "address_line": "5 Trustee Row", "city": "Jersey",
     "country": "JE", "phone": "+44 1534 000111"},
    {"name": "Cedar Family Trust", "address_line": "5 Trustee Row", "city": "Jersey",
     "country": "JE", "phone": "+44 1534 000111"},
    {"name": "Meyer Bau GmbH", "city": "Munich", "country": "DE"},
    {"name": "Meier Bau GmbH", "city": "Munich", "country": "DE"},
]  # fmt: skip


@pytest.fixture
def site(db_url: str) -> Iterator[Web]:
    hub = make_hub(db_url, session_secret=SECRET)  # the defaults: no contact keys
    add_stewards(hub)
    keys = {n: add_source(hub, n, ["client"]) for n in ("crm", "erp", "northwind-crm")}
    yield Web(
        hub, TestClient(create_app(hub, run_worker=False), raise_server_exceptions=False), keys
    )
    hub.close()


def _load_golden_side(site: Web) -> None:
    for n, attrs in enumerate(DISTINCT):
        site.post_change("crm", f"C-{n}", **attrs)


def test_a_golden_side_of_distinct_companies_is_never_merged_among_itself(site: Web) -> None:
    _load_golden_side(site)
    ids = {site.golden_of("crm", f"C-{n}") for n in range(len(DISTINCT))}
    assert len(ids) == len(DISTINCT)
    with admin_session(site.hub.engine) as s:
        active = s.scalar(
            select(func.count())
            .where(GoldenRecordRow.status == "active")
            .select_from(GoldenRecordRow)
        )
    assert active == len(DISTINCT)


def test_the_acquired_copy_links_by_its_name_not_by_the_group(site: Web) -> None:
    _load_golden_side(site)
    site.post_change(
        "northwind-crm", "NW-1", name="NORTHGATE LOGISTICS LIMITED", city="london",
        country="United Kingdom", **GROUP,
    )  # fmt: skip
    assert site.golden_of("northwind-crm", "NW-1") == site.golden_of("crm", "C-1")


def test_the_steward_page_says_a_shared_value_is_generic(site: Web) -> None:
    _load_golden_side(site)
    # a misspelt name and the group's values: a steward must decide, and must see that the
    # website, phone and address are the whole group's, not this company's
    site.post_change("erp", "E-1", name="Northgate Holdngs", country="GB", **GROUP)
    with admin_session(site.hub.engine) as s:
        e1 = s.scalars(select(SourceRecordRow.id).where(SourceRecordRow.source == "erp")).one()
    pending = [c for c in site.candidates() if c.status == "pending" and c.source_record_id == e1]
    [cand] = [c for c in pending if c.golden_id == site.golden_of("crm", "C-0")]
    notes: dict[str, Any] = cand.notes or {}
    assert "generic" in notes.get("website", ""), notes
    assert cand.weights["website"] == 0
    login(site.client, "ann")
    page = site.client.get(f"/steward/candidates/{cand.id}")
    assert page.status_code == 200
    assert "generic value" in page.text and "golden records hold it" in page.text


def test_a_second_record_of_one_source_waits_with_the_reason(site: Web) -> None:
    site.post_change("crm", "C-1", name="Acme Consulting Ltd", city="Leeds", country="GB")
    site.post_change("crm", "C-2", name="Acme Consulting Ltd", city="Leeds", country="GB")
    assert site.golden_of("crm", "C-1") != site.golden_of("crm", "C-2")
    [cand] = [c for c in site.candidates() if c.status == "pending"]
    assert "keeps them apart" in (cand.notes or {}).get("tier", "")
    login(site.client, "ann")
    page = site.client.get(f"/steward/candidates/{cand.id}")
    assert "Waits for a steward" in page.text and "keeps them apart" in page.text
