"""The claim's walk over pending rows, (id, partition) oldest first
(``hub.store.inbox_partitions.Walk``), on random inboxes.

What it must keep, whichever partitions other appliers hold: a partition's rows are taken
oldest first with none skipped (a record's later change never goes before its earlier one),
no more partitions than the applier's share are held, none is held without a row taken from
it, and an applier alone takes the oldest rows as they arrived.
"""

from __future__ import annotations

import random

import pytest

from hub.store.inbox_partitions import PARTITIONS, Walk


def _walk(
    rows: list[tuple[int, int]], limit: int, share: int, others_hold: set[int], page: int
) -> tuple[Walk, list[list[int]]]:
    asks: list[list[int]] = []

    def try_lock(asked: list[int]) -> set[int]:
        asks.append(list(asked))
        return set(asked) - others_hold

    walk = Walk(limit, share, try_lock)
    for start in range(0, len(rows), page):
        if walk.done:
            break
        walk.page(rows[start : start + page])
    return walk, asks


@pytest.mark.parametrize("seed", range(200))
def test_the_walk_keeps_each_partition_s_order_and_the_share(seed: int) -> None:
    rng = random.Random(seed)
    spread = rng.choice([1, 3, 8, PARTITIONS])
    rows = [(i + 1, rng.randrange(spread)) for i in range(rng.randrange(0, 400))]
    limit = rng.choice([1, 5, 50, 200])
    share = rng.randint(1, PARTITIONS)
    others_hold = {p for p in range(PARTITIONS) if rng.random() < 0.3}
    walk, asks = _walk(rows, limit, share, others_hold, page=limit)

    assert len(walk.ids) <= limit
    assert walk.ids == sorted(walk.ids)
    assert len(walk.held) <= share
    assert not walk.held & others_hold
    part = dict(rows)
    taken = set(walk.ids)
    assert {part[i] for i in walk.ids} == walk.held  # none held without a row taken
    asked = [p for a in asks for p in a]
    assert len(asked) == len(set(asked))  # each partition asked for once
    assert walk.busy == len(set(asked) & others_hold)
    for p in walk.held:  # the partition's rows up to its last taken one are all taken
        ids = [i for i, q in rows if q == p]
        last = max(i for i in ids if i in taken)
        assert all(i in taken for i in ids if i <= last), p


@pytest.mark.parametrize("seed", range(50))
def test_an_applier_alone_takes_the_oldest_rows_in_arrival_order(seed: int) -> None:
    rng = random.Random(seed)
    rows = [(i + 1, rng.randrange(PARTITIONS)) for i in range(rng.randrange(1, 700))]
    limit = rng.choice([1, 7, 100, 500])
    walk, _ = _walk(rows, limit, PARTITIONS, set(), page=limit)
    assert walk.ids == [i for i, _ in rows[:limit]]


def test_a_full_share_leaves_the_other_partitions_rows_for_others() -> None:
    rows = [(i + 1, i % 4) for i in range(40)]
    walk, asks = _walk(rows, 100, 2, set(), page=100)
    assert walk.held == {0, 1}
    assert walk.ids == [i for i, p in rows if p in (0, 1)]
    assert asks == [[0, 1]]


def test_a_refused_partition_s_room_goes_to_the_next_without_skipping_a_row() -> None:
    """Partition 0 is held by another applier; the room it leaves in a share of 2 goes to
    partition 2, whose first row came before partition 1's second: that row is not passed
    over when the walk comes back for it."""
    rows = [(1, 0), (2, 1), (3, 2), (4, 1), (5, 2)]
    walk, asks = _walk(rows, 10, 2, {0}, page=10)
    assert walk.held == {1, 2}
    assert walk.ids == [2, 3, 4, 5]
    assert walk.busy == 1
    assert asks == [[0, 1], [2]]
