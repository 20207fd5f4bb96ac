"""An applier does not wait for a batch that is applying one of its records: it applies the
rest of its claim and leaves that record's changes pending for a later turn (PostgreSQL).

Waiting made appliers take turns on whole batches whenever two claims shared one record (an
update of a popular client), so a second applier added nothing (docs/architecture.md, "Locks").
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from hub.bootstrap import Hub
from hub.domain.commands import AcceptChanges, ApplyPending
from hub.services.batch import ApplyReport
from hub.store.sql import advisory_locks
from hub.store.tables import InboxRow, SourceRecordRow
from hub.store.uow import session_factory
from tests.conftest import crm_client_change
from tests.integration.test_merge_race import _register_crm, pg_hub  # noqa: F401

pytestmark = pytest.mark.postgres


def _sequences(hub: Hub) -> dict[str, int | None]:
    with session_factory(hub.engine)() as s:
        rows = s.execute(select(SourceRecordRow.source_key, SourceRecordRow.sequence)).all()
    return {k: seq for k, seq in rows}


def _one_turn_beside(hub: Hub, namespace: str, name: str) -> tuple[ApplyReport | None, bool]:
    """One apply turn while another transaction holds the lock ``namespace``/``name``; the
    report, and whether the turn was still waiting 20 s later (then the lock is let go)."""
    other = session_factory(hub.engine)()
    advisory_locks(other, namespace, [name])
    reports: list[ApplyReport] = []
    turn = threading.Thread(target=lambda: reports.append(hub.bus.apply(ApplyPending(500))))
    turn.start()
    turn.join(20)
    stuck = turn.is_alive()
    other.rollback()
    other.close()
    turn.join(60)
    return (reports[0] if reports else None), stuck


def test_a_record_another_batch_holds_is_left_for_later_not_waited_for(pg_hub: Hub) -> None:  # noqa: F811
    _register_crm(pg_hub)
    pg_hub.bus.accept(AcceptChanges("crm", (crm_client_change("A-1", 1, name="Acme Ltd"),)))
    pg_hub.bus.drain()
    pg_hub.bus.accept(
        AcceptChanges(
            "crm",
            (
                crm_client_change("A-1", 2, name="Acme Limited"),
                crm_client_change("B-1", 1, name="Borealis Trading"),
            ),
        )
    )
    # another applier's batch, applying A-1 right now
    report, stuck = _one_turn_beside(pg_hub, "record", "crm\x00client\x00A-1")
    assert not stuck, "the applier waited for the other batch instead of applying the rest"
    assert report is not None
    assert (report.applied, report.deferred) == (1, 1)
    assert _sequences(pg_hub) == {"A-1": 1, "B-1": 1}
    with session_factory(pg_hub.engine)() as s:
        pending = s.scalars(select(InboxRow.source_key).where(InboxRow.status == "pending"))
        assert list(pending) == ["A-1"]

    pg_hub.bus.drain()  # the next turn, once the other batch is done
    assert _sequences(pg_hub) == {"A-1": 2, "B-1": 1}


def test_drain_waits_for_records_another_applier_holds(pg_hub: Hub) -> None:  # noqa: F811
    """``drain`` (CLI, demo, tests) means "until the inbox is empty": a change left for later
    because another applier held its record is applied once that applier is done."""
    _register_crm(pg_hub)
    pg_hub.bus.accept(AcceptChanges("crm", (crm_client_change("A-1", 1, name="Acme Ltd"),)))
    other = session_factory(pg_hub.engine)()
    advisory_locks(other, "record", ["crm\x00client\x00A-1"])
    release = threading.Timer(1.0, lambda: (other.rollback(), other.close()))
    release.start()
    report = pg_hub.bus.drain()
    release.join()
    assert report.applied == 1
    assert _sequences(pg_hub) == {"A-1": 1}


def test_a_transaction_past_the_outbox_lock_never_waits_for_an_earlier_lock(
    pg_hub: Hub,  # noqa: F811
) -> None:
    """The one-by-one fallback applies a batch's changes in one transaction: the first takes
    the outbox lock, the second asks for its match keys. Waiting for them there deadlocked with
    an applier that held the keys and waited for the outbox (seen in ``concord bench apply``
    with 2 appliers); it raises ``LockBusy`` instead, a transient error the fallback retries."""
    from hub.domain.errors import LockBusy
    from hub.store.sql import note_lock

    holder = session_factory(pg_hub.engine)()
    advisory_locks(holder, "key", ["client\x00tax:GB1"])
    late = session_factory(pg_hub.engine)()
    try:
        late.execute(text("SET lock_timeout = '5s'"))  # without the rule: waits, then fails
        advisory_locks(late, "record", ["crm\x00client\x00A-1"])
        note_lock(late, "outbox")
        with pytest.raises(LockBusy):
            advisory_locks(late, "key", ["client\x00tax:GB1"])
        late.rollback()
        # a new transaction starts from the beginning of the order again, and waits
        holder.rollback()
        advisory_locks(late, "record", ["crm\x00client\x00A-1"])
        advisory_locks(late, "key", ["client\x00tax:GB1"])
    finally:
        late.close()
        holder.close()


def test_a_transaction_past_the_outbox_lock_tries_a_golden_record_s_row_lock(
    pg_hub: Hub,  # noqa: F811
) -> None:
    """The same rule for the golden records' row locks: the fallback's second change locked
    its golden record (``FOR UPDATE``) while its first held the outbox lock, and a steward's
    override holding that row and waiting for the outbox closed the cycle (``concord bench
    chaos --seed 20261207``: deadlock detected, and a 503 to the steward)."""
    from hub.domain.errors import LockBusy
    from hub.store.golden_records import SqlGolden
    from hub.store.sql import note_lock
    from hub.store.tables import GoldenRecordRow

    pg_hub.bus.accept(AcceptChanges("crm", (crm_client_change("A-1", 1),)))
    pg_hub.bus.drain()
    holder = session_factory(pg_hub.engine)()
    [gid] = holder.scalars(select(GoldenRecordRow.id).with_for_update()).all()
    late = session_factory(pg_hub.engine)()
    try:
        late.execute(text("SET lock_timeout = '5s'"))  # without the rule: waits, then fails
        note_lock(late, "outbox")
        with pytest.raises(LockBusy):
            SqlGolden(late).load([gid], lock=True)
        late.rollback()
        holder.rollback()
        assert SqlGolden(late).load([gid], lock=True).keys() == {gid}  # free now: taken
    finally:
        late.close()
        holder.close()


def test_a_record_whose_identity_key_another_batch_holds_waits_for_a_later_turn(
    pg_hub: Hub,  # noqa: F811
) -> None:
    """Another applier is linking a record with the same tax id (its ERP copy, say): this
    batch applies the rest and leaves that record for later, when the other's golden record
    is committed and the key links the two, instead of waiting for the other's whole batch."""
    _register_crm(pg_hub)
    pg_hub.bus.accept(
        AcceptChanges(
            "crm",
            (
                crm_client_change("A-1", 1, name="Acme Ltd", tax_id="GB1", country="GB"),
                crm_client_change("A-1", 2, name="Acme Limited", tax_id="GB1", country="GB"),
                crm_client_change("B-1", 1, name="Borealis Trading", tax_id="GB2", country="GB"),
            ),
        )
    )
    key = next(
        k
        for k in pg_hub.bus.applier.matcher.deterministic_keys(
            "client", {"tax_id": "GB1", "country": "GB"}
        )
        if "GB1" in k
    )
    report, stuck = _one_turn_beside(pg_hub, "key", f"client\x00{key}")
    assert not stuck, "the applier waited for the other batch's identity key"
    assert report is not None
    # both changes of A-1 wait, so its changes keep their order
    assert (report.applied, report.deferred) == (1, 2)
    assert _sequences(pg_hub) == {"B-1": 1}
    pg_hub.bus.drain()
    assert _sequences(pg_hub) == {"A-1": 2, "B-1": 1}
