"""Links you can trust: identity vs evidence, generic values, entity-centric matching and the
cluster guard, through the real applier on fake storage (and at the matcher where it decides).

Each case is a small real-world shape: sister companies under one group website and
switchboard, an acquired CRM's spelling of a client, a person with a typo in the surname.
"""

from __future__ import annotations

from typing import Any

from hub.bootstrap import fuzzy_matcher
from matching import FellegiSunterMatcher, client_spec
from matching.matcher import entity_levels
from tests.unit.fakes import FakeDatabase, accept, change, default_config, fake_bus

GROUP = {
    "website": "https://www.northgate-group.com",
    "phone": "+44 20 7946 0100",
    "address_line": "1 Canada Square",
    "city": "London",
    "postcode": "E14 5AB",
    "country": "GB",
}


def _bus(db: FakeDatabase) -> Any:
    return fake_bus(db, matcher=fuzzy_matcher(default_config()))


def _send(bus: Any, *changes: Any) -> None:
    accept(bus, *changes)
    bus.drain()


def _golden_ids(db: FakeDatabase, *keys: tuple[str, str]) -> list[str]:
    return [db.golden_of(source, "client", key)["id"] for source, key in keys]


class TestSisterCompanies:
    def test_two_subsidiaries_sharing_a_website_and_phone_stay_apart(self) -> None:
        db = FakeDatabase()
        bus = _bus(db)
        _send(bus, change("crm", "client", "C-1", 1, name="Northgate Holdings Ltd", **GROUP))
        _send(bus, change("crm", "client", "C-2", 1, name="Northgate Logistics Ltd", **GROUP))
        a, b = _golden_ids(db, ("crm", "C-1"), ("crm", "C-2"))
        assert a != b
        # even from another system, a shared website, phone and address are not identity
        _send(bus, change("erp", "client", "E-7", 1, name="Northgate Energy plc", **GROUP))
        assert len({*_golden_ids(db, ("crm", "C-1"), ("crm", "C-2"), ("erp", "E-7"))}) == 3

    def test_the_name_decides_when_the_group_values_are_generic(self) -> None:
        db = FakeDatabase()
        bus = _bus(db)
        for n, name in enumerate(["Holdings", "Logistics", "Energy"]):
            _send(bus, change("crm", "client", f"C-{n}", 1, name=f"Northgate {name}", **GROUP))
        assert len(db.goldens("client")) == 3
        # the ERP's copy of one of them: the group's shared values weigh nothing, the name links
        _send(bus, change("erp", "client", "E-1", 1, name="NORTHGATE HOLDINGS LTD", **GROUP))
        assert db.record("erp", "client", "E-1").link_rule == "fellegi-sunter"
        assert _golden_ids(db, ("erp", "E-1")) == _golden_ids(db, ("crm", "C-0"))
        # and the index counts the group's website on all three sisters, in real time
        holders = {
            row["golden_id"]
            for row in db.state.keys
            if row["key"] == "v:website:northgate-group.com"
        }
        assert len(holders) == 3

    def test_a_source_that_keeps_two_records_apart_is_not_overruled(self) -> None:
        """CRM holds two accounts with near-identical names (a branch and its parent): a third
        record that fits both must not auto-link into one of them, and a second CRM account
        that fits the first waits for a steward instead of joining it."""
        db = FakeDatabase()
        bus = _bus(db)
        acme = {"name": "Acme Consulting Ltd", "city": "Leeds", "postcode": "LS1 4AP"}
        _send(bus, change("crm", "client", "C-1", 1, country="GB", **acme))
        _send(bus, change("crm", "client", "C-2", 1, country="GB", **acme))
        assert len(db.goldens("client")) == 2
        [cand] = [c for c in db.state.candidates if c["status"] == "pending"]
        assert "keeps them apart" in (cand["notes"] or {}).get("tier", "")


class TestLinksThatShouldHappen:
    def test_the_acme_group_and_acme_group_limited_link(self) -> None:
        db = FakeDatabase()
        bus = _bus(db)
        _send(
            bus,
            change("crm", "client", "C-1", 1, name="The Acme Group", city="Leeds", country="GB"),
        )
        _send(
            bus,
            change(
                "northwind-crm",
                "client",
                "N-1",
                1,
                name="ACME GROUP LIMITED",
                city="leeds",
                country="United Kingdom",
            ),
        )
        a, b = _golden_ids(db, ("crm", "C-1"), ("northwind-crm", "N-1"))
        assert a == b

    def test_entity_centric_a_second_address_of_the_client_counts(self) -> None:
        """The golden record survives CRM's address; the ERP record holds the billing address.
        An acquired record with the billing address still meets the client there."""
        db = FakeDatabase()
        bus = _bus(db)
        crm = {"name": "Borealis Analytics", "country": "SE", "city": "Stockholm"}
        _send(bus, change("crm", "client", "C-1", 1, address_line="Kungsgatan 8", **crm))
        _send(
            bus,
            change(
                "erp",
                "client",
                "E-1",
                1,
                tax_id="SE556000000001",
                address_line="Box 1234, Sveavagen 44",
                **crm,
            ),
        )
        matcher = fuzzy_matcher(default_config())
        golden = db.golden_of("crm", "client", "C-1")
        views = [
            golden["attributes"],
            {"address_line": "Box 1234, Sveavagen 44", **crm},
        ]
        record = {"address_line": "Box 1234 Sveavägen 44", **crm}
        gamma_one = entity_levels(matcher.spec("client").current_model(), record, [views[0]])
        [entity] = matcher.score("client", record, [("g", views)])
        assert entity.weights["address_line"] > 0  # met on the ERP record's address
        address = [c.label for c in client_spec().comparisons].index("address_line")
        assert gamma_one[0][address] == 3  # the survived (CRM) address alone says "else"


class TestMatcherRules:
    def test_evidence_alone_never_links_automatically(self) -> None:
        matcher = FellegiSunterMatcher({"client": client_spec()})
        golden = {"name": "Northgate Holdings Ltd", **GROUP}
        record = {"name": "Harbour Freight Services", **GROUP}
        [cand] = matcher.score("client", record, [("g", golden)])
        assert cand.tier == "review"
        assert "evidence, not identity" in cand.notes["tier"]

    def test_a_generic_value_weighs_nothing_and_says_so(self) -> None:
        matcher = FellegiSunterMatcher({"client": client_spec()})
        golden = {"name": "Northgate Holdings", **GROUP}
        record = {"name": "Northgate Holdings", **GROUP}
        [plain] = matcher.score("client", record, [("g", golden)])
        [generic] = matcher.score(
            "client", record, [("g", golden)], holders={"website": 7, "phone": 1}, population=500
        )
        assert plain.weights["website"] > 10
        assert generic.weights["website"] == 0
        assert "7 golden records" in generic.notes["website"]
        assert generic.weights["phone"] == plain.weights["phone"]

    def test_a_common_name_weighs_less_than_a_rare_one(self) -> None:
        matcher = FellegiSunterMatcher({"client": client_spec()})
        golden = {"name": "Holdings", "country": "GB", "city": "Leeds", "postcode": "LS1 4AP"}
        [rare] = matcher.score(
            "client", golden, [("g", golden)], holders={"name": 1}, population=1000
        )
        [common] = matcher.score(
            "client", golden, [("g", golden)], holders={"name": 60}, population=1000
        )
        assert common.weights["name"] < rare.weights["name"]
        assert "common value" in common.notes["name"]

    def test_value_keys_count_per_comparison(self) -> None:
        matcher = FellegiSunterMatcher({"client": client_spec()})
        keys = matcher.value_keys("client", {"name": "Acme Ltd", "website": "www.acme.com"})
        assert set(keys) == {"name", "website"}
        assert keys["website"] == "v:website:acme.com"


class TestPeople:
    def test_a_typo_in_the_surname_with_the_same_birth_date_links(self) -> None:
        db = FakeDatabase()
        bus = _bus(db)
        _send(
            bus,
            change(
                "hr",
                "resource",
                "H-1",
                1,
                given_name="Katarzyna",
                family_name="Wojciechowska",
                date_of_birth="1987-03-14",
            ),
        )
        _send(
            bus,
            change(
                "psa",
                "resource",
                "P-1",
                1,
                given_name="Katarzyna",
                family_name="Wojciechowksa",
                date_of_birth="14/03/1987",
            ),
        )
        hr = db.golden_of("hr", "resource", "H-1")
        assert db.golden_of("psa", "resource", "P-1")["id"] == hr["id"]

    def test_a_shared_team_mailbox_does_not_make_two_people_one(self) -> None:
        db = FakeDatabase()
        bus = _bus(db)
        mailbox = {"email": "delivery-team@example.com", "phone": "+44 20 7946 0999"}
        _send(
            bus,
            change("hr", "resource", "H-1", 1, given_name="Ana", family_name="Silva", **mailbox),
        )
        _send(
            bus,
            change("psa", "resource", "P-9", 1, given_name="Tom", family_name="Berg", **mailbox),
        )
        a = db.golden_of("hr", "resource", "H-1")["id"]
        assert db.golden_of("psa", "resource", "P-9")["id"] != a


def test_the_index_offers_the_candidates_sharing_most_keys() -> None:
    from matching import BlockingIndex

    index = BlockingIndex()
    index.put("city-only", ["b:city:london"])
    index.put("name-and-city", ["b:city:london", "b:name:acme"])
    for n in range(100):
        index.put(f"other-{n}", ["b:city:london"])
    found = index.closest(["b:city:london", "b:name:acme"], limit=5)
    assert found[0] == "name-and-city" and len(found) == 5
