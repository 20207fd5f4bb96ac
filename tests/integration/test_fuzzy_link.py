"""Fuzzy matching inside the apply path: auto links, review candidates, sister companies."""

from __future__ import annotations

from sqlalchemy import select

from hub.bootstrap import bootstrap
from hub.config import Settings, load_config
from hub.store import access
from hub.store.tables import MatchCandidate, SourceRecordRow
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory

ACME = {
    "name": "ACME International Corporation",
    "address_line": "1 Long Lane",
    "city": "London",
    "postcode": "EC1A 1BB",
    "country": "GB",
    "phone": "020 7946 0000",
}


def _northwind(api: Api) -> None:
    with admin_session(api.hub.engine) as s:
        api.keys["northwind-crm"] = access.add_source(
            s, "northwind-crm", ["client"], None, None, set(api.hub.config.domains)
        )


def test_acquired_crm_spelling_links_automatically(api: Api, change: ChangeFactory) -> None:
    _northwind(api)
    api.post("crm", change("client", "A-1", 1, **ACME))
    api.apply()
    api.post(
        "northwind-crm",
        change(
            "client",
            "NW-9",
            1,
            name="Acme Intl. Corp",
            address_line="1 Long Lane",
            city="london",
            postcode="EC1A1BB",
            country="United Kingdom",
            phone="+44 20 7946 0000",
        ),
    )
    api.apply()
    golden = api.golden_of("northwind-crm", "client", "NW-9")
    assert {(x["source"], x["key"]) for x in golden["xref"]} == {  # type: ignore[union-attr]
        ("crm", "A-1"),
        ("northwind-crm", "NW-9"),
    }
    assert golden["attributes"]["name"] == ACME["name"]  # type: ignore[index]  # crm ranks first
    with admin_session(api.hub.engine) as s:
        rule = s.scalars(
            select(SourceRecordRow.link_rule).where(SourceRecordRow.source_key == "NW-9")
        ).one()
    assert rule == "fellegi-sunter"


def test_sister_company_is_not_linked(api: Api, change: ChangeFactory) -> None:
    _northwind(api)
    api.post(
        "crm",
        change(
            "client",
            "A-1",
            1,
            name="Acme Holdings Ltd",
            city="London",
            postcode="EC1A 1BB",
            country="GB",
        ),
    )
    api.apply()
    api.post(
        "northwind-crm",
        change(
            "client",
            "NW-2",
            1,
            name="Acme Services Ltd",
            city="London",
            postcode="EC1A 1BB",
            country="GB",
        ),
    )
    api.apply()
    a = api.golden_of("crm", "client", "A-1")
    b = api.golden_of("northwind-crm", "client", "NW-2")
    assert a["id"] != b["id"]


def test_uncertain_pair_goes_to_review_and_stays_separate(api: Api, change: ChangeFactory) -> None:
    _northwind(api)
    api.post("crm", change("client", "A-1", 1, **ACME))
    api.apply()
    # a misspelt name and the country, nothing else to confirm it: too little for auto,
    # enough to ask
    api.post(
        "northwind-crm",
        change("client", "NW-3", 1, name="Acme Internationl Corp", country="GB"),
    )
    api.apply()
    a = api.golden_of("crm", "client", "A-1")
    b = api.golden_of("northwind-crm", "client", "NW-3")
    assert a["id"] != b["id"]
    with admin_session(api.hub.engine) as s:
        cands = s.scalars(select(MatchCandidate)).all()
    assert [(c.golden_id, c.status) for c in cands] == [(a["id"], "pending")]
    assert 0.5 <= cands[0].probability < 0.99
    assert "name" in cands[0].weights


def test_fuzzy_matching_can_be_switched_off(db_url: str, change: ChangeFactory) -> None:
    config = load_config(text="match: {client: {enabled: false}}")
    hub = bootstrap(Settings(database_url=db_url), config=config)
    from tests.migrated import migrate

    migrate(db_url)
    with admin_session(hub.engine) as s:
        keys = {
            n: access.add_source(s, n, ["client"], None, None, set(config.domains))
            for n in ("crm", "northwind-crm")
        }
    keys["reader"] = keys["crm"]
    api = Api(hub, keys)
    api.post("crm", change("client", "A-1", 1, **ACME))
    api.post("northwind-crm", change("client", "NW-9", 1, **{**ACME, "name": "Acme Intl. Corp"}))
    api.apply()
    assert (
        api.golden_of("crm", "client", "A-1")["id"]
        != api.golden_of("northwind-crm", "client", "NW-9")["id"]
    )
    hub.close()
