"""A candidate whose kept compared values hold is read without its values or its members'
(``CandidateCache.fetch`` with ``kept``): it must be compared exactly as a full read compares
it, and one whose values do not hold must still be read in full."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hub.domain.commands import ApplyPending
from hub.services.batch import Batch
from hub.services.bus import MessageBus
from hub.services.match_context import MatchContext
from matching import FellegiSunterMatcher
from tests.unit.fakes import FakeDatabase, FakeUnitOfWork, accept, change, fake_bus
from tests.unit.test_compared import _stream
from tests.unit.test_value_counts import _apply_streams as apply_streams


def _quietly(rng: random.Random, stream: list[Any]) -> list[Any]:
    """``stream`` with some changes sent again with only a field the domain does not declare
    changed: a quiet update, whose golden record keeps its version while its record's digest
    changes, so its kept compared values no longer hold."""
    out, seq = [], 0
    for ch in stream:
        seq += 1
        out.append(change(ch.source, ch.domain, ch.key, seq, **ch.attributes))
        if rng.random() < 0.3:
            seq += 1
            owner = rng.choice(["Jane", "Raj"])
            out.append(change(ch.source, ch.domain, ch.key, seq, **ch.attributes, crm_owner=owner))
    return out


def _upgrade(rng: random.Random, db: FakeDatabase) -> None:
    """Some golden records' kept values as older code made them: other values, another
    stamp. Taken by mistake, they would compare every view of the candidate as garbage."""
    for row in db.state.golden.values():
        kept = row.get("compared")
        if kept and rng.random() < 0.3:
            values = {label: ["zz " + str(v)] * len(v) for label, v in kept["values"].items()}
            row["compared"] = {"stamp": "made by the release before", "values": values}


def _apply_streams(seeds: range) -> list[Any]:
    def cache_size(rng: random.Random, bus: MessageBus) -> None:
        bus.applier.context.cache.size = rng.choice([0, 5, 1000])

    return apply_streams(seeds, lambda rng: _quietly(rng, _stream(rng, 70)), cache_size, _upgrade)


def test_the_lean_read_decides_as_a_full_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random streams (names, phones and websites change, and fields no rule reads) through
    appliers with small and large candidate caches, some kept values left as an older
    release made them, decide the same links and candidates, probabilities and notes
    included, as appliers that read every candidate in full; and the lean read was taken
    for many candidates and refused for some. (A lean read that skipped the stamp check
    fails this.)"""
    taken: list[bool] = []
    kept_views = MatchContext._kept_views

    def counting(self: MatchContext, *args: Any) -> Any:
        made = kept_views(self, *args)
        taken.append(made is not None)
        return made

    monkeypatch.setattr(MatchContext, "_kept_views", counting)
    lean = _apply_streams(range(8))
    assert sum(taken) > 50 and not all(taken)  # both reads were exercised
    monkeypatch.setattr(MatchContext, "_kept_views", lambda self, *args: None)
    assert _apply_streams(range(8)) == lean
    assert any(cands for _, cands in lean)


class _Counting(FakeUnitOfWork):
    """Records which reads a fetch makes."""

    def __init__(self, db: FakeDatabase, asked: list[tuple[str, Any]]) -> None:
        super().__init__(db)
        golden, records = self.golden, self.records

        class Golden(type(golden)):  # type: ignore[misc]
            def candidates(self, ids: Any, values: bool = True) -> Any:
                asked.append(("candidates" if values else "lean", set(ids)))
                return super().candidates(ids, values)

        class Records(type(records)):  # type: ignore[misc]
            def live(self, ids: Any) -> Any:
                asked.append(("live", set(ids)))
                return super().live(ids)

            def members(self, ids: Any) -> Any:
                asked.append(("members", set(ids)))
                return super().members(ids)

        self.golden, self.records = Golden(self), Records(self)


def test_only_a_candidate_whose_kept_values_fail_is_read_in_full() -> None:
    db = FakeDatabase()
    bus = fake_bus(db, FellegiSunterMatcher())
    accept(bus, change("crm", "client", "A", 1, name="Acme Ltd", phone="020 7946 0001"))
    accept(bus, change("erp", "client", "B", 1, name="Bolt Legal", website="bolt.law"))
    bus.apply(ApplyPending(5))
    held = {db.golden_of("crm", "client", "A")["id"], db.golden_of("erp", "client", "B")["id"]}
    stale = db.golden_of("erp", "client", "B")["id"]
    db.state.golden[stale]["compared"]["stamp"] = "made from something else"
    ctx = bus.applier.context
    asked: list[tuple[str, Any]] = []
    with _Counting(db, asked) as uow:
        found = ctx.cache.fetch(uow, held, uow.sources(), ctx._kept_views)
    assert asked == [
        ("lean", held),
        ("members", held),
        ("candidates", {stale}),
        ("live", {stale}),
    ]
    (fresh,) = held - {stale}
    assert found[fresh].golden.attributes is None and found[fresh].views is not None
    assert found[fresh].records and all(m.attributes == {} for m in found[fresh].records)
    assert found[stale].golden.attributes is not None and found[stale].views is None
    # the lean entry is stamped as a full read would stamp it: the next fetch checks it, and
    # it holds
    with FakeUnitOfWork(db) as uow:
        full = ctx.cache._full(uow, [fresh])[fresh]
    assert found[fresh].stamp == full.stamp
    asked.clear()
    with _Counting(db, asked) as uow:
        again = ctx.cache.fetch(uow, {fresh}, uow.sources(), ctx._kept_views)
    assert again[fresh] is found[fresh] and asked == [("members", {fresh})]  # checked, held


def test_a_candidate_read_without_values_never_builds_views_from_them() -> None:
    """Should a lean candidate reach the view builder (its views lost), it fails loudly: its
    empty members would otherwise compare as a record with every field missing."""
    db = FakeDatabase()
    bus = fake_bus(db, FellegiSunterMatcher())
    accept(bus, change("crm", "client", "A", 1, name="Acme Ltd", phone="020 7946 0001"))
    bus.apply(ApplyPending(5))
    gid = db.golden_of("crm", "client", "A")["id"]
    ctx = bus.applier.context
    with FakeUnitOfWork(db) as uow:
        batch = Batch(records={})
        ctx.load_candidates(uow, batch, {gid})
        assert batch.candidate_goldens[gid].attributes is None
        del batch.entities[gid]
        with pytest.raises(RuntimeError, match="without its values"):
            ctx.entity(uow, batch, gid)
