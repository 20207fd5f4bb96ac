"""Value types returned by matchers to the hub.

They carry everything the hub needs to decide and to explain: which golden record, how likely,
which tier (auto-link or steward review), which rule fired, and the weight each field
contributed, which the steward page shows next to the proposal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

__all__ = ["CANDIDATE_TIERS", "Candidate", "Tier"]

Tier: TypeAlias = Literal["auto", "review", "new"]
"""``auto``: link without a steward; ``review``: propose to a steward; ``new``: no match."""

CANDIDATE_TIERS: Final[frozenset[str]] = frozenset({"auto", "review"})
"""Tiers a :class:`Candidate` may have; ``"new"`` is the outcome when there is no candidate."""


@dataclass(frozen=True)
class Candidate:
    """A golden record that an incoming record may match, with the evidence.

    Attributes:
        golden_id: Id of the candidate golden record.
        probability: Match probability in ``[0, 1]``.
        tier: ``"auto"`` or ``"review"``; a candidate is never ``"new"``.
        rule: What produced it, e.g. ``"deterministic:website"`` or ``"fellegi-sunter"``.
        weights: Explanation, the match weight per field. Copied into a read-only mapping so a
            caller cannot alter an explanation after the fact; excluded from hashing.
        notes: Why a field weighs less than its level suggests, or why a high score still
            waits for a steward, by field label (``"website"``: "generic: held by 7 golden
            records") or ``"tier"`` for the decision as a whole. The steward page shows them
            beside the weights, so a demoted or discounted score never looks arbitrary.
        levels: The comparison level reached per field label (``"exact"``, ``"else"``,
            ``"missing"``), from the same comparison as the weights, so that a page never
            shows a level read later beside a weight scored earlier.

    Raises:
        ValueError: On an empty ``golden_id`` or ``rule``, a probability outside ``[0, 1]``
            (or NaN), or a tier other than ``"auto"``/``"review"``.
    """

    golden_id: str
    probability: float
    tier: Tier
    rule: str
    weights: Mapping[str, float] = field(default_factory=dict, hash=False)
    notes: Mapping[str, str] = field(default_factory=dict, hash=False)
    levels: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        """Reject impossible values early: a bad candidate must not reach a link decision."""
        if not self.golden_id:
            raise ValueError("Candidate.golden_id must be non-empty")
        if not self.rule:
            raise ValueError("Candidate.rule must be non-empty")
        if math.isnan(self.probability) or not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"Candidate.probability must be within [0, 1], got {self.probability}")
        if self.tier not in CANDIDATE_TIERS:
            raise ValueError(f"Candidate.tier must be 'auto' or 'review', got {self.tier!r}")
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))
        object.__setattr__(self, "notes", MappingProxyType(dict(self.notes)))
        object.__setattr__(self, "levels", MappingProxyType(dict(self.levels)))
