"""u from random pairs of records, fast and repeatable.

Random pairs are almost all non-matches, so the share of them at each level is ``u``. The exact
level is counted over *all* pairs from value frequencies (exact and cheap: a birth date shared
by one pair in 30,000 needs no sampling luck); the closer-than-else levels come from a seeded
sample of pairs, each distinct pair of values graded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.bulk_blocking import GENERIC_SHARE
from matching.codes import Codes, Vocabulary
from matching.compare import NULL_LEVEL, Comparison

__all__ = ["CodedField", "estimate_u_coded", "generic_values", "value_shares"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CodedField:
    """One comparison's values for a bulk run, as codes into a shared vocabulary.

    Attributes:
        vocab: Distinct normalised values.
        left: Code of each left record's value (``-1`` if missing).
        right: Same for the right records (the left codes again for deduplication).
    """

    vocab: Vocabulary
    left: Codes
    right: Codes


def estimate_u_coded(
    comparisons: Sequence[Comparison],
    fields: Sequence[CodedField],
    dedupe: bool,
    max_pairs: int = 50_000,
    seed: int = 1,
) -> list[FloatArray]:
    """u per level of each comparison from random pairs of records, repeatable by ``seed``.

    The exact level is computed from value counts over *all* pairs; the other levels share
    the rest in the proportions seen among ``max_pairs`` random pairs (smoothed toward the
    declared u, so a level never seen keeps a small, non-zero u).
    """
    out: list[FloatArray] = []
    rng = np.random.default_rng(seed)
    n_left = len(fields[0].left) if fields else 0
    n_right = len(fields[0].right) if fields else 0
    i = rng.integers(0, max(n_left, 1), max_pairs)
    j = rng.integers(0, max(n_right, 1), max_pairs)
    if dedupe:
        keep = i != j
        i, j = i[keep], j[keep]
    for comp, f in zip(comparisons, fields, strict=True):
        prior_u = np.asarray(comp.prior_u, dtype=np.float64)
        n_levels = len(prior_u)
        exact = _exact_share(f, dedupe) if comp.exact_level == 0 else None
        if exact is not None and n_levels == 2:
            u = np.array([exact, 1.0 - exact])
        elif n_left < 2 or n_right < 1:
            u = prior_u.copy()
        else:
            levels = comp.levels_coded(f.vocab, f.left[i], f.right[j])
            counts = np.bincount(levels[levels != NULL_LEVEL].astype(np.int64), minlength=n_levels)
            smoothed = counts[:n_levels].astype(np.float64) + 10.0 * prior_u
            u = smoothed / smoothed.sum()
            # A level never seen in the sample is rarer than one in the sample size, not
            # impossible: a u far below that would make it near-proof of a match.
            u = np.maximum(u, np.minimum(prior_u, 1.0 / max(int(counts.sum()), 1)))
            u /= u.sum()
            if exact is not None:
                rest = u[1:] / u[1:].sum()
                u = np.concatenate([[exact], (1.0 - exact) * rest])
        out.append(u)
    return out


def _exact_share(f: CodedField, dedupe: bool) -> float | None:
    """Share of all pairs with both values present that agree exactly; ``None`` if no pairs."""
    size = len(f.vocab)
    left = np.bincount(f.left[f.left >= 0], minlength=size).astype(np.float64)
    if dedupe:
        n = left.sum()
        if n < 2:
            return None
        share = float((left * (left - 1)).sum() / (n * (n - 1)))
        floor = 0.5 / (n * (n - 1))
    else:
        right = np.bincount(f.right[f.right >= 0], minlength=size).astype(np.float64)
        if left.sum() < 1 or right.sum() < 1:
            return None
        share = float((left * right).sum() / (left.sum() * right.sum()))
        floor = 0.5 / (left.sum() * right.sum())
    return float(min(max(share, floor), 1.0 - 1e-9))


def generic_values(
    f: CodedField, dedupe: bool, u: FloatArray
) -> tuple[FloatArray, dict[str, float]]:
    """Generic values of one field (held by :data:`GENERIC_SHARE` of the records) and u of
    the others.

    A pooled exact-level u mixes two kinds of agreement: with 15% of birth dates set to
    1900-01-01 two random people share a date one time in 45, so every shared birth date would
    count as weak evidence. Here a generic value is weighed by its own frequency (the caller
    scores agreement on it as ``m / frequency``) and the exact-level u becomes the rate of
    agreeing on the other values. A field whose generic values hold most records (a region, a
    country) is categorical rather than polluted, and keeps its pooled u.

    Returns:
        ``(u, generic)``: u per level, and each generic value's share of the records.
    """
    codes = f.left if dedupe else np.concatenate([f.left, f.right])
    counts = np.bincount(codes[codes >= 0], minlength=len(f.vocab)).astype(np.float64)
    total = float(counts.sum())
    heavy = np.flatnonzero(counts >= max(10.0, GENERIC_SHARE * total))
    share = counts[heavy] / max(total, 1.0)
    if not len(heavy) or share.sum() > 0.5:
        return u, {}
    if dedupe:
        pairs = counts * (counts - 1) / (total * (total - 1))
    else:
        left = np.bincount(f.left[f.left >= 0], minlength=len(f.vocab)).astype(np.float64)
        right = np.bincount(f.right[f.right >= 0], minlength=len(f.vocab)).astype(np.float64)
        pairs = left * right / max(left.sum() * right.sum(), 1.0)
    agree = float(pairs[heavy].sum())
    rest = float(pairs.sum()) - agree  # before the matches among random pairs were taken out
    out = np.asarray(u, dtype=np.float64).copy()
    out[0] = max(out[0] - agree, 0.05 * rest, 1e-12) / (1.0 - float(share.sum()))
    out[1:] *= (1.0 - out[0]) / out[1:].sum()
    return out, dict(zip(f.vocab[heavy].tolist(), share.tolist(), strict=True))


def value_shares(f: CodedField, dedupe: bool) -> dict[str, float]:
    """Each value's share of the *other* records: a surname held only by the two copies of one
    person is one other record in N, not two, or every rare value would weigh a bit too little."""
    codes = f.left if dedupe else np.concatenate([f.left, f.right])
    counts = np.bincount(codes[codes >= 0], minlength=len(f.vocab))
    total = int(counts.sum())
    if total < 2:
        return {}
    shares = np.maximum(counts - 1, 1) / (total - 1)
    return dict(zip(f.vocab.tolist(), shares.tolist(), strict=True))
