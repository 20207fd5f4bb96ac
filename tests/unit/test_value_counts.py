"""Scoring reads who holds a value only for the comparisons on which a record agrees exactly
with a candidate (``Matcher.exact_labels``); the applier hands it only those, and the onboarding
preview counts only those. Fewer counts must change no score, and a value's count includes the
golden records the batch created before, whenever it is counted."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from hub.domain.commands import ApplyPending
from hub.services.bus import MessageBus
from hub.services.match_context import MatchContext
from matching import FellegiSunterMatcher
from tests.unit.fakes import FakeDatabase, accept, change, fake_bus
from tests.unit.test_compared import NAMES, PHONES, SITES, _stream

GROUP_SITE = "https://www.group-holdings.com"
SWITCHBOARD = "+44 20 7946 0001"


def _client(rng: random.Random) -> dict[str, Any]:
    return {
        "name": rng.choice(NAMES),
        "phone": rng.choice(PHONES),
        "website": rng.choice(SITES),
        "country": rng.choice(["GB", "GB", "IE"]),
    }


def test_holders_of_values_agreed_on_exactly_are_all_scoring_reads() -> None:
    """Random records against random candidates: scored with every label's holder count or
    with only the exact agreements' counts, each candidate gets the same probability,
    weights, tier and notes; and the labels are exactly the comparisons at level 0."""
    matcher = FellegiSunterMatcher()
    spec = matcher.spec("client")
    assert spec is not None
    labels = [c.label for c in spec.comparisons]
    seen_exact = seen_other = 0
    for seed in range(300):
        rng = random.Random(seed)
        record = _client(rng)
        pool = [(f"g{i}", [_client(rng) for _ in range(rng.randint(1, 3))]) for i in range(4)]
        (levels,) = matcher.levels_many("client", [(record, [e for _, e in pool])])
        exact = matcher.exact_labels("client", levels)
        assert exact == {lab for j, lab in enumerate(labels) if (levels[:, j] == 0).any()}
        every = {label: rng.choice([0, 1, 2, 3, 9, 400]) for label in labels}
        some = {label: n for label, n in every.items() if label in exact}
        seen_exact += len(some)
        seen_other += len(every) - len(some)
        population = rng.choice([0, 50, 1000])
        full = matcher.score("client", record, pool, every, population, levels)
        lean = matcher.score("client", record, pool, some, population, levels)
        assert [(c.golden_id, c.tier, c.probability, c.weights, c.notes) for c in full] == [
            (c.golden_id, c.tier, c.probability, c.weights, c.notes) for c in lean
        ], seed
    assert seen_exact > 100 and seen_other > 100  # both kinds of label were exercised


def _outcome(db: FakeDatabase) -> Any:
    """Links and candidates with each golden id (random) named by its first record's key."""
    records = db.state.records
    name: dict[str | None, str] = {}
    for r in sorted(records.values(), key=lambda r: r.key):
        name.setdefault(r.golden_id, r.key)
    links = sorted((r.key, name[r.golden_id]) for r in records.values())
    candidates = sorted(
        (
            records[c["source_record_id"]].key,
            name.get(c["golden_id"], "?"),
            c["status"],
            round(c["probability"], 12),
            repr(c["notes"]),
        )
        for c in db.state.candidates
    )
    return links, candidates


def _apply_streams(
    seeds: range,
    changes: Callable[[random.Random], list[Any]] = lambda rng: _stream(rng, 60),
    setup: Callable[[random.Random, MessageBus], None] = lambda rng, bus: None,
    between: Callable[[random.Random, FakeDatabase], None] = lambda rng, db: None,
) -> list[Any]:
    """Each seed's random stream through an applier in batches of random sizes: the links
    and candidates it decided. ``setup`` shapes the applier first; ``between`` changes the
    committed state after each batch."""
    out = []
    for seed in seeds:
        rng = random.Random(seed)
        db = FakeDatabase()
        bus = fake_bus(db, FellegiSunterMatcher())
        setup(rng, bus)
        accept(bus, *changes(rng))
        while (r := bus.apply(ApplyPending(rng.choice([1, 5, 20])))).applied + r.stale:
            assert r.dead == 0
            between(rng, db)
        out.append(_outcome(db))
    return out


def test_the_applier_decides_as_if_it_counted_every_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random streams through the applier decide the same links and candidates (with their
    probabilities and notes) as an applier that counts every value of every record."""
    lean = _apply_streams(range(8))
    monkeypatch.setattr(
        MatchContext,
        "_value_keys",
        lambda self, domain, view, levels: self.matcher.value_keys(domain, view),
    )
    assert _apply_streams(range(8)) == lean
    assert any(cands for _, cands in lean)


def test_a_value_counted_late_counts_the_golden_records_born_before_in_the_batch() -> None:
    """Seven near-identical clients sharing a group website and switchboard, in one batch on
    an empty hub: no value is counted before linking (nothing stored to compare with), yet
    from the third on the shared values are generic, since the golden records this batch
    created already hold them."""
    db = FakeDatabase()
    bus = fake_bus(db, FellegiSunterMatcher())
    names = ["Acme Widgets", "Acme Widgetz", "Acme Widgets Ltd", "Acme Widget", "Acme Widgets Co"]
    accept(bus, *[
        change("crm", "client", f"k{i}", 1, name=n, website=GROUP_SITE, phone=SWITCHBOARD,
               country="GB")
        for i, n in enumerate(names)
    ])  # fmt: skip
    assert bus.apply(ApplyPending(50)).applied == len(names)
    notes = [c["notes"] or {} for c in db.state.candidates]
    generic = sorted(n["website"] for n in notes if "website" in n)
    assert generic and all(g.startswith("generic value") for g in generic)
    assert "generic value: 4 golden records hold it, so it weighs nothing" in generic
