"""The change-by-change fallback tells a store's passing trouble from a bad change: a
transient error is tried again and never dead-letters the change (issue 19, item 7b)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.unit.fakes import (
    DelegatingMatcher,
    FakeDatabase,
    FakeTransientError,
    accept,
    change,
    fake_bus,
)


class FlakyMatcher(DelegatingMatcher):
    """Fails the first ``flaky`` times it keys "Flaky Ltd" as a deadlock would, and always on
    "Poison Ltd" as a bug would."""

    def __init__(self, flaky: int) -> None:
        super().__init__()
        self.flaky = flaky

    def deterministic_keys(self, domain: str, record: Mapping[str, object]) -> list[str]:
        if record.get("name") == "Flaky Ltd" and self.flaky > 0:
            self.flaky -= 1
            raise FakeTransientError("deadlock detected")
        if record.get("name") == "Poison Ltd":
            raise RuntimeError("cannot key Poison Ltd")
        return self.inner.deterministic_keys(domain, record)


@pytest.mark.batch_failure_expected
def test_a_transient_error_is_tried_again_and_only_the_bad_change_is_dead() -> None:
    db = FakeDatabase()
    bus = fake_bus(db, matcher=FlakyMatcher(flaky=2))  # the batch, then the first retry
    flaky = change("crm", "client", "A-1", 1, name="Flaky Ltd")
    bad = change("crm", "client", "A-2", 1, name="Poison Ltd")
    good = change("crm", "client", "A-3", 1, name="Good Ltd")
    accept(bus, flaky, bad, good)
    report = bus.drain()
    assert (report.applied, report.dead) == (2, 1)
    assert db.inbox_status() == {
        flaky.event_id: "applied",
        bad.event_id: "dead",
        good.event_id: "applied",
    }
    assert [d["event_id"] for d in db.state.dead_letters] == [bad.event_id]


@pytest.mark.batch_failure_expected
def test_a_store_that_keeps_failing_gives_the_rows_back_and_dead_letters_nothing() -> None:
    db = FakeDatabase()
    bus = fake_bus(db, matcher=FlakyMatcher(flaky=100))
    flaky = change("crm", "client", "A-1", 1, name="Flaky Ltd")
    accept(bus, flaky, change("crm", "client", "A-3", 1, name="Good Ltd"))
    with pytest.raises(Exception, match="deadlock detected"):
        bus.drain()
    assert set(db.inbox_status().values()) == {"pending"}
    assert db.state.dead_letters == []
