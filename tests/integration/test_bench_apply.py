"""``concord bench apply``'s data is what it says it times: with ``--updates`` the inbox holds
only newer images of records the hub already links, and they drain without a dead letter,
a new golden record or a broken invariant (so a figure of it is a figure of updates)."""

from __future__ import annotations

from sqlalchemy import func, select

from bench.apply import check_invariants, filled_hub
from hub.store.tables import GoldenRecordRow, InboxRow, SourceRecordRow


def test_the_updates_case_queues_only_updates_of_linked_records() -> None:
    with filled_hub("sqlite", 120, batch=50, updates=True) as (hub, _):
        with hub.engine.connect() as c:
            pending = c.execute(
                select(InboxRow.source, InboxRow.source_key).where(InboxRow.status == "pending")
            ).all()
            linked = set(
                c.execute(
                    select(SourceRecordRow.source, SourceRecordRow.source_key).where(
                        SourceRecordRow.golden_id.is_not(None)
                    )
                ).all()
            )
            goldens = c.execute(select(func.count()).select_from(GoldenRecordRow)).scalar_one()
        assert len(pending) == 120 and {tuple(p) for p in pending} <= linked
        report = hub.bus.drain(50)
        assert (report.applied, report.dead, report.created) == (120, 0, 0)
        assert report.events > 0  # the golden records changed: survival ran for them
        with hub.engine.connect() as c:
            after = c.execute(select(func.count()).select_from(GoldenRecordRow)).scalar_one()
        assert after == goldens
        assert check_invariants(hub) == []
