"""The apply path on PostgreSQL when a batch fails: the fallback keeps the claim of its rows
(issue 19, item 7c), and a row that cannot even be read back goes to the dead letters alone
while the rest apply (item 10)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from sqlalchemy import select, text

from hub.bootstrap import Hub, fuzzy_matcher
from hub.domain.commands import AcceptChanges
from hub.store.tables import DeadLetter, InboxRow
from hub.store.uow import admin_session
from matching import Candidate
from tests.conftest import crm_client_change, make_hub

pytestmark = [pytest.mark.postgres, pytest.mark.batch_failure_expected]


class Spy:
    """Fails on "Poison Ltd"; while keying "Good Two" (in the fallback), asks another
    applier's claim what it can take."""

    def __init__(self, hub: Hub) -> None:
        self.inner = fuzzy_matcher(hub.config)
        self.hub = hub
        self.taken: list[int] | None = None

    def deterministic_keys(self, domain: str, record: Mapping[str, object]) -> list[str]:
        if record.get("name") == "Poison Ltd":
            raise RuntimeError("cannot key Poison Ltd")
        if record.get("name") == "Good Two" and self.taken is None:
            with self.hub.bus.uow_factory() as other:
                self.taken = [i for i, _ in other.inbox.claim(500)]
        return self.inner.deterministic_keys(domain, record)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def score(
        self,
        domain: str,
        record: Mapping[str, object],
        candidates: Sequence[tuple[str, object]],
        holders: Mapping[str, int] | None = None,
        population: int = 0,
        levels: object = None,
    ) -> list[Candidate]:
        return self.inner.score(domain, record, candidates, holders, population, levels)


def test_no_other_applier_takes_the_rows_of_a_batch_being_applied_one_by_one(
    pg_url: str,
) -> None:
    hub = make_hub(pg_url)
    spy = Spy(hub)
    hub.bus.applier.matcher = spy
    try:
        hub.bus.accept(
            AcceptChanges(
                "crm",
                (
                    crm_client_change("A-1", 1, name="Good One"),
                    crm_client_change("A-2", 1, name="Poison Ltd"),
                    crm_client_change("A-3", 1, name="Good Two"),
                ),
            )
        )
        report = hub.bus.drain()
        assert (report.applied, report.dead) == (2, 1)
        assert spy.taken == []  # the rows were still claimed by the fallback
    finally:
        hub.close()


def test_a_row_that_cannot_be_read_back_is_dead_lettered_alone(pg_url: str) -> None:
    """Stored before validation refused such times: PostgreSQL holds it, psycopg cannot read
    it back ("timestamp too small"), and every round failed on it."""
    hub = make_hub(pg_url)
    try:
        hub.bus.accept(AcceptChanges("crm", (crm_client_change("A-1", 1, name="Before"),)))
        with admin_session(hub.engine) as s:
            s.execute(
                text(
                    "INSERT INTO inbox (source, event_id, domain, source_key, op, changed_at, "
                    "attributes, received_at, status) VALUES ('crm', 'wedge', 'client', 'A-9', "
                    "'upsert', '0001-01-01T00:00:00+14:00', '{\"name\": \"Wedge\"}', now(), "
                    "'pending')"
                )
            )
        hub.bus.accept(AcceptChanges("crm", (crm_client_change("A-2", 1, name="After"),)))
        report = hub.bus.drain()
        assert (report.applied, report.dead) == (2, 1)
        with admin_session(hub.engine) as s:
            statuses = dict(s.execute(select(InboxRow.event_id, InboxRow.status)).all())
            [letter] = s.scalars(select(DeadLetter)).all()
        assert statuses == {"A-1-1": "applied", "wedge": "dead", "A-2-1": "applied"}
        assert letter.payload["attributes"] == {"name": "Wedge"}
        assert letter.payload["changed_at"].startswith("0001-01-01") or "BC" in str(
            letter.payload["changed_at"]
        )
        assert "unreadable" in letter.reason
    finally:
        hub.close()
