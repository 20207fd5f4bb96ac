"""A steward merge racing an apply batch on PostgreSQL strands no source record.

The batch reads a source record of golden record A; before it writes the record back, a
steward merges A into B. Before the fix the merge moved the record and committed, the batch
then wrote it back onto A, and A, merged, was skipped by survivorship: the record's later
changes were "applied" but appeared in no active golden record, feed or search. Now the merge
takes the record locks first (the apply path's order), and a record of the batch whose golden
record was merged meanwhile follows it to the winner.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from hub.bootstrap import Hub
from hub.domain.commands import AcceptChanges, MergeGolden
from hub.services.linking import Linker
from hub.store.repositories import SqlRecords
from hub.store.tables import GoldenRecordRow, SourceRecordRow
from hub.store.uow import session_factory
from tests.conftest import crm_client_change, make_hub
from tests.support.races import when_batch_reaches

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_hub(pg_url: str) -> Iterator[Hub]:
    h = make_hub(pg_url)
    yield h
    h.close()


def _golden_of(hub: Hub, key: str) -> tuple[str, str]:
    with session_factory(hub.engine)() as s:
        gid = s.scalars(
            select(SourceRecordRow.golden_id).where(SourceRecordRow.source_key == key)
        ).one()
        status = s.scalars(select(GoldenRecordRow.status).where(GoldenRecordRow.id == gid)).one()
    return str(gid), str(status)


def _register_crm(hub: Hub) -> None:
    from hub.store import access
    from hub.store.uow import admin_session

    with admin_session(hub.engine) as s:
        access.add_source(s, "crm", ["client"], None, None, set(hub.config.domains))


def two_firms_and_their_proof(hub: Hub) -> tuple[str, str]:
    """Golden records A (of a tax id) and B (of an LEI), applied, and then a change of C-1
    that carries both and so proves them one firm, pending: the batch that applies it merges
    B into A. Returns A and B."""
    _register_crm(hub)
    lei = "LEI00000000000000001"
    hub.bus.accept(
        AcceptChanges(
            "crm",
            (
                crm_client_change("A-1", 1, name="Acme Ltd", tax_id="GB1", country="GB"),
                crm_client_change("B-1", 1, name="Borealis Trading", lei=lei),
            ),
        )
    )
    hub.bus.drain()
    a, _ = _golden_of(hub, "A-1")
    b, _ = _golden_of(hub, "B-1")
    assert a != b
    proof = crm_client_change("C-1", 1, name="Acme", tax_id="GB1", country="GB", lei=lei)
    hub.bus.accept(AcceptChanges("crm", (proof,)))
    return a, b


@pytest.mark.parametrize("new_record", [False, True], ids=["update", "new-record"])
def test_a_merge_during_an_apply_batch_strands_no_record(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch, new_record: bool
) -> None:
    _register_crm(pg_hub)
    pg_hub.bus.accept(
        AcceptChanges(
            "crm",
            (
                crm_client_change("A-1", 1, name="Acme Ltd", tax_id="GB1", country="GB"),
                crm_client_change("B-1", 1, name="Borealis Trading", tax_id="GB2", country="GB"),
            ),
        )
    )
    pg_hub.bus.drain()
    loser, _ = _golden_of(pg_hub, "A-1")
    winner, _ = _golden_of(pg_hub, "B-1")
    # the racing change: an update of A-1, or a new record that the tax id links to A
    racing = (
        crm_client_change("A-2", 1, name="Acme Limited", tax_id="GB 1", country="GB")
        if new_record
        else crm_client_change("A-1", 2, name="Acme Ltd", tax_id="GB1", country="GB", city="Leeds")
    )
    pg_hub.bus.accept(AcceptChanges("crm", (racing,)))

    merge = when_batch_reaches(  # before the fix it commits then; after, it waits for us
        monkeypatch,
        SqlRecords,
        "save",
        lambda: pg_hub.bus.handle(MergeGolden("client", loser, winner, "same firm", "ann")),
    )
    pg_hub.bus.drain()
    merge.join()
    assert merge.ran and not merge.errors, merge.errors
    key = "A-2" if new_record else "A-1"
    gid, status = _golden_of(pg_hub, key)
    assert (gid, status) == (winner, "active")
    assert _golden_of(pg_hub, "A-1") == (winner, "active")
    with session_factory(pg_hub.engine)() as s:
        merged = s.scalars(select(GoldenRecordRow.status).where(GoldenRecordRow.id == loser))
        assert merged.one() == "merged"
        stranded = s.scalars(
            select(SourceRecordRow.source_key)
            .join(GoldenRecordRow, GoldenRecordRow.id == SourceRecordRow.golden_id)
            .where(SourceRecordRow.deleted.is_(False), GoldenRecordRow.status != "active")
        ).all()
    assert stranded == []


def test_a_key_merge_decided_before_a_steward_merged_the_other_way_makes_no_cycle(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An apply batch links a record whose tax id is A's and whose LEI is B's: it decides to
    merge B into A. Before it holds their rows, a steward merges A into B and commits. The
    batch must not then merge B into A (a cycle, with its records on a merged golden
    record): A's winner went into the batch's loser, so the batch drops its merge
    (``Survival.settle_merges``) and everything ends on B."""
    a, b = two_firms_and_their_proof(pg_hub)

    merge = when_batch_reaches(  # it needs none of A's records or rows: it commits then
        monkeypatch,
        Linker,
        "confirm_born",
        lambda: pg_hub.bus.handle(MergeGolden("client", a, b, "same firm", "ann")),
        wait=20,
    )
    pg_hub.bus.drain()
    assert merge.ran and not merge.errors, merge.errors
    assert not merge.threads[0].is_alive(), "the steward's merge waited for the batch"
    with session_factory(pg_hub.engine)() as s:
        rows = s.execute(
            select(GoldenRecordRow.id, GoldenRecordRow.status, GoldenRecordRow.merged_into)
        ).all()
    statuses = {gid: status for gid, status, _ in rows}
    into = {gid: merged_into for gid, _, merged_into in rows}
    assert (statuses[a], into[a]) == ("merged", b)
    assert (statuses[b], into[b]) == ("active", None), "B merged into A, which is merged into B"
    assert {k: _golden_of(pg_hub, k) for k in ("A-1", "B-1", "C-1")} == {
        k: (b, "active") for k in ("A-1", "B-1", "C-1")
    }
