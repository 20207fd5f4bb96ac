"""The inbox and the dead letters: how a change waits, is claimed once, and comes back.

``accept_changes`` counts what ``inbox.add`` returns as accepted and the rest as duplicates;
``apply_pending`` claims a batch, applies it and marks every row; a change that cannot be
applied is dead-lettered and its inbox row marked ``dead``, until a replay makes it pending.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from hub.domain.model import Change
from hub.services.ports import UnitOfWork
from tests.contract.support import T0, Store, change


def _add(store: Store, *changes: Change) -> int:
    with store.uow() as uow:
        n = uow.inbox.add(list(changes), T0)
        uow.commit()
    return n


def _claim(store: Store, limit: int = 100) -> list[str]:
    with store.uow() as uow:
        return [c.event_id for _, c in uow.inbox.claim(limit)]


def test_add_counts_only_new_changes(store: Store) -> None:
    """A source that resends (a retry, a replayed Kafka offset) must hear "duplicate", and the
    change must wait once: dedupe is by (source, event id), within a batch and across them."""
    assert _add(store, change("A", 1), change("B", 1), change("A", 1)) == 2
    assert _add(store, change("A", 1), change("C", 1)) == 1
    # the same event id from another source is another change
    assert _add(store, change("A", 1, source="erp", event_id="crm-A-1")) == 1
    assert _add(store) == 0
    assert _claim(store) == ["crm-A-1", "crm-B-1", "crm-C-1", "crm-A-1"]


def test_claim_returns_pending_changes_whole_in_inbox_order(store: Store) -> None:
    """The applier walks changes in inbox order (per record order holds) and rebuilds each
    change from the row: every field must come back as it was accepted."""
    sent = change("A", 7, name="Acme Ltd", tags=["x", "y"], rates={"dev": 90})
    sent = replace(sent, run_id="run-1", correlation_id="req-9")
    _add(store, sent, change("B", 1))
    _add(store, change("C", 1), change("A", 8))
    with store.uow() as uow:
        claimed = uow.inbox.claim(10)
    assert [(c.key, c.sequence) for _, c in claimed] == [("A", 7), ("B", 1), ("C", 1), ("A", 8)]
    assert [i for i, _ in claimed] == sorted(i for i, _ in claimed)
    assert claimed[0][1] == sent


def test_a_short_claim_takes_a_record_s_oldest_changes_first(store: Store) -> None:
    """A claim smaller than the inbox takes the oldest pending changes of what it takes
    (on PostgreSQL, of the partitions it takes): never a record's later change before an
    earlier one, and the oldest change of all comes first."""
    _add(store, *(change(k, s) for s in (1, 2, 3) for k in "ABCDEFGH"))
    with store.uow() as uow:
        claimed = uow.inbox.claim(5)
    assert len(claimed) == 5
    assert (claimed[0][1].key, claimed[0][1].sequence) == ("A", 1)
    taken: dict[str, list[int | None]] = {}
    for _, c in claimed:
        taken.setdefault(c.key, []).append(c.sequence)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in taken.values()), taken


def test_claim_takes_only_pending_rows(store: Store) -> None:
    """Applied, stale and dead rows are done: only a pending row is work."""
    _add(store, *(change(k, 1) for k in "ABCD"))
    with store.uow() as uow:
        ids = [i for i, _ in uow.inbox.claim(10)]
        uow.inbox.mark({ids[0]: "applied", ids[1]: "stale", ids[2]: "dead"}, T0)
        uow.commit()
    assert _claim(store) == ["crm-D-1"]
    assert store.inbox() == {
        "crm-A-1": "applied",
        "crm-B-1": "stale",
        "crm-C-1": "dead",
        "crm-D-1": "pending",
    }


def test_mark_of_an_unknown_row_changes_nothing(store: Store) -> None:
    """A mark is an UPDATE by id: an id that is not there is not an error."""
    _add(store, change("A", 1))
    with store.uow() as uow:
        uow.inbox.mark({}, T0)
        uow.inbox.mark({10_000: "applied"}, T0)
        uow.commit()
    assert store.inbox() == {"crm-A-1": "pending"}


def test_claimed_rows_stay_queued_until_marked(store: Store) -> None:
    """Claiming is not consuming: a worker that dies mid-batch rolls back, and its rows return
    to the queue (docs/architecture.md, "Two ingest modes"). Within one transaction a second
    claim returns the same rows again; only ``mark`` takes them off the queue."""
    _add(store, change("A", 1), change("B", 1))
    with store.uow() as uow:
        first = [i for i, _ in uow.inbox.claim(10)]
        assert [i for i, _ in uow.inbox.claim(10)] == first
    assert _claim(store) == ["crm-A-1", "crm-B-1"]  # the first worker died: rows came back
    with store.uow() as uow:
        uow.inbox.mark({first[0]: "applied"}, T0)
        uow.commit()
    assert _claim(store) == ["crm-B-1"]


def test_another_worker_never_claims_a_claimed_row(store: Store) -> None:
    """Two appliers at once must not apply one change twice. PostgreSQL skips rows another
    transaction locked; SQLite (and the fake) let one writer in at a time, so the second waits
    and then sees the first one's marks. Either way the second gets only the rest."""
    _add(store, change("A", 1), change("B", 1), change("C", 1))
    got: list[str] = []

    def second_worker() -> None:
        with store.uow() as other:
            rows = other.inbox.claim(10)
            got.extend(c.event_id for _, c in rows)
            other.inbox.mark({i: "applied" for i, _ in rows}, T0)
            other.commit()

    with store.uow() as first:
        rows = first.inbox.claim(2)
        worker = threading.Thread(target=second_worker)
        worker.start()
        worker.join(timeout=1.0)  # PostgreSQL and an unlocked fake answer at once; SQLite waits
        first.inbox.mark({i: "applied" for i, _ in rows}, T0)
        first.commit()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert [c.event_id for _, c in rows] == ["crm-A-1", "crm-B-1"]
    assert got == ["crm-C-1"]
    assert set(store.inbox().values()) == {"applied"}  # neither commit undid the other's


# -- dead letters --------------------------------------------------------------------------


def _dead_letter(uow: UnitOfWork, inbox_id: int, reason: str) -> None:
    """What ``apply_pending`` does with a change that fails alone."""
    change_ = next(c for i, c in uow.inbox.claim(100) if i == inbox_id)
    uow.dead_letters.add(inbox_id, change_, reason, T0)
    uow.inbox.mark({inbox_id: "dead"}, T0)


def test_replay_puts_dead_changes_back_once(store: Store) -> None:
    """After a fix, a replay makes the dead changes pending again under their own event ids
    (so the inbox still applies each at most once), and a dead letter is replayed only once."""
    _add(store, change("A", 1), change("B", 1))
    with store.uow() as uow:
        ids = [i for i, _ in uow.inbox.claim(10)]
        _dead_letter(uow, ids[0], "ValueError: bad date")
        uow.inbox.mark({ids[1]: "applied"}, T0)
        uow.commit()
    assert _claim(store) == []
    [dead] = store.dead_letters()
    assert (dead["inbox_id"], dead["source"], dead["event_id"], dead["key"]) == (
        ids[0],
        "crm",
        "crm-A-1",
        "A",
    )
    assert (dead["reason"], dead["replayed"]) == ("ValueError: bad date", False)
    with store.uow() as uow:
        assert uow.dead_letters.replay(None, T0) == 1
        uow.commit()
    assert _claim(store) == ["crm-A-1"]
    assert store.dead_letters()[0]["replayed"]
    with store.uow() as uow:
        assert uow.dead_letters.replay(None, T0) == 0


def test_replay_by_id_and_only_dead_rows(store: Store) -> None:
    """A steward may replay chosen dead letters; a replay never re-opens an inbox row that is
    no longer dead (applied since by another path), though the dead letter counts as replayed."""
    _add(store, change("A", 1), change("B", 1), change("C", 1))
    with store.uow() as uow:
        ids = [i for i, _ in uow.inbox.claim(10)]
        for inbox_id in ids:
            _dead_letter(uow, inbox_id, "boom")
        uow.commit()
    letters = {d["event_id"]: d["id"] for d in store.dead_letters()}
    with store.uow() as uow:
        uow.inbox.mark({ids[2]: "applied"}, T0)
        assert uow.dead_letters.replay([], T0) == 0
        assert uow.dead_letters.replay([letters["crm-B-1"], letters["crm-C-1"]], T0) == 2
        uow.commit()
    assert store.inbox() == {"crm-A-1": "dead", "crm-B-1": "pending", "crm-C-1": "applied"}
    assert [d["replayed"] for d in store.dead_letters()] == [False, True, True]
