"""The unit of work: one transaction. What it commits is there for the next one; what it rolls
back, or leaves without committing, is not, for every repository. And the parts of the port
with no reader of their own: the outbox, the audit log, the sources, locks and statistics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from hub.domain.spec import SourceSpec
from hub.services.ports import UnitOfWork
from tests.contract.support import (
    SOURCES,
    T0,
    UNIQUE_VIOLATION,
    Store,
    change,
    gid,
    golden,
    record,
)


def _event(n: int, golden_id: str, correlation: str | None = None) -> dict[str, Any]:
    """An outbox entry as ``Applier._resurvive`` builds it."""
    return {
        "event": {"id": f"evt-{n}", "type": "concord.client.updated", "data": {"n": n}},
        "domain": "client",
        "golden_id": golden_id,
        "version": n,
        "type": "concord.client.updated",
        "at": T0,
        "correlation_id": correlation,
    }


def _setup_candidate(uow: UnitOfWork) -> None:
    uow.records.save([record("CAND", gid(1))], T0)
    uow.candidates.add(
        [
            {
                "domain": "client",
                "source_key": ("crm", "CAND"),
                "golden_id": gid(2),
                "probability": 0.6,
                "weights": {},
                "notes": {},
                "rule": "fs",
            }
        ]
    )


def _ignore(_: object) -> None:
    """A write whose result this test does not need."""


Write = Callable[[UnitOfWork], None]
Seen = Callable[[UnitOfWork, Store], bool]

WRITES: dict[str, tuple[Write, Seen]] = {
    "inbox.add": (
        lambda u: _ignore(u.inbox.add([change("A", 1)], T0)),
        lambda u, s: bool(u.inbox.claim(10)),
    ),
    "records.save": (
        lambda u: u.records.save([record("A", gid(1))], T0),
        lambda u, s: bool(u.records.load([("crm", "client", "A")])),
    ),
    "golden.save": (
        lambda u: u.golden.save([(golden(gid(1)), [], "created")], {}, T0),
        lambda u, s: bool(u.golden.load([gid(1)])) or bool(s.versions(gid(1))),
    ),
    "keys.replace": (
        lambda u: u.keys.replace("client", {gid(1): {"tax:GB1"}}),
        lambda u, s: bool(u.keys.find("client", ["tax:GB1"])),
    ),
    "pending.replace": (
        lambda u: u.pending.replace(
            [gid(1)],
            [
                {
                    "golden_id": gid(1),
                    "source": "crm",
                    "source_key": "P",
                    "name": "client",
                    "target_domain": "client",
                    "target_key": "C",
                }
            ],
        ),
        lambda u, s: bool(u.pending.waiting_for([("crm", "client", "C")])),
    ),
    "outbox.add": (
        lambda u: u.outbox.add([_event(1, gid(1))]),
        lambda u, s: bool(s.outbox()),
    ),
    "candidates.add": (
        _setup_candidate,
        lambda u, s: any(u.candidates.get(i) for i in range(1, 10)),
    ),
    "dead_letters.add": (
        lambda u: u.dead_letters.add(1, change("A", 1), "boom", T0),
        lambda u, s: bool(s.dead_letters()),
    ),
    "audit": (
        lambda u: u.audit("ann", "golden.override", {"golden_id": gid(1)}),
        lambda u, s: bool(s.audit()),
    ),
}


@pytest.mark.parametrize("what", list(WRITES))
def test_commit_keeps_rollback_and_leaving_discard(store: Store, what: str) -> None:
    """A batch that fails rolls back whole: nothing of it may survive in any table (and a
    worker that dies leaves without commit, which is the same)."""
    write, seen = WRITES[what]
    with store.uow() as uow:
        write(uow)
        uow.rollback()
    with store.uow() as uow:
        write(uow)  # left without commit
    with store.uow() as uow:
        assert not seen(uow, store), f"{what} survived a rollback"
        write(uow)
        uow.commit()
    with store.uow() as uow:
        assert seen(uow, store), f"{what} was not committed"


def test_a_unit_of_work_goes_on_after_commit_and_rollback(store: Store) -> None:
    """``apply_pending`` rolls a failed batch back and the same unit of work carries on; after
    a commit, what follows is a new transaction that can still be rolled back alone."""
    with store.uow() as uow:
        uow.inbox.add([change("A", 1)], T0)
        uow.commit()
        uow.inbox.add([change("B", 1)], T0)
        uow.rollback()
        uow.inbox.add([change("C", 1)], T0)
        uow.commit()
    assert store.inbox() == {"crm-A-1": "pending", "crm-C-1": "pending"}


def test_outbox_keeps_events_in_the_order_added(store: Store) -> None:
    """The feed reads the outbox in sequence order: events come out as the applier added
    them, across transactions, with the correlation id that made them."""
    with store.uow() as uow:
        uow.outbox.add([_event(1, gid(1), "req-1"), _event(2, gid(2))])
        uow.outbox.add([])
        uow.commit()
    with store.uow() as uow:
        uow.outbox.add([_event(3, gid(1))])
        uow.commit()
    rows = store.outbox()
    assert [(r["event_id"], r["golden_id"], r["version"]) for r in rows] == [
        ("evt-1", gid(1), 1),
        ("evt-2", gid(2), 2),
        ("evt-3", gid(1), 3),
    ]
    assert [r["correlation_id"] for r in rows] == ["req-1", None, None]
    assert rows[0]["payload"] == _event(1, gid(1))["event"]
    assert {(r["domain"], r["type"]) for r in rows} == {("client", "concord.client.updated")}


def test_an_event_id_goes_out_once(store: Store) -> None:
    with store.uow() as uow:
        uow.outbox.add([_event(1, gid(1))])
        uow.commit()
    with store.uow() as uow, pytest.raises(UNIQUE_VIOLATION):
        uow.outbox.add([_event(1, gid(2))])


def test_audit_entries_are_kept_in_order(store: Store) -> None:
    with store.uow() as uow:
        uow.audit("ann", "candidate.merge", {"candidate": 1})
        uow.audit("bob", "golden.split", {"key": "A"})
        uow.commit()
    assert store.audit() == [
        ("ann", "candidate.merge", {"candidate": 1}),
        ("bob", "golden.split", {"key": "A"}),
    ]


def test_sources_are_the_registered_systems(store: Store) -> None:
    """Survivorship ranks contributions by the source's kind and rank."""
    with store.uow() as uow:
        assert uow.sources() == {s.name: s for s in SOURCES}
        assert isinstance(uow.sources()["northwind-crm"], SourceSpec)


def test_locks_and_statistics_leave_the_data_alone(store: Store) -> None:
    """Record and key locks (taken before loading) and a statistics refresh are side effects
    only: the transaction reads and writes as before and commits."""
    with store.uow() as uow:
        uow.lock("record", ["crm\x00client\x00A", "crm\x00client\x00B"])
        uow.lock("key", ["client\x00tax:GB1"])
        uow.lock("record", [])
        uow.records.save([record("A", gid(1))], T0 + timedelta(seconds=1))
        uow.commit()
    with store.uow() as uow:
        uow.refresh_statistics()
        uow.commit()
    with store.uow() as uow:
        assert list(uow.records.load([("crm", "client", "A")])) == [("crm", "client", "A")]


def test_an_empty_batch_writes_nothing(store: Store) -> None:
    """A batch may bring nothing for a repository (no candidate, no event, no key): every
    bulk write takes an empty batch and writes no row. (``SqlCandidates.add([])`` used to
    insert one blank row and fail on its NOT NULL columns; the applier guarded its call.)"""
    with store.uow() as uow:
        assert uow.inbox.add([], T0) == 0
        uow.records.save([], T0)
        uow.golden.save([], {}, T0)
        uow.keys.replace("client", {})
        uow.pending.replace([], [])
        uow.outbox.add([])
        uow.candidates.add([])
        uow.commit()
    with store.uow() as uow:
        assert uow.inbox.claim(10) == []
        assert uow.candidates.get(1) is None
    assert store.outbox() == []
