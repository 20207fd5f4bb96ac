"""Which change is newer (``hub.domain.model.is_newer``) and what the apply step does with an
older one: it is marked stale and never overwrites what the hub holds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.domain.model import Change, SourceRecord, attributes_digest, is_newer
from tests.unit.fakes import FakeDatabase, accept, change, fake_bus

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def held(seq: int | None, minutes: int, **attrs: Any) -> SourceRecord:
    return SourceRecord(
        source="crm",
        domain="client",
        key="A-17",
        attributes=attrs,
        changed_at=T0 + timedelta(minutes=minutes),
        sequence=seq,
        digest=attributes_digest(attrs),
    )


def incoming(seq: int | None, minutes: int, **attrs: Any) -> tuple[Change, str]:
    c = change("crm", "client", "A-17", seq, at=T0 + timedelta(minutes=minutes), **attrs)
    return c, attributes_digest(c.attributes, c.op)


def as_held(c: Change) -> SourceRecord:
    return SourceRecord(
        c.source,
        c.domain,
        c.key,
        dict(c.attributes),
        c.changed_at,
        c.sequence,
        attributes_digest(c.attributes, c.op),
    )


class TestIsNewer:
    def test_higher_sequence_wins_even_with_an_older_time(self) -> None:
        c, d = incoming(5, 0, name="x")
        assert is_newer(c, d, held(4, 60, name="y"))

    def test_lower_sequence_loses_even_with_a_newer_time(self) -> None:
        c, d = incoming(3, 60, name="x")
        assert not is_newer(c, d, held(4, 0, name="y"))

    def test_a_sequenced_change_outranks_one_without_whatever_the_clocks(self) -> None:
        # Comparing a mixed pair by clock made "newer" cyclic (see the convergence test
        # below): presence of a sequence ranks first, so the order is total.
        c, d = incoming(None, 10, name="x")
        assert not is_newer(c, d, held(9, 5, name="y"))
        c, d = incoming(1, 1, name="x")
        assert is_newer(c, d, held(None, 5, name="y"))

    def test_changed_at_decides_when_neither_has_a_sequence(self) -> None:
        c, d = incoming(None, 10, name="x")
        assert is_newer(c, d, held(None, 5, name="y"))
        c, d = incoming(None, 1, name="x")
        assert not is_newer(c, d, held(None, 5, name="y"))

    def test_exact_tie_is_broken_by_digest_one_way_only(self) -> None:
        a, da = incoming(7, 0, name="Alpha")
        b, db = incoming(7, 0, name="Beta")
        a_over_b = is_newer(a, da, as_held(b))
        b_over_a = is_newer(b, db, as_held(a))
        assert a_over_b != b_over_a
        assert a_over_b == (da > db)

    def test_tie_without_sequence_is_broken_by_digest(self) -> None:
        a, da = incoming(None, 3, name="Alpha")
        b, db = incoming(None, 3, name="Beta")
        assert is_newer(a, da, as_held(b)) == (da > db)
        assert is_newer(b, db, as_held(a)) == (db > da)

    def test_the_same_image_again_is_not_newer(self) -> None:
        c, d = incoming(7, 0, name="Alpha")
        assert not is_newer(c, d, as_held(c))

    def test_delete_and_upsert_of_the_same_image_differ_in_digest(self) -> None:
        assert attributes_digest({"a": 1}, "delete") != attributes_digest({"a": 1}, "upsert")

    @pytest.mark.parametrize("with_sequence", [True, False])
    def test_any_delivery_order_converges(self, with_sequence: bool) -> None:
        changes = [
            incoming(2 if with_sequence else None, 5, name="two")[0],
            incoming(2 if with_sequence else None, 5, name="two bis")[0],
            incoming(1 if with_sequence else None, 1, name="one")[0],
            incoming(3 if with_sequence else None, 9, name="three")[0],
            incoming(3 if with_sequence else None, 9, name="three bis")[0],
        ]
        finals = set()
        for order in itertools.permutations(changes):
            state = as_held(order[0])
            for c in order[1:]:
                if is_newer(c, attributes_digest(c.attributes, c.op), state):
                    state = as_held(c)
            finals.add(state.attributes["name"])
        assert len(finals) == 1

    def test_mixed_sequenced_and_unsequenced_changes_converge(self) -> None:
        changes = [
            incoming(1, 30, name="A")[0],  # sequenced, late clock
            incoming(None, 20, name="B")[0],  # no sequence
            incoming(2, 10, name="C")[0],  # sequenced, early clock
        ]
        finals = set()
        for order in itertools.permutations(changes):
            state = as_held(order[0])
            for c in order[1:]:
                if is_newer(c, attributes_digest(c.attributes, c.op), state):
                    state = as_held(c)
            finals.add(state.attributes["name"])
        assert len(finals) == 1


class TestStaleThroughTheBus:
    def test_older_change_after_newer_is_stale_and_does_not_overwrite(self) -> None:
        db = FakeDatabase()
        bus = fake_bus(db)
        accept(bus, change("crm", "client", "A-17", 2, name="New Name", website="acme.com"))
        bus.drain()
        before = db.golden_of("crm", "client", "A-17")
        old = change("crm", "client", "A-17", 1, name="Old Name", website="acme.com")
        accept(bus, old)
        report = bus.drain()
        assert (report.applied, report.stale, report.events) == (0, 1, 0)
        assert db.inbox_status()[old.event_id] == "stale"
        record = db.record("crm", "client", "A-17")
        assert record.attributes["name"] == "New Name"
        assert record.sequence == 2
        after = db.golden_of("crm", "client", "A-17")
        assert after["attributes"]["name"] == "New Name"
        assert after["version"] == before["version"] == 1
        assert len(db.events()) == 1

    def test_older_change_without_sequence_is_stale_by_time(self) -> None:
        db = FakeDatabase()
        bus = fake_bus(db)
        accept(bus, change("crm", "client", "A-17", at=T0 + timedelta(hours=1), name="New"))
        bus.drain()
        accept(bus, change("crm", "client", "A-17", at=T0, name="Old"))
        assert bus.drain().stale == 1
        assert db.golden_of("crm", "client", "A-17")["attributes"]["name"] == "New"

    def test_newer_then_older_in_one_batch_keeps_the_newer(self) -> None:
        db = FakeDatabase()
        bus = fake_bus(db)
        accept(
            bus,
            change("crm", "client", "A-17", 5, name="Five"),
            change("crm", "client", "A-17", 4, name="Four"),
        )
        report = bus.drain()
        assert (report.applied, report.stale) == (1, 1)
        golden = db.golden_of("crm", "client", "A-17")
        assert golden["attributes"]["name"] == "Five"
        assert golden["version"] == 1

    def test_a_delete_older_than_the_held_record_is_stale(self) -> None:
        db = FakeDatabase()
        bus = fake_bus(db)
        accept(bus, change("crm", "client", "A-17", 5, name="Five"))
        bus.drain()
        accept(bus, change("crm", "client", "A-17", 3, op="delete"))
        assert bus.drain().stale == 1
        assert not db.record("crm", "client", "A-17").deleted
        assert db.golden_of("crm", "client", "A-17")["status"] == "active"

    def test_an_upsert_older_than_a_held_delete_does_not_revive(self) -> None:
        db = FakeDatabase()
        bus = fake_bus(db)
        accept(bus, change("crm", "client", "A-17", 1, name="One"))
        bus.drain()
        accept(bus, change("crm", "client", "A-17", 3, op="delete"))
        bus.drain()
        accept(bus, change("crm", "client", "A-17", 2, name="Two"))
        assert bus.drain().stale == 1
        assert db.record("crm", "client", "A-17").deleted
        assert db.golden_of("crm", "client", "A-17")["status"] == "retired"
