"""The link decision: which golden record a source record belongs to (docs/architecture.md,
"Linking").

Pure rules over values the caller has found: the golden records each of the record's
deterministic keys reaches, the matcher's scored candidates, the pairs a steward kept apart,
and how many records of the same source a candidate already holds. The apply path and the
onboarding preview both decide here, so a preview predicts what the load will do.

The order: an xref hit keeps its link (the caller's, before any of this); a deterministic key
links, and a record whose keys reach several golden records proves them one (they merge,
unless a steward split them); otherwise blocked candidates are scored, and a single automatic
winner links unless the golden record holds as many records of that source as the spec allows
(a source keeps its own records apart); review-tier candidates go to the stewards.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

POPULATION_KEY = "v:*"
"""Every golden record with a live source record holds this key in the key index, so
counting it is counting the domain's golden records with one indexed lookup."""


class Scored(Protocol):
    """A matcher's scored candidate (``matching.Candidate``), as far as the rules read it."""

    @property
    def golden_id(self) -> str: ...

    @property
    def tier(self) -> str: ...

    @property
    def rule(self) -> str: ...

    @property
    def notes(self) -> Mapping[str, str]: ...


S = TypeVar("S", bound=Scored)


@dataclass(frozen=True)
class KeyLink:
    """A link by a deterministic key: the golden record it joins, the rule, and every other
    golden record its keys reached (the caller merges them into ``golden_id``)."""

    golden_id: str
    rule: str
    others: tuple[str, ...]


def link_by_keys(hits: Sequence[tuple[str, set[str]]]) -> KeyLink | None:
    """``hits``: per deterministic key, in the spec's order, the golden records holding it.

    The first key that reaches any golden record decides; of several, the smallest id wins,
    so two workers deciding the same record pick the same winner.
    """
    reached = [(k, ids) for k, ids in hits if ids]
    if not reached:
        return None
    dkey, first = reached[0]
    winner = sorted(first)[0]
    others = set().union(*(ids for _, ids in reached)) - {winner}
    return KeyLink(winner, "deterministic:" + dkey.split(":", 1)[0], tuple(sorted(others)))


def to_merge(link: KeyLink, kept_apart: set[str]) -> list[str]:
    """The golden records a key link merges into its winner: a shared key never undoes a
    steward's split (``kept_apart`` holds those the steward separated from the winner)."""
    return [g for g in link.others if g not in kept_apart]


MAX_CANDIDATES = 50
"""Golden records a record is scored against at most (the closest by shared blocking keys)."""


def shared_keys(holders: Iterable[Iterable[str]]) -> Counter[str]:
    """How many of a record's blocking keys each golden record holds; ``holders`` gives, per
    key, the golden records holding it. What ``candidate_ids`` ranks by."""
    shared: Counter[str] = Counter()
    for held in holders:
        shared.update(held)
    return shared


def candidate_ids(shared: Counter[str], rejected: set[str], limit: int) -> set[str]:
    """The candidates to score: those sharing the most blocking keys with the record (a very
    common value, a big city, must not cost thousands of comparisons), without the pairs a
    steward said are not a match.

    Ties at the cut go to the smaller golden id, not to the counter's insertion order: that
    order follows set iteration, which differs between processes (string hashing is seeded
    per process), and two appliers, or a preview and its run, must score the same records."""
    nearest = heapq.nsmallest(limit, shared, key=lambda gid: (-shared[gid], gid))
    return set(nearest) - rejected


@dataclass(frozen=True)
class ScoreLink(Generic[S]):
    """The matcher's verdict: the candidate linked automatically, if one is, and the
    candidates a steward should decide (with why an automatic winner waits, in its notes)."""

    linked: S | None
    review: list[S]


def link_by_score(
    scored: Sequence[S], current: str | None, crowded: Callable[[str], str | None]
) -> ScoreLink[S]:
    """One automatic winner links, unless ``crowded`` says why it must wait; then it goes to
    review with that reason. Several automatic winners go to review too: the matcher cannot
    tell which."""
    auto = [c for c in scored if c.tier == "auto"]
    if len(auto) == 1 and auto[0].golden_id != current:
        reason = crowded(auto[0].golden_id)
        if reason is None:
            return ScoreLink(auto[0], [])
        notes = {**auto[0].notes, "tier": reason}
        waiting = replace(auto[0], tier="review", notes=notes)  # type: ignore[type-var]
        return ScoreLink(None, [waiting if c is auto[0] else c for c in scored])
    return ScoreLink(None, list(scored))


def crowded_reason(source: str, held: int, limit: int) -> str | None:
    """Why a golden record that already holds ``held`` live records of ``source`` may not take
    one more without a steward: one source system keeps its own records apart, so linking one
    more would join what that system says are different clients or people (how a shared group
    website once grew one golden record to 24 legal entities)."""
    if held < limit:
        return None
    return (
        f"the golden record already holds {held} record(s) of {source} "
        f"(at most {limit} without a steward): {source} keeps them apart"
    )
