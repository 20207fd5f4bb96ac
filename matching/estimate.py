"""Fitting a Fellegi-Sunter model to unlabelled records, robustly even with few fields.

Plain EM over all candidate pairs drifts when records have few fields (names and a birth
date): candidates were chosen *because* they agree on something, so "agrees on the blocking
field" is a class EM can lock onto instead of "is the same person". The fit here avoids that:

* ``u`` comes from random pairs (seeded), not from EM: random pairs are almost all non-matches.
  The exact level is counted from value frequencies, which is exact and cheap; the fuzzy levels
  come from a sample. The few true matches among random pairs inflate ``u`` (a file of 5,000
  people with 5,000 duplicates has as many matching as coincidental birth dates), so once ``m``
  and the prior are known that share is taken back out.
* ``m`` comes from EM run separately within each blocking rule's pairs, with ``u`` held fixed
  and the fields of that rule held out: within a block on birth date every pair agrees on the
  date, so the date says nothing there, while names still separate the classes; the block on
  names in turn estimates the date's ``m``. Each field's ``m`` is the average of the blocks that
  estimated it, weighted by how many matches each block holds; a weak pull toward the declared
  ``m`` keeps a level no match reached from being called impossible. A block that leaves one
  field free (names only, when records hold names and a date) cannot tell many matches that
  often disagree from few that always agree, so there the excess of each closer level over what
  strangers produce is counted instead of running EM.
* The prior (share of all pairs that match) comes from blocks whose key is plain agreement on
  compared fields: a block on birth date holding ``E`` expected matches, when a true match
  agrees on birth date with probability ``m_exact``, implies ``E / m_exact`` matches in all.
* Agreeing levels must end up as evidence for a match (``m > u``). A field whose fit says
  otherwise (a sign EM separated the wrong classes) falls back to its declared ``m``, and the
  model carries a warning saying so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.compare import NULL_LEVEL, Comparison
from matching.model import FellegiSunterModel, FieldModel, probability

__all__ = [
    "TrainingBlock",
    "check_agreeing_levels",
    "em_fixed_u",
    "fit_unlabelled",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_BLOCK_PAIRS = 50
"""Blocks with fewer pairs estimate nothing: a few dozen pairs would be noise."""

MIN_SUPPORT = 5.0
"""A field's ``m`` from one block counts only if that many expected matches had a value."""

PSEUDO_MATCHES = 10.0
"""Weight of the declared ``m`` in each block's estimate, in matches."""


@dataclass(frozen=True)
class TrainingBlock:
    """The candidate pairs of one blocking rule, as used for fitting.

    Attributes:
        name: Rule name (for warnings).
        rows: Rows of the candidates' level matrix that share a key of this rule.
        held_out: Comparisons this rule reads: constant within the block, so not estimated.
        recall_fields: Comparisons whose exact agreement is exactly what puts a true match in
            this block (the rule's plain, untruncated fields with the comparisons'
            normalisers); ``None`` when the rule is looser, so it cannot size the prior.
        whole_values: The rule compares whole values (no prefixes, no first words): its pairs
            agree on what it reads, so weights from random pairs describe them.
    """

    name: str
    rows: IntArray
    held_out: frozenset[int]
    recall_fields: tuple[int, ...] | None
    whole_values: bool = True


def _level_patterns(
    gamma: npt.NDArray[np.int8], active: Sequence[int], levels: Sequence[int]
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """The distinct patterns of levels over the ``active`` columns and how many pairs have
    each, so that EM iterates over hundreds of patterns rather than millions of pairs."""
    cols = gamma[:, list(active)].astype(np.int64) + 1  # NULL_LEVEL becomes 0
    radix = [n + 1 for n in levels]
    if math.prod(radix) < 2**62:  # one integer per pattern: much faster to sort than rows
        keys = np.zeros(len(cols), dtype=np.int64)
        for k, size in enumerate(radix):
            keys = keys * size + cols[:, k]
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    else:
        _, first, counts = np.unique(cols, axis=0, return_index=True, return_counts=True)
    return cols[first] - 1, counts.astype(np.float64)


def em_fixed_u(
    gamma: npt.NDArray[np.int8],
    active: Sequence[int],
    m: Sequence[FloatArray],
    u: Sequence[FloatArray],
    prior_m: Sequence[FloatArray],
    start_share: float = 0.1,
    max_iterations: int = 200,
    tolerance: float = 1e-7,
) -> tuple[list[FloatArray], FloatArray, float]:
    """EM for ``m`` of the ``active`` comparisons and the match share, with ``u`` held fixed.

    Pairs are grouped by their pattern of levels first, so each iteration costs the number of
    distinct patterns (hundreds), not pairs (millions).

    Args:
        gamma: Levels of the block's pairs, shape ``(pairs, comparisons)``.
        active: Comparisons to use and estimate; the others are ignored.
        m: Starting m per comparison (all of them, indexed like ``gamma``'s columns).
        u: Fixed u per comparison.
        prior_m: Declared m per comparison: the Dirichlet pull (:data:`PSEUDO_MATCHES`).
        start_share: Starting share of matches among the pairs.
        max_iterations: Upper bound on iterations.
        tolerance: Stop when no m and not the share moves by more than this.

    Returns:
        ``(m, support, share)``: m per active comparison, the expected number of matches with
        a value for each active comparison, and the share of matches among the pairs.
    """
    patterns, weight = _level_patterns(gamma, active, [len(m[c]) for c in active])
    total = weight.sum()
    ms = [np.asarray(m[c], dtype=np.float64).copy() for c in active]
    us = [np.maximum(np.asarray(u[c], dtype=np.float64), 1e-12) for c in active]
    pulls = [PSEUDO_MATCHES * np.asarray(prior_m[c], dtype=np.float64) for c in active]
    share = min(max(start_share, 1e-6), 1 - 1e-6)
    support = np.zeros(len(active))
    for _ in range(max_iterations):
        logit = np.full(len(patterns), math.log2(share / (1 - share)))
        for k in range(len(active)):
            table = np.append(np.log2(np.maximum(ms[k], 1e-12) / us[k]), 0.0)
            logit += table[patterns[:, k]]
        p = probability(logit) * weight
        delta = 0.0
        for k in range(len(active)):
            col = patterns[:, k]
            present = col != NULL_LEVEL
            counted = np.bincount(col[present], weights=p[present], minlength=len(ms[k]))
            support[k] = counted.sum()
            new = (counted + pulls[k]) / (counted.sum() + pulls[k].sum())
            delta = max(delta, float(np.abs(new - ms[k]).max()))
            ms[k] = new
        new_share = min(max(float(p.sum() / total), 1e-9), 1 - 1e-9)
        delta = max(delta, abs(new_share - share))
        share = new_share
        if delta < tolerance:
            break
    return ms, support, share


def check_agreeing_levels(
    comp: Comparison, m: Sequence[float] | FloatArray, u: Sequence[float] | FloatArray
) -> list[str]:
    """Names of the agreeing levels (see ``Comparison.agreeing_levels``) where ``m <= u``."""
    names = comp.level_names
    return [names[k] for k in range(comp.agreeing_levels) if m[k] <= u[k]]


@dataclass
class _BlockFit:
    block: TrainingBlock
    m: dict[int, FloatArray]
    support: dict[int, float]
    expected: float


def fit_unlabelled(
    gamma: npt.NDArray[np.int8],
    blocks: Sequence[TrainingBlock],
    u_random: Sequence[FloatArray],
    start: FellegiSunterModel,
    total_pairs: int,
    present: Sequence[float] | None = None,
) -> FellegiSunterModel:
    """A model fitted to candidate pairs without labels (see the module docstring).

    Args:
        gamma: Levels of every candidate pair, shape ``(pairs, comparisons)``.
        blocks: The candidates of each blocking rule.
        u_random: u per comparison from random pairs
            (:func:`matching.random_pairs.estimate_u_coded`).
        start: The declared model: starting and fallback m, and the prior if none is found.
        total_pairs: Number of all possible pairs (the prior's denominator).
        present: Per comparison, the share of all pairs with a value on both sides (default
            1): m is among pairs that have values, so a block on a field half the records
            leave blank holds only a quarter of the matches its m suggests.
    """
    comps = [f.comparison for f in start.fields]
    declared = [np.asarray(c.prior_m, dtype=np.float64) for c in comps]
    u = [np.asarray(x, dtype=np.float64) for x in u_random]
    m = [d.copy() for d in declared]
    prior = start.prior
    notes: list[str] = []
    for _ in range(2):  # the second round uses u with the matches among random pairs removed
        fits = _fit_blocks(gamma, blocks, m, u, declared)
        m, notes = _combine(comps, fits, declared, u, gamma)
        prior, note = _prior(fits, m, total_pairs, start.prior, present or [1.0] * len(comps))
        notes += [note] if note else []
        u = [
            _without_matches(comps[c], ur, mc, prior) if (gamma[:, c] != NULL_LEVEL).any() else ur
            for c, (ur, mc) in enumerate(zip(u_random, m, strict=True))
        ]
    fields = tuple(
        FieldModel(c, tuple(float(x) for x in mc), tuple(float(x) for x in uc))
        for c, mc, uc in zip(comps, m, u, strict=True)
    )
    return FellegiSunterModel(fields, prior, warnings=tuple(notes))


def _fit_blocks(
    gamma: npt.NDArray[np.int8],
    blocks: Sequence[TrainingBlock],
    m: Sequence[FloatArray],
    u: Sequence[FloatArray],
    declared: Sequence[FloatArray],
) -> list[_BlockFit]:
    """EM in each block that leaves several fields free; counting where it leaves one."""
    fits = []
    for block in blocks:
        if len(block.rows) < MIN_BLOCK_PAIRS:
            continue
        sub = gamma[block.rows]
        active = [
            c
            for c in range(gamma.shape[1])
            if c not in block.held_out and (sub[:, c] != NULL_LEVEL).any()
        ]
        if len(active) == 1 and block.whole_values:
            (c,) = active
            mc, matches = _one_free_field(sub[:, c], u[c], declared[c])
            fits.append(_BlockFit(block, {c: mc}, {c: matches}, matches))
        elif len(active) > 1:
            ms, support, share = em_fixed_u(sub, active, m, u, declared)
            fits.append(
                _BlockFit(
                    block,
                    dict(zip(active, ms, strict=True)),
                    {c: float(s) for c, s in zip(active, support, strict=True)},
                    share * len(block.rows),
                )
            )
    return fits


def _one_free_field(
    levels: npt.NDArray[np.int8], u: FloatArray, declared: FloatArray
) -> tuple[FloatArray, float]:
    """m of the one field a block leaves free, by counting rather than EM.

    With one free field EM cannot tell many matches that often disagree from few that always
    agree: both fit the counts. What the counts do show is the excess of each closer level
    over what strangers produce (``u`` times the non-matches): that excess is the matches at
    that level. The share of matches that disagree outright is hidden among the strangers, so
    the "else" level keeps its declared m and the closer levels share the rest.

    Returns:
        ``(m, matches)``: m per level and the estimated matches with a value.
    """
    present = levels[levels != NULL_LEVEL].astype(np.int64)
    n = len(present)
    counts = np.bincount(present, minlength=len(u))[: len(u)].astype(np.float64)
    last = len(u) - 1
    matches = 0.0
    closer = counts[:last]
    for _ in range(3):  # strangers are the pairs that are not matches: refine once or twice
        closer = np.maximum(counts[:last] - (n - matches) * u[:last], 0.0)
        closer += PSEUDO_MATCHES * declared[:last]
        matches = min(float(closer.sum()) / (1.0 - declared[last]), float(n))
    m = np.append((1.0 - declared[last]) * closer / closer.sum(), declared[last])
    return m, matches


def _combine(
    comps: Sequence[Comparison],
    fits: Sequence[_BlockFit],
    declared: Sequence[FloatArray],
    u: Sequence[FloatArray],
    gamma: npt.NDArray[np.int8],
) -> tuple[list[FloatArray], list[str]]:
    """Each field's m: the support-weighted mean of the blocks whose estimate passes the check."""
    out, notes = [], []
    for c, comp in enumerate(comps):
        estimates, weights, rejected = [], [], []
        for fit in fits:
            if c not in fit.m or fit.support[c] < MIN_SUPPORT:
                continue
            bad = check_agreeing_levels(comp, fit.m[c], u[c])
            if bad:
                rejected.append(f"{fit.block.name} ({', '.join(bad)})")
                continue
            estimates.append(fit.m[c])
            weights.append(fit.support[c])
        if estimates:
            out.append(np.average(np.stack(estimates), axis=0, weights=weights))
            continue
        out.append(declared[c].copy())
        if not (gamma[:, c] != NULL_LEVEL).any():
            continue  # no values at all: nothing to fit, nothing to warn about
        if rejected:
            notes.append(
                f"{comp.label}: EM gave m <= u on agreeing levels in blocks "
                f"{'; '.join(rejected)}; kept the declared m"
            )
        else:
            notes.append(
                f"{comp.label}: no blocking rule leaves it free to estimate m; kept the declared m"
            )
        bad = check_agreeing_levels(comp, out[c], u[c])
        if bad:
            notes.append(f"{comp.label}: declared m <= u on {', '.join(bad)}")
    return out, notes


def _prior(
    fits: Sequence[_BlockFit],
    m: Sequence[FloatArray],
    total_pairs: int,
    fallback: float,
    present: Sequence[float],
) -> tuple[float, str | None]:
    """Matches among all pairs: the median over blocks of ``expected / recall``."""
    totals = []
    for fit in fits:
        fields = fit.block.recall_fields
        if fields is None:
            continue
        recall = float(np.prod([m[c][0] * present[c] for c in fields]))
        if recall > 0:
            totals.append(fit.expected / recall)
    floor = 1.0 / max(total_pairs, 1)
    if totals:
        return min(max(float(np.median(totals)) / max(total_pairs, 1), floor), 0.5), None
    if fits:
        lower = max(f.expected for f in fits) / max(total_pairs, 1)
        return min(max(lower, floor), 0.5), (
            "prior: no blocking rule is plain agreement on compared fields; "
            "used the largest block's matches (a lower bound)"
        )
    return fallback, "prior: no block large enough to estimate it; kept the declared prior"


def _without_matches(
    comp: Comparison, u_random: FloatArray, m: FloatArray, prior: float
) -> FloatArray:
    """u among non-matches, from u among random pairs of which ``prior`` match.

    Only the exact level, counted over all pairs, is corrected: there the matches are a
    measurable part of the count (a shared birth date); a sampled level's few matches are
    below its sampling noise.
    """
    out: FloatArray = np.asarray(u_random, dtype=np.float64).copy()
    if comp.exact_level != 0:
        return out
    out[0] = max((out[0] - prior * m[0]) / (1.0 - prior), 0.05 * out[0])
    out[1:] *= (1.0 - out[0]) / out[1:].sum()
    return out
