"""The applier's key cache: what it answers is what the index holds as committed, whoever
changed it; what it keeps is bounded; a batch's own reads and changes are kept only once
they are committed (hub/services/key_cache.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hub.services.key_cache import MAX_SKIPPED, KeyCache
from hub.services.key_ports import KeyDiff
from tests.unit.fakes import FakeDatabase, FakeUnitOfWork


def _write(db: FakeDatabase, keys: dict[str, set[str]]) -> KeyDiff | None:
    """Another writer (an applier, a steward) replaces golden records' keys and commits."""
    with FakeUnitOfWork(db) as uow:
        diff = uow.keys.replace("client", keys)
        uow.commit()
    return diff


def _batch(
    db: FakeDatabase, cache: KeyCache, keys: list[str], writes: dict[str, set[str]] | None = None
) -> dict[str, set[str]]:
    """One apply batch: sync, look the keys up, write, commit, hand the cache what it did."""
    with FakeUnitOfWork(db) as uow:
        read = cache.begin(uow)
        found = cache.find(uow, read, "client", keys)
        diff = uow.keys.replace("client", writes) if writes else None
        uow.commit()
    cache.committed([read] if read else [], [diff] if diff else [])
    return found


def test_a_key_read_once_is_answered_from_the_cache() -> None:
    db, cache = FakeDatabase(), KeyCache()
    _write(db, {"g1": {"k1", "k2"}})
    assert _batch(db, cache, ["k1", "k9"]) == {"k1": {"g1"}}
    assert (cache.hits, cache.misses) == (0, 2)
    assert _batch(db, cache, ["k1", "k9"]) == {"k1": {"g1"}}
    assert cache.misses == 2  # neither read again, the absent key neither


def test_a_key_another_writer_changed_is_read_again() -> None:
    db, cache = FakeDatabase(), KeyCache()
    _write(db, {"g1": {"k1"}})
    _batch(db, cache, ["k1", "k2"])
    _write(db, {"g2": {"k1", "k2"}})  # a new golden record under both keys
    assert _batch(db, cache, ["k1", "k2"]) == {"k1": {"g1", "g2"}, "k2": {"g2"}}
    _write(db, {"g1": set()})  # a merge retires g1: its key goes
    assert _batch(db, cache, ["k1"]) == {"k1": {"g2"}}


def test_the_applier_s_own_change_is_patched_in_not_read_again() -> None:
    db, cache = FakeDatabase(), KeyCache()
    _write(db, {"g1": {"k1"}})
    _batch(db, cache, ["k1"], writes={"g2": {"k1"}})
    misses = cache.misses
    assert _batch(db, cache, ["k1"]) == {"k1": {"g1", "g2"}}
    assert cache.misses == misses
    _batch(db, cache, ["k1"], writes={"g1": set()})
    assert _batch(db, cache, ["k1"]) == {"k1": {"g2"}} and cache.misses == misses


def test_counts_follow_own_and_other_changes() -> None:
    db, cache = FakeDatabase(), KeyCache()
    _write(db, {"g1": {"v"}})

    def count(writes: dict[str, set[str]] | None = None) -> int:
        with FakeUnitOfWork(db) as uow:
            read = cache.begin(uow)
            n = cache.count(uow, read, "client", ["v"]).get("v", 0)
            diff = uow.keys.replace("client", writes) if writes else None
            uow.commit()
        cache.committed([read] if read else [], [diff] if diff else [])
        return n

    assert count(writes={"g2": {"v"}}) == 1  # as read before this batch's own write
    assert count() == 2  # patched by one
    _write(db, {"g3": {"v"}})
    assert count() == 3  # another writer's change: counted again


def test_a_batch_that_rolled_back_keeps_nothing() -> None:
    db, cache = FakeDatabase(), KeyCache()
    with FakeUnitOfWork(db) as uow:
        read = cache.begin(uow)
        cache.find(uow, read, "client", ["k1"])
        uow.keys.replace("client", {"g1": {"k1"}})
        # no commit: the handler never hands the cache this batch's reads or changes
    assert len(cache) == 0
    assert _batch(db, cache, ["k1"]) == {}


def test_a_transaction_that_changed_the_index_reads_it_itself() -> None:
    """Its reads show its own uncommitted changes: kept, they would outlive a rollback."""
    db, cache = FakeDatabase(), KeyCache()
    with FakeUnitOfWork(db) as uow:
        uow.keys.replace("client", {"g1": {"k1"}})
        assert cache.begin(uow) is None
        assert cache.find(uow, None, "client", ["k1"]) == {"k1": {"g1"}}
    assert len(cache) == 0


def test_a_read_from_before_another_batch_committed_is_not_kept() -> None:
    """Two batches of one applier in two threads: the first read k1 before the second
    committed a change to it and had it patched in; keeping the first's read would undo it."""
    db, cache = FakeDatabase(), KeyCache()
    _write(db, {"g1": {"k1"}})
    with FakeUnitOfWork(db) as uow:
        first = cache.begin(uow)
        cache.find(uow, first, "client", ["k1"])
        uow.commit()
    _batch(db, cache, [], writes={"g2": {"k1"}})  # syncs, commits, is patched in
    cache.committed([first] if first else [], [])
    assert _batch(db, cache, ["k1"]) == {"k1": {"g1", "g2"}}


def test_a_cache_that_did_not_sync_for_half_the_retention_starts_afresh() -> None:
    db, cache = FakeDatabase(), KeyCache(retention=timedelta(0))
    _write(db, {"g1": {"k1"}})
    _batch(db, cache, ["k1"])
    _batch(db, cache, ["k1"])
    assert cache.misses == 2  # dropped at every sync: the log's rows may have been pruned


def test_the_cache_holds_at_most_its_size_in_golden_ids() -> None:
    db, cache = FakeDatabase(), KeyCache(size=10)
    _write(db, {f"g{i}": {f"k{i % 3}"} for i in range(12)})
    _batch(db, cache, ["k0", "k1", "k2"])
    assert cache._held <= 10 and len(cache) < 3
    assert _batch(db, cache, ["k0", "k1", "k2"])["k0"] == {f"g{i}" for i in range(0, 12, 3)}


def test_a_cache_of_size_zero_reads_the_index_every_time() -> None:
    db, cache = FakeDatabase(), KeyCache(size=0)
    _write(db, {"g1": {"k1"}})
    with FakeUnitOfWork(db) as uow:
        assert cache.begin(uow) is None
    assert _batch(db, cache, ["k1"]) == {"k1": {"g1"}} and len(cache) == 0


def test_own_changes_skipped_stay_bounded_while_the_horizon_is_held_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long transaction elsewhere holds the horizon back; the list of own changes sent
    with each sync stops growing at MAX_SKIPPED, and what the cache answers stays right."""
    from tests.unit import fakes

    real = fakes.FakeKeys.changes_since
    sent: list[int] = []

    def held_back(self: fakes.FakeKeys, horizon: int | None, skip: Any) -> Any:
        sent.append(len(skip))
        out = real(self, horizon, skip)
        if horizon is not None:
            out.horizon = horizon  # as if an early transaction were still running
        return out

    monkeypatch.setattr(fakes.FakeKeys, "changes_since", held_back)
    db, cache = FakeDatabase(), KeyCache()
    _write(db, {"g0": {"k"}})
    for n in range(1, MAX_SKIPPED + 30):
        _batch(db, cache, ["k"], writes={f"g{n}": {"k", f"own{n}"}})
    assert max(sent) == MAX_SKIPPED
    assert _batch(db, cache, ["k", "own1"]) == {
        "k": {f"g{n}" for n in range(MAX_SKIPPED + 30)},
        "own1": {"g1"},
    }
