"""Tiers: from the scores of one record against its candidates to at most one automatic link.

Shared by the real-time matcher and the bulk ``link`` so both decide alike: the best candidate
links automatically only if it reaches ``t_auto`` *and* no other candidate is a plausible
alternative; otherwise every candidate at or above ``t_review`` goes to a steward.
"""

from __future__ import annotations

from collections.abc import Sequence

from matching.result import Tier

__all__ = ["assign_tiers"]


def assign_tiers(
    weights: Sequence[float],
    probabilities: Sequence[float],
    t_auto: float,
    t_review: float,
    runner_up_bits: float,
) -> list[tuple[int, Tier]]:
    """Tier of each candidate of one record that reaches review, best first.

    A runner-up is close when it also reaches ``t_auto``, or reaches ``t_review`` within
    ``runner_up_bits`` of the winner's weight; then the winner goes to review too, because two
    golden records fit and linking either could be the wrong merge.

    Args:
        weights: Match weight of each candidate.
        probabilities: Match probability of each candidate.
        t_auto: Auto-link threshold.
        t_review: Review threshold.
        runner_up_bits: How close (in bits) a runner-up must be to block an auto link.

    Returns:
        ``(index, tier)`` for every candidate at or above ``t_review``, by weight descending.

    Examples:
        >>> assign_tiers([30.0, 2.0], [1.0, 0.8], 0.99, 0.5, 5.0)
        [(0, 'auto'), (1, 'review')]
        >>> assign_tiers([30.0, 28.0], [1.0, 1.0], 0.99, 0.5, 5.0)
        [(0, 'review'), (1, 'review')]
    """
    order = sorted(
        (i for i, p in enumerate(probabilities) if p >= t_review), key=lambda i: -weights[i]
    )
    out: list[tuple[int, Tier]] = [(i, "review") for i in order]
    if not order or probabilities[order[0]] < t_auto:
        return out
    if len(order) > 1:
        top, second = order[0], order[1]
        if probabilities[second] >= t_auto or weights[top] - weights[second] < runner_up_bits:
            return out
    out[0] = (order[0], "auto")
    return out
