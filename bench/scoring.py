"""Scores of a matching run against the truth: precision, recall, F1 and blocking recall.

Two kinds of task are scored differently, as the matching notes say:

* **link** (each left record is one right record or none): a left record's chosen right
  record is one prediction; it is right when the truth pairs them.
* **dedupe** (duplicates within one file): predicted pairs are first closed into clusters
  (if a~b and b~c then a, b and c are one entity) and the clusters expanded back to pairs, so a
  wrong merge of two clusters costs every pair it creates.

Blocking recall is scored apart from matching: the share of true pairs that any blocking rule
puts in front of the scorer at all. A true pair that blocking misses cannot be found by any
threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

__all__ = ["Scores", "blocking_recall", "cluster_pairs", "score"]

Pair = tuple[int, int]


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of predicted pairs against true pairs.

    Attributes:
        predicted: Pairs predicted (after clustering, for dedupe).
        true: True pairs.
        hits: Predicted pairs that are true.
    """

    predicted: int
    true: int
    hits: int

    @property
    def false(self) -> int:
        """Predicted pairs that are wrong."""
        return self.predicted - self.hits

    @property
    def precision(self) -> float:
        """Share of predicted pairs that are true (1.0 when nothing is predicted)."""
        return self.hits / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Share of true pairs predicted (1.0 when there is nothing to find)."""
        return self.hits / self.true if self.true else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _ordered(pairs: Iterable[Pair]) -> set[Pair]:
    return {(a, b) if a < b else (b, a) for a, b in pairs if a != b}


def cluster_pairs(pairs: Iterable[Pair]) -> set[Pair]:
    """Pairs closed transitively: every pair within each connected cluster, as ``(low, high)``.

    Examples:
        >>> sorted(cluster_pairs([(0, 1), (2, 1), (5, 6)]))
        [(0, 1), (0, 2), (1, 2), (5, 6)]
    """
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    clusters: dict[int, list[int]] = {}
    for x in parent:
        clusters.setdefault(root(x), []).append(x)
    return {p for members in clusters.values() for p in combinations(sorted(members), 2)}


def score(predicted: Iterable[Pair], truth: Iterable[Pair], dedupe: bool) -> Scores:
    """Scores of ``predicted`` pairs against ``truth``.

    Args:
        predicted: For a link task, ``(left, right)`` of each left record's chosen right
            record (at most one per left record); for dedupe, the pairs judged duplicates.
        truth: True pairs, in the same orientation.
        dedupe: Close both sides into clusters and compare the expanded pairs.

    Examples:
        >>> s = score([(0, 1), (1, 2)], [(0, 1), (3, 4)], dedupe=True)
        >>> (s.predicted, s.hits, s.true), round(s.precision, 3), s.recall
        ((3, 1, 2), 0.333, 0.5)
        >>> score([(0, 5), (1, 6)], [(0, 5), (1, 7)], dedupe=False).f1
        0.5
    """
    if dedupe:
        pred, true = cluster_pairs(predicted), cluster_pairs(truth)
    else:
        pred, true = set(predicted), set(truth)
    return Scores(len(pred), len(true), len(pred & true))


def blocking_recall(
    candidates: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    truth: Iterable[Pair],
    dedupe: bool,
) -> float:
    """Share of true pairs among the candidate pairs of blocking.

    Args:
        candidates: ``(i, j)`` index arrays, as :func:`matching.bulk.candidate_pairs` returns
            them (``i < j`` for dedupe).
        truth: True pairs; for dedupe in either order.
        dedupe: Order each true pair low-high first.

    Examples:
        >>> i, j = np.array([0, 1]), np.array([1, 3])
        >>> blocking_recall((i, j), [(1, 0), (2, 3)], dedupe=True)
        0.5
    """
    true = _ordered(truth) if dedupe else set(truth)
    if not true:
        return 1.0
    i, j = candidates
    width = int(max(max(b for _, b in true), int(j.max()) if len(j) else 0)) + 1
    found = set((i.astype(np.int64) * width + j.astype(np.int64)).tolist())
    return sum(a * width + b in found for a, b in true) / len(true)
