"""A batch's records follow a merge made while the batch worked, from fresh reads; a merge
the batch decided before it held the golden rows is checked against them.

The chaos checker stalled the hub on this: a batch held a copy of golden record A that said
"merged into B", read before a steward undid that merge and merged B into A. Following the
copy sent the batch's records from A to B and back for ever, holding the batch's locks.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.bootstrap import deterministic_matcher
from hub.domain.model import GoldenRecord, SourceRecord
from hub.services import survival
from hub.services.batch import Batch
from hub.services.survival import Survival
from matching import FellegiSunterMatcher
from tests.unit.fakes import FakeDatabase, FakeUnitOfWork, default_config

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _golden(gid: str, status: str, merged_into: str | None) -> dict[str, Any]:
    return {
        "id": gid,
        "domain": "client",
        "version": 3,
        "status": status,
        "attributes": {"name": "Acme"},
        "provenance": {},
        "references": {},
        "overrides": {},
        "xref": [],
        "merged_into": merged_into,
        "search_name": "acme",
        "created_at": NOW,
        "updated_at": NOW,
    }


def _read(db: FakeDatabase, gid: str) -> GoldenRecord:
    with FakeUnitOfWork(db) as uow:
        return uow.golden.load([gid])[gid]


def _record(key: str, golden_id: str) -> SourceRecord:
    return SourceRecord(
        source="crm",
        domain="client",
        key=key,
        attributes={"name": "Acme"},
        changed_at=NOW,
        sequence=1,
        digest=key,
        golden_id=golden_id,
        stored=True,
    )


def _follow(db: FakeDatabase, batch: Batch) -> Batch:
    """Run ``follow_merges`` in a thread, so a loop that never ends fails the test."""
    uow = FakeUnitOfWork(db)
    errors: list[BaseException] = []
    matcher = FellegiSunterMatcher()  # not asked: no key is computed here

    def run() -> None:
        try:
            with uow:
                Survival(default_config().domains, matcher).follow_merges(uow, batch, NOW)
                uow.commit()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "following merges went round for ever"
    if errors:
        raise errors[0]
    return batch


def _stale_batch(db: FakeDatabase, stale_a: GoldenRecord, record: SourceRecord) -> Batch:
    db.state.records[1] = replace(record, id=1)
    return Batch(
        records={("crm", "client", record.key): record},
        goldens={"A": stale_a},
        to_resurvive={"A"},
    )


def test_a_merge_undone_and_made_the_other_way_is_followed_to_the_live_record() -> None:
    db = FakeDatabase()
    db.state.golden["A"] = _golden("A", "active", None)  # the merge into B was undone...
    db.state.golden["B"] = _golden("B", "merged", "A")  # ...and B merged into A
    stale_a = replace(_read(db, "A"), status="merged", merged_into="B")  # as the batch read it
    batch = _follow(db, _stale_batch(db, stale_a, _record("R-1", "A")))
    record = batch.records[("crm", "client", "R-1")]
    assert record.golden_id == "A"
    assert batch.goldens["A"].status == "active"
    assert db.record("crm", "client", "R-1").golden_id == "A"


def test_a_winner_the_batch_holds_a_stale_copy_of_is_read_again() -> None:
    """B was active when the batch read it and has been merged into C since: a record that
    follows A to B goes on to C, not onto a merged golden record."""
    db = FakeDatabase()
    db.state.golden["A"] = _golden("A", "merged", "B")
    db.state.golden["B"] = _golden("B", "merged", "C")
    db.state.golden["C"] = _golden("C", "active", None)
    stale_b = replace(_read(db, "B"), status="active", merged_into=None)
    batch = _stale_batch(db, _read(db, "A"), _record("R-1", "A"))
    batch.goldens["B"] = stale_b
    _follow(db, batch)
    assert batch.records[("crm", "client", "R-1")].golden_id == "C"


def test_a_chain_that_never_ends_is_an_error_not_a_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    db = FakeDatabase()
    db.state.golden["A"] = _golden("A", "merged", "B")
    db.state.golden["B"] = _golden("B", "merged", "A")  # no store writes this; a bug could
    monkeypatch.setattr(survival, "MERGE_HOPS", 10)
    with pytest.raises(RuntimeError, match="lead back to each other"):
        _follow(db, _stale_batch(db, _read(db, "A"), _record("R-1", "A")))


def _survive(db: FakeDatabase, batch: Batch) -> None:
    with FakeUnitOfWork(db) as uow:
        uow.records.save([r for r in batch.records.values() if r.dirty], NOW)  # as apply does
        Survival(default_config().domains, deterministic_matcher(default_config())).run(
            uow, batch, NOW
        )
        uow.commit()


def _statuses(db: FakeDatabase) -> dict[str, tuple[str, str | None]]:
    return {gid: (g["status"], g["merged_into"]) for gid, g in db.state.golden.items()}


def test_a_key_merge_into_a_winner_a_steward_merged_away_meanwhile_is_dropped() -> None:
    """The batch decided "B into A" (A has the smaller id) before it held their rows; a
    steward merged A into B meanwhile. Merging anyway made a cycle (A into B, B into A) and
    left the batch's records on a merged golden record."""
    db = FakeDatabase()
    db.state.golden["A"] = _golden("A", "merged", "B")  # the steward's merge, committed
    db.state.golden["B"] = _golden("B", "active", None)
    db.state.records[1] = replace(_record("R-A", "B"), id=1)  # the steward moved it
    db.state.records[2] = replace(_record("R-B", "B"), id=2)
    moved = replace(_record("R-B", "A"), id=2, dirty=True)  # the batch moved it to A
    batch = Batch(
        records={("crm", "client", "R-B"): moved}, to_resurvive={"A", "B"}, merges={"B": "A"}
    )
    _survive(db, batch)
    assert _statuses(db) == {"A": ("merged", "B"), "B": ("active", None)}
    assert {r.key: r.golden_id for r in db.state.records.values()} == {"R-A": "B", "R-B": "B"}


def test_a_key_merge_into_a_winner_merged_elsewhere_goes_on_to_where_it_went() -> None:
    db = FakeDatabase()
    db.state.golden["A"] = _golden("A", "merged", "C")  # merged into C meanwhile
    db.state.golden["B"] = _golden("B", "active", None)
    db.state.golden["C"] = _golden("C", "active", None)
    db.state.records[1] = replace(_record("R-C", "C"), id=1)
    db.state.records[2] = replace(_record("R-B", "B"), id=2)
    moved = replace(_record("R-B", "A"), id=2, dirty=True)
    batch = Batch(
        records={("crm", "client", "R-B"): moved}, to_resurvive={"A", "B"}, merges={"B": "A"}
    )
    _survive(db, batch)
    assert _statuses(db) == {"A": ("merged", "C"), "B": ("merged", "C"), "C": ("active", None)}
    assert {r.key: r.golden_id for r in db.state.records.values()} == {"R-C": "C", "R-B": "C"}
