"""The term-frequency denominator (``MatchContext.population``): counted in every batch while
counting is quick, reused for a while once a count is slow (a million golden records)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hub.domain.linking import POPULATION_KEY
from hub.services.batch import Batch
from hub.services.match_context import POPULATION_REUSE, MatchContext
from tests.unit.fakes import DelegatingMatcher, default_config

SHARED = {"name": 3}  # a value held by other golden records: the denominator is needed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingKeys:
    """The key index's count, taking ``seconds`` of the clock per count."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock, self.seconds, self.counts, self.population = clock, seconds, 0, 1_000

    def count(self, domain: str, keys: Iterable[str]) -> dict[str, int]:
        assert list(keys) == [POPULATION_KEY]
        self.counts += 1
        self.clock.now += self.seconds
        return {POPULATION_KEY: self.population}


class Uow:
    def __init__(self, keys: CountingKeys) -> None:
        self.keys = keys


def context(seconds: float) -> tuple[MatchContext, CountingKeys, Clock]:
    clock = Clock()
    ctx = MatchContext(default_config().domains, DelegatingMatcher())
    ctx.clock = clock
    return ctx, CountingKeys(clock, seconds), clock


def population(ctx: MatchContext, keys: CountingKeys, batch: Batch | None = None) -> int:
    uow: Any = Uow(keys)
    return ctx.population(uow, batch or Batch(records={}), "client", SHARED)


def test_a_quick_count_is_made_again_in_every_batch_and_once_per_batch() -> None:
    ctx, keys, _ = context(seconds=0.001)
    batch = Batch(records={})
    assert population(ctx, keys, batch) == 1_000
    assert population(ctx, keys, batch) == 1_000  # the same batch asks again
    keys.population = 1_001
    assert population(ctx, keys) == 1_001  # the next batch counts anew
    assert keys.counts == 2


def test_a_slow_count_is_reused_for_fifty_times_as_long_then_made_again() -> None:
    ctx, keys, clock = context(seconds=1.5)
    assert population(ctx, keys) == 1_000
    keys.population = 1_200
    clock.now += 1.5 * POPULATION_REUSE - 1  # still within the reuse
    assert population(ctx, keys) == 1_000
    assert keys.counts == 1
    clock.now += 2  # past it
    assert population(ctx, keys) == 1_200
    assert keys.counts == 2


def test_no_count_when_no_value_is_shared() -> None:
    ctx, keys, _ = context(seconds=1.5)
    uow: Any = Uow(keys)
    assert ctx.population(uow, Batch(records={}), "client", {"name": 1, "phone": 0}) == 0
    assert keys.counts == 0
