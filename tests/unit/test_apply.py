"""The path of one change through the real bus and applier on fake storage
(docs/architecture.md, "The path of one change"): inbox, source record, link, survive, new
version and outbox event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from hub.domain.model import Change
from hub.services.bus import MessageBus
from tests.unit.fakes import DelegatingMatcher, FakeDatabase, accept, change, fake_bus

ACME_CRM: dict[str, Any] = {
    "name": "Acme",
    "legal_name": "Acme (from CRM)",
    "website": "https://acme.com",
    "tax_id": "GB 123 4567 89",
    "country": "GB",
}
ACME_ERP: dict[str, Any] = {
    "name": "ACME LTD",
    "legal_name": "Acme Holdings Ltd",
    "website": "www.acme.com/",
    "tax_id": "gb123456789",
    "country": "United Kingdom",
}


def setup() -> tuple[FakeDatabase, MessageBus]:
    db = FakeDatabase()
    return db, fake_bus(db)


def send(bus: MessageBus, *changes: Change) -> None:
    accept(bus, *changes)
    bus.drain()


class TestCreate:
    def test_new_record_creates_a_golden_record(self) -> None:
        db, bus = setup()
        accept(bus, change("crm", "client", "A-17", 1, **ACME_CRM))
        report = bus.drain()
        assert (report.applied, report.created, report.events) == (1, 1, 1)
        golden = db.golden_of("crm", "client", "A-17")
        assert golden["version"] == 1
        assert golden["status"] == "active"
        assert golden["attributes"] == ACME_CRM
        assert db.record("crm", "client", "A-17").link_rule == "new"
        [event] = db.events()
        assert event["type"] == "concord.client.created"
        assert event["subject"] == golden["id"]
        assert event["data"]["version"] == 1
        assert event["data"]["xref"] == [{"source": "crm", "key": "A-17"}]
        assert event["data"]["attributes"] == ACME_CRM
        assert event["data"]["provenance"]["name"] == {
            "source": "crm",
            "key": "A-17",
            "rule": "source_priority",
        }
        assert [v["cause"] for v in db.versions_of(golden["id"])] == ["created"]

    def test_inbox_rows_are_marked_applied(self) -> None:
        db, bus = setup()
        c = change("crm", "client", "A-17", 1, **ACME_CRM)
        send(bus, c)
        assert db.inbox_status() == {c.event_id: "applied"}


class TestLinkAndSurvive:
    def _check_linked(self, db: FakeDatabase, first: str, second: str) -> None:
        crm = db.golden_of("crm", "client", "A-17")
        erp = db.golden_of("erp", "client", "E-1")
        assert crm["id"] == erp["id"]
        assert len(db.goldens("client")) == 1
        assert db.record(*first.split("/")).link_rule == "new"
        assert db.record(*second.split("/")).link_rule == "deterministic:tax_id"
        assert crm["attributes"]["name"] == "Acme"
        assert crm["attributes"]["legal_name"] == "Acme Holdings Ltd"
        assert crm["provenance"]["name"]["source"] == "crm"
        assert crm["provenance"]["legal_name"] == {
            "source": "erp",
            "key": "E-1",
            "rule": "source_priority",
        }
        assert crm["xref"] == [{"source": "crm", "key": "A-17"}, {"source": "erp", "key": "E-1"}]

    def test_second_source_with_same_tax_id_links_in_a_later_batch(self) -> None:
        db, bus = setup()
        send(bus, change("crm", "client", "A-17", 1, **ACME_CRM))
        send(bus, change("erp", "client", "E-1", 1, **ACME_ERP))
        self._check_linked(db, "crm/client/A-17", "erp/client/E-1")
        golden = db.golden_of("crm", "client", "A-17")
        assert golden["version"] == 2
        last = db.events()[-1]
        assert last["type"] == "concord.client.updated"
        assert last["data"]["xref"] == golden["xref"]
        assert "legal_name" in last["data"]["changed_fields"]

    def test_second_source_with_same_tax_id_links_in_the_same_batch(self) -> None:
        db, bus = setup()
        send(
            bus,
            change("erp", "client", "E-1", 1, **ACME_ERP),
            change("crm", "client", "A-17", 1, **ACME_CRM),
        )
        self._check_linked(db, "erp/client/E-1", "crm/client/A-17")
        assert [e["type"] for e in db.events()] == ["concord.client.created"]

    def test_different_tax_ids_stay_separate(self) -> None:
        db, bus = setup()
        send(bus, change("crm", "client", "A-17", 1, **ACME_CRM))
        send(bus, change("erp", "client", "E-1", 1, name="Acme", tax_id="GB999", country="GB"))
        assert len(db.goldens("client")) == 2

    def test_a_shared_website_is_evidence_not_identity(self) -> None:
        """Sister companies share a group website: without an identifier of one legal entity
        (tax id, LEI, a customer number of one ERP) the keys alone never join them."""
        db, bus = setup()
        send(bus, change("crm", "client", "A-1", 1, name="Acme Holdings", website="group.com"))
        send(bus, change("erp", "client", "E-1", 1, name="Acme Services", website="group.com"))
        assert len(db.goldens("client")) == 2
        assert db.record("erp", "client", "E-1").link_rule == "new"

    def test_a_record_that_links_by_its_tax_id_reads_no_candidates(self) -> None:
        """The prefetch reads the candidates a batch will score; a record whose identity key
        is held already links by it and scores nothing, so none are read for it (reading
        them was a third of the prefetch on the bench's data)."""
        from hub.bootstrap import fuzzy_matcher
        from hub.config import load_config

        db = FakeDatabase()
        bus = fake_bus(db, matcher=fuzzy_matcher(load_config()))
        send(bus, change("crm", "client", "A-17", 1, **ACME_CRM))
        send(bus, change("crm", "client", "A-18", 1, **(ACME_CRM | {"tax_id": "GB 999"})))
        cache = bus.applier.context.cache
        asked: list[set[str]] = []
        fetch = cache.fetch
        cache.fetch = lambda uow, ids, sources, kept=None: (  # type: ignore[method-assign]
            asked.append(set(ids)) or fetch(uow, ids, sources, kept)
        )
        send(bus, change("erp", "client", "E-1", 1, **ACME_ERP))
        assert asked == []
        assert db.record("erp", "client", "E-1").link_rule == "deterministic:tax_id"
        # a record with no key held is scored against the golden records it shares keys with
        send(bus, change("erp", "client", "E-2", 1, **(ACME_ERP | {"tax_id": "GB 777"})))
        assert asked and len(set().union(*asked)) == 2


class TestReferences:
    def test_pending_reference_resolves_when_the_client_arrives(self) -> None:
        db, bus = setup()
        send(bus, change("psa", "project", "P-1", 1, code="P1", name="Migration", client_key="C-9"))
        project = db.golden_of("psa", "project", "P-1")
        assert project["version"] == 1
        assert project["references"]["client"] is None
        assert [
            (p["golden_id"], p["target_domain"], p["target_key"]) for p in db.state.pending
        ] == [(project["id"], "client", "C-9")]

        send(bus, change("psa", "client", "C-9", 1, name="Acme", website="acme.com"))
        client = db.golden_of("psa", "client", "C-9")
        project = db.golden_of("psa", "project", "P-1")
        assert project["version"] == 2
        assert project["references"]["client"] == client["id"]
        assert project["provenance"]["ref:client"]["source"] == "psa"
        assert db.state.pending == []
        [update] = db.events("concord.project.updated")
        assert update["data"]["references"]["client"] == client["id"]
        assert update["data"]["changed_fields"] == ["client"]
        assert update["data"]["version"] == 2

    def test_a_reference_resolved_later_reaches_the_key_index(self) -> None:
        """The project's record is the same image before and after its client arrives; its
        index keys are not (the code key holds the client's golden record), so keys kept by
        image alone would keep the unresolved ones and the ERP's copy would not link."""
        db, bus = setup()
        send(bus, change("psa", "project", "P-1", 1, code="P1", name="Migration", client_key="C-9"))
        send(bus, change("psa", "client", "C-9", 1, **ACME_CRM))
        send(bus, change("erp", "client", "E-9", 1, **ACME_ERP))
        assert (
            db.golden_of("erp", "client", "E-9")["id"] == db.golden_of("psa", "client", "C-9")["id"]
        )
        send(bus, change("erp", "project", "EP-1", 1, code="P1", client_key="E-9"))
        assert (
            db.golden_of("erp", "project", "EP-1")["id"]
            == db.golden_of("psa", "project", "P-1")["id"]
        )

    def test_known_client_resolves_at_once(self) -> None:
        db, bus = setup()
        send(bus, change("psa", "client", "C-9", 1, name="Acme", website="acme.com"))
        send(bus, change("psa", "project", "P-1", 1, code="P1", client_key="C-9"))
        project = db.golden_of("psa", "project", "P-1")
        assert project["version"] == 1
        assert project["references"]["client"] == db.golden_of("psa", "client", "C-9")["id"]
        assert db.state.pending == []

    def test_reference_is_resolved_through_the_senders_own_xref(self) -> None:
        db, bus = setup()
        # crm also has a client keyed C-9, but PSA's C-9 is a different record
        send(bus, change("crm", "client", "C-9", 1, name="Other", website="other.com"))
        send(bus, change("psa", "project", "P-1", 1, code="P1", client_key="C-9"))
        assert db.golden_of("psa", "project", "P-1")["references"]["client"] is None


class TestDelete:
    def test_delete_marks_the_record_deleted_and_resurvives(self) -> None:
        db, bus = setup()
        send(
            bus,
            change("crm", "client", "A-17", 1, **ACME_CRM),
            change("erp", "client", "E-1", 1, **ACME_ERP),
        )
        send(bus, change("crm", "client", "A-17", 2, op="delete"))
        record = db.record("crm", "client", "A-17")
        assert record.deleted
        golden = db.golden_of("erp", "client", "E-1")
        assert golden["status"] == "active"
        assert golden["version"] == 2
        assert golden["attributes"]["name"] == "ACME LTD"
        assert golden["provenance"]["name"]["source"] == "erp"
        assert golden["xref"] == [{"source": "erp", "key": "E-1"}]
        assert db.events()[-1]["type"] == "concord.client.updated"

    def test_deleting_the_last_live_record_retires_the_golden(self) -> None:
        db, bus = setup()
        send(bus, change("crm", "client", "A-17", 1, **ACME_CRM))
        gid = db.golden_of("crm", "client", "A-17")["id"]
        send(bus, change("crm", "client", "A-17", 2, op="delete"))
        assert gid in db.state.golden  # retired, not dropped
        golden = db.state.golden[gid]
        assert golden["status"] == "retired"
        assert golden["version"] == 2
        retired = db.events("concord.client.retired")
        assert len(retired) == 1
        assert retired[0]["subject"] == gid
        assert retired[0]["data"]["status"] == "retired"
        assert [v["cause"] for v in db.versions_of(gid)] == ["created", "retired"]

    def test_retired_golden_is_no_longer_a_link_target(self) -> None:
        db, bus = setup()
        send(bus, change("crm", "client", "A-17", 1, **ACME_CRM))
        old = db.golden_of("crm", "client", "A-17")["id"]
        send(bus, change("crm", "client", "A-17", 2, op="delete"))
        send(bus, change("erp", "client", "E-1", 1, **ACME_ERP))
        assert db.golden_of("erp", "client", "E-1")["id"] != old

    def test_a_new_image_after_delete_reactivates_the_golden(self) -> None:
        db, bus = setup()
        send(bus, change("crm", "client", "A-17", 1, **ACME_CRM))
        send(bus, change("crm", "client", "A-17", 2, op="delete"))
        send(bus, change("crm", "client", "A-17", 3, **ACME_CRM))
        golden = db.golden_of("crm", "client", "A-17")
        assert (golden["status"], golden["version"]) == ("active", 3)
        assert golden["attributes"] == ACME_CRM

    def test_create_and_delete_in_one_batch_then_recreate(self) -> None:
        db, bus = setup()
        send(
            bus,
            change("crm", "client", "A-17", 1, **ACME_CRM),
            change("crm", "client", "A-17", 2, op="delete"),
        )
        accept(bus, change("crm", "client", "A-17", 3, **ACME_CRM))
        report = bus.drain()
        assert report.dead == 0
        assert db.golden_of("crm", "client", "A-17")["attributes"] == ACME_CRM

    def test_retired_golden_keeps_its_last_values(self) -> None:
        db, bus = setup()
        send(bus, change("crm", "client", "A-17", 1, **ACME_CRM))
        send(bus, change("crm", "client", "A-17", 2, op="delete"))
        [retired] = db.events("concord.client.retired")
        assert retired["data"]["attributes"] == ACME_CRM


class TestNoChange:
    def test_update_that_changes_nothing_emits_no_version(self) -> None:
        db, bus = setup()
        send(bus, change("crm", "client", "A-17", 1, **ACME_CRM))
        accept(bus, change("crm", "client", "A-17", 2, **ACME_CRM))
        report = bus.drain()
        assert (report.applied, report.events) == (1, 0)
        assert db.record("crm", "client", "A-17").sequence == 2
        golden = db.golden_of("crm", "client", "A-17")
        assert golden["version"] == 1
        assert len(db.events()) == 1
        assert len(db.versions_of(golden["id"])) == 1

    def test_change_of_a_field_not_winning_emits_no_version(self) -> None:
        db, bus = setup()
        send(
            bus,
            change("crm", "client", "A-17", 1, **ACME_CRM),
            change("erp", "client", "E-1", 1, **ACME_ERP),
        )
        # ERP's name loses to CRM's, so a new ERP name changes nothing golden
        send(bus, change("erp", "client", "E-1", 2, **{**ACME_ERP, "name": "ACME LIMITED"}))
        assert db.golden_of("crm", "client", "A-17")["version"] == 1


class TestDuplicates:
    def test_replayed_event_id_is_a_duplicate_and_applied_once(self) -> None:
        db, bus = setup()
        c = change("crm", "client", "A-17", 1, event_id="evt-1", **ACME_CRM)
        assert accept(bus, c).accepted == 1
        first = bus.drain()
        again = accept(bus, c)
        assert (again.accepted, again.duplicates) == (0, 1)
        second = bus.drain()
        assert (first.applied, second.applied) == (1, 0)
        assert len(db.state.inbox) == 1
        assert len(db.events()) == 1

    def test_duplicate_within_one_batch(self) -> None:
        _, bus = setup()
        c = change("crm", "client", "A-17", 1, event_id="evt-1", **ACME_CRM)
        result = accept(bus, c, c)
        assert (result.accepted, result.duplicates) == (1, 1)
        assert bus.drain().applied == 1

    def test_same_event_id_from_another_source_is_not_a_duplicate(self) -> None:
        _, bus = setup()
        result = accept(
            bus,
            change("crm", "client", "A-17", 1, event_id="evt-1", **ACME_CRM),
            change("erp", "client", "E-1", 1, event_id="evt-1", **ACME_ERP),
        )
        assert (result.accepted, result.duplicates) == (2, 0)


class ExplodingMatcher(DelegatingMatcher):
    """The deterministic matcher, except that it fails on one record (by name)."""

    def __init__(self, poison: str) -> None:
        super().__init__()
        self.poison = poison

    def deterministic_keys(self, domain: str, record: Mapping[str, object]) -> list[str]:
        if record.get("name") == self.poison:
            raise RuntimeError(f"cannot key {self.poison}")
        return self.inner.deterministic_keys(domain, record)


@pytest.mark.batch_failure_expected
class TestBatchFailure:
    def test_the_failing_change_alone_is_dead_lettered(self) -> None:
        db = FakeDatabase()
        bus = fake_bus(db, matcher=ExplodingMatcher("Poison Ltd"))
        good1 = change("crm", "client", "A-1", 1, name="Good One", website="one.com")
        bad = change("crm", "client", "A-2", 1, name="Poison Ltd", website="poison.com")
        good2 = change("crm", "client", "A-3", 1, name="Good Two", website="two.com")
        accept(bus, good1, bad, good2)
        report = bus.drain()
        assert (report.applied, report.dead) == (2, 1)
        assert db.inbox_status() == {
            good1.event_id: "applied",
            bad.event_id: "dead",
            good2.event_id: "applied",
        }
        [dead] = db.state.dead_letters
        assert dead["event_id"] == bad.event_id
        assert dead["source"] == "crm"
        assert "cannot key Poison Ltd" in dead["reason"]
        assert dead["payload"]["key"] == "A-2"
        assert dead["payload"]["attributes"]["name"] == "Poison Ltd"
        assert {g["attributes"]["name"] for g in db.goldens("client")} == {"Good One", "Good Two"}
        assert len(db.events()) == 2
        try:
            db.record("crm", "client", "A-2")
        except KeyError:
            pass
        else:
            raise AssertionError("the dead change left a source record behind")

    def test_a_failed_batch_leaves_nothing_half_applied(self) -> None:
        db = FakeDatabase()
        bus = fake_bus(db, matcher=ExplodingMatcher("Poison Ltd"))
        accept(bus, change("crm", "client", "A-2", 1, name="Poison Ltd"))
        bus.drain()
        assert db.state.golden == {}
        assert db.state.records == {}
        assert db.state.outbox == []
