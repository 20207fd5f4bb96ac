"""Fellegi-Sunter: turn comparison levels into a match weight, a probability and an explanation.

For a pair with level ``l_f`` on each field ``f``::

    weight = log2(prior / (1 - prior)) + sum_f log2(m_f[l_f] / u_f[l_f])
    probability = 2**weight / (1 + 2**weight)

``m`` is how often a level occurs among true matches, ``u`` among non-matches, ``prior`` the
chance that two records picked at random match. A missing value adds 0: no evidence either way.
Each field's term is its weight in the explanation a steward sees.

Where they come from, without labels: see :mod:`matching.estimate` (u from random pairs, m by
EM per blocking rule with the rule's fields held out, the prior from the data). Plain EM over
all candidates (:func:`expectation_maximisation`) is kept for callers that want it, but drifts
on records with few fields: candidates agree on their blocking fields, and EM can lock onto
that instead of "same person".

* Once stewards have decided enough pairs, :meth:`FellegiSunterModel.with_labels` re-estimates
  ``m`` (and ``u``) from those decisions.

Term-frequency adjustment: on the exact level of a field declared ``term_frequency=True``,
``u`` becomes the frequency of the agreed value, so agreeing on a rare surname weighs more than
agreeing on "smith".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.codes import encode
from matching.compare import NULL_LEVEL, Comparison

__all__ = [
    "FellegiSunterModel",
    "FieldModel",
    "estimate_u",
    "expectation_maximisation",
    "model_from_dict",
    "model_to_dict",
    "probability",
    "term_frequencies",
]

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-9


def probability(weight: FloatArray | float) -> FloatArray:
    """Match probability from a match weight in bits (a logistic in base 2)."""
    w = np.clip(np.asarray(weight, dtype=np.float64), -60.0, 60.0)
    out: FloatArray = 1.0 / (1.0 + np.exp2(-w))
    return out


@dataclass(frozen=True)
class FieldModel:
    """m and u per level of one comparison, and its term frequencies.

    Attributes:
        comparison: The comparison whose levels these are.
        m: Probability of each level among matches.
        u: Probability of each level among non-matches.
        tf: Values whose exact agreement weighs ``log2(m / frequency)``, with their relative
            frequency: every value of a ``term_frequency`` comparison, only the generic values
            (a placeholder date, a switchboard number) of the others.
    """

    comparison: Comparison
    m: tuple[float, ...]
    u: tuple[float, ...]
    tf: Mapping[str, float] = field(default_factory=dict, hash=False, compare=False)

    @cached_property
    def table(self) -> FloatArray:
        """``log2(m/u)`` per level, with a trailing 0 so ``table[NULL_LEVEL]`` is 0."""
        m = np.maximum(np.asarray(self.m), _EPS)
        u = np.maximum(np.asarray(self.u), _EPS)
        out: FloatArray = np.append(np.log2(m / u), 0.0)
        return out


@dataclass(frozen=True)
class FellegiSunterModel:
    """A fitted (or prior) Fellegi-Sunter model over a fixed list of comparisons.

    Attributes:
        fields: One :class:`FieldModel` per comparison, in spec order.
        prior: Probability that two random records match (lambda).
        warnings: What a fit to data could not do as intended (a field kept its declared m
            because EM gave m <= u on an agreeing level...): a caller shows them rather than
            trusting the scores silently.
    """

    fields: tuple[FieldModel, ...]
    prior: float
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        """Reject a prior that makes every probability 0 or 1."""
        if not 0.0 < self.prior < 1.0:
            raise ValueError(f"prior must lie strictly within (0, 1), got {self.prior}")

    @classmethod
    def from_comparisons(
        cls, comparisons: Sequence[Comparison], prior: float
    ) -> FellegiSunterModel:
        """The model of the comparisons' declared (or default) prior m and u."""
        return cls(tuple(FieldModel(c, c.prior_m, c.prior_u) for c in comparisons), prior)

    @property
    def labels(self) -> list[str]:
        """Field labels, in order: the explanation and output column names."""
        return [f.comparison.label for f in self.fields]

    @property
    def prior_weight(self) -> float:
        """``log2(prior / (1 - prior))``: the weight of a pair with no evidence at all."""
        return math.log2(self.prior / (1.0 - self.prior))

    def field_weights(
        self, gamma: npt.NDArray[np.int8], left_values: Sequence[Sequence[str | None]] | None = None
    ) -> FloatArray:
        """Weight of every field of every pair, shape ``(pairs, fields)``.

        Args:
            gamma: Levels, shape ``(pairs, fields)``.
            left_values: Per field, the normalised value of the pair's left record; needed only
                for the term-frequency adjustment (skipped when ``None``).
        """
        out = np.zeros(gamma.shape, dtype=np.float64)
        for j, fm in enumerate(self.fields):
            col = gamma[:, j]
            out[:, j] = fm.table[col]
            if fm.tf and left_values is not None:
                rows = np.flatnonzero(col == 0)
                values = left_values[j]
                m0 = max(fm.m[0], _EPS)
                for r in rows.tolist():
                    freq = fm.tf.get(values[r] or "")
                    if freq is not None:
                        out[r, j] = math.log2(m0 / max(freq, _EPS))
        return out

    def exact_tf_weights(self, j: int, freqs: FloatArray) -> FloatArray:
        """Weight of exact agreement on field ``j`` for values of these relative frequencies."""
        m0 = max(self.fields[j].m[0], _EPS)
        out: FloatArray = np.log2(m0 / np.maximum(freqs, _EPS))
        return out

    def score(
        self, gamma: npt.NDArray[np.int8], left_values: Sequence[Sequence[str | None]] | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Field weights, total match weight and probability of every pair."""
        fw = self.field_weights(gamma, left_values)
        total = fw.sum(axis=1) + self.prior_weight
        return fw, total, probability(total)

    def with_labels(
        self, gamma: npt.NDArray[np.int8], is_match: Sequence[bool], strength: float = 10.0
    ) -> FellegiSunterModel:
        """Re-estimate m (from matches) and u (from non-matches) out of steward decisions.

        Each side is smoothed toward the current values with ``strength`` pseudo-pairs, so a
        handful of decisions nudges the model rather than overturning it.

        Args:
            gamma: Levels of the decided pairs, shape ``(pairs, fields)``.
            is_match: ``True`` where the steward said "match".
            strength: Weight of the current m/u, in pairs.
        """
        labels = np.asarray(is_match, dtype=bool)
        fields = []
        for j, fm in enumerate(self.fields):
            m = _smoothed_counts(gamma[labels, j], fm.m, strength)
            u = _smoothed_counts(gamma[~labels, j], fm.u, strength)
            fields.append(replace(fm, m=m, u=u))
        return replace(self, fields=tuple(fields))

    def with_term_frequencies(self, tfs: Mapping[str, Mapping[str, float]]) -> FellegiSunterModel:
        """The same model with term-frequency tables, by field label."""
        return replace(
            self,
            fields=tuple(
                replace(f, tf=dict(tfs.get(f.comparison.label, f.tf))) for f in self.fields
            ),
        )


def _smoothed_counts(
    levels: npt.NDArray[np.int8], prior: Sequence[float], strength: float
) -> tuple[float, ...]:
    """Level frequencies among non-null ``levels``, blended with ``prior`` pseudo-counts."""
    n = len(prior)
    present = levels[levels != NULL_LEVEL]
    counts = np.bincount(present.astype(np.int64), minlength=n)[:n].astype(np.float64)
    blended = counts + strength * np.asarray(prior, dtype=np.float64)
    return tuple(float(x) for x in blended / blended.sum())


def estimate_u(
    comparisons: Sequence[Comparison],
    left: Sequence[Sequence[str | None]],
    right: Sequence[Sequence[str | None]] | None = None,
    max_pairs: int = 200_000,
    seed: int = 1,
) -> list[tuple[float, ...]]:
    """u per level of each comparison, from pairs of records drawn at random.

    Random pairs are almost surely non-matches, so level frequencies among them are u. Rare
    levels (exact agreement on an e-mail) are smoothed toward the declared prior u. Bulk runs
    use :func:`matching.estimate.estimate_u_coded`, which also counts the exact level over all
    pairs and removes the matches among random pairs.

    Args:
        comparisons: The comparisons, in order.
        left: Per comparison, the normalised values of every left record.
        right: Same for the right records; ``None`` for deduplication (pairs within ``left``).
        max_pairs: How many random pairs to draw.
        seed: Random seed, so a fit is repeatable.
    """
    n_left = len(left[0]) if left else 0
    n_right = len(right[0]) if right else n_left
    if n_left < 2 or n_right < 1:
        return [c.prior_u for c in comparisons]
    distinct = n_left * n_right if right is not None else n_left * (n_left - 1)
    max_pairs = min(max_pairs, distinct)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n_left, max_pairs)
    j = rng.integers(0, n_right, max_pairs)
    if right is None:
        keep = i != j
        i, j = i[keep], j[keep]
    other = right if right is not None else left
    out = []
    for k, comp in enumerate(comparisons):
        vocab, (a, b) = encode(left[k], other[k])
        levels = comp.levels_coded(vocab, a[i], b[j])
        out.append(_smoothed_counts(levels, comp.prior_u, strength=10.0))
    return out


def expectation_maximisation(
    gamma: npt.NDArray[np.int8],
    model: FellegiSunterModel,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]], float]:
    """EM for a two-class mixture over candidate pairs, without labels.

    Starts from ``model`` (prior m/u and prior), alternates the match probability of every pair
    (E) with level frequencies weighted by it (M).

    Args:
        gamma: Levels of the candidate pairs, shape ``(pairs, fields)``.
        model: Starting values.
        max_iterations: Upper bound on iterations.
        tolerance: Stop when no m, u or prior moves by more than this.

    Returns:
        ``(m, u, prior)`` among the candidate pairs.
    """
    m = [np.asarray(f.m, dtype=np.float64) for f in model.fields]
    u = [np.asarray(f.u, dtype=np.float64) for f in model.fields]
    lam = min(max(model.prior, 1e-4), 0.5)
    if len(gamma) == 0:
        return [tuple(x) for x in m], [tuple(x) for x in u], lam
    idx = gamma.astype(np.int64)
    for _ in range(max_iterations):
        logit = np.full(len(gamma), math.log2(lam / (1 - lam)))
        for j in range(len(m)):
            table = np.append(np.log2(np.maximum(m[j], _EPS) / np.maximum(u[j], _EPS)), 0.0)
            logit += table[idx[:, j]]
        p = probability(logit)
        new_m, new_u, delta = [], [], 0.0
        for j in range(len(m)):
            col = idx[:, j]
            present = col != NULL_LEVEL
            n_levels = len(m[j])
            wm = np.bincount(col[present], weights=p[present], minlength=n_levels) + 1e-3
            wu = np.bincount(col[present], weights=1 - p[present], minlength=n_levels) + 1e-3
            mj, uj = wm / wm.sum(), wu / wu.sum()
            delta = max(delta, float(np.abs(mj - m[j]).max()), float(np.abs(uj - u[j]).max()))
            new_m.append(mj)
            new_u.append(uj)
        new_lam = float(min(max(p.mean(), 1e-9), 1 - 1e-9))
        delta = max(delta, abs(new_lam - lam))
        m, u, lam = new_m, new_u, new_lam
        if delta < tolerance:
            break
    return [tuple(float(x) for x in a) for a in m], [tuple(float(x) for x in a) for a in u], lam


def term_frequencies(values: Iterable[str | None]) -> dict[str, float]:
    """Relative frequency of each non-missing value."""
    counts = Counter(v for v in values if v is not None)
    total = sum(counts.values())
    return {v: c / total for v, c in counts.items()} if total else {}


def model_to_dict(model: FellegiSunterModel) -> dict[str, Any]:
    """A model as plain data (JSON), by field label. Term-frequency tables are left out (they
    are re-learned from the data a matcher runs on); a field's few generic values are kept,
    because its exact-level u was fitted without them and would make agreeing on a
    placeholder strong evidence."""
    fields = []
    for f in model.fields:
        entry: dict[str, Any] = {
            "label": f.comparison.label,
            "levels": list(f.comparison.level_names),
            "m": list(f.m),
            "u": list(f.u),
        }
        if f.tf and not f.comparison.term_frequency:
            entry["generic"] = dict(f.tf)
        fields.append(entry)
    return {"prior": model.prior, "fields": fields}


def model_from_dict(
    data: Mapping[str, Any], comparisons: Sequence[Comparison]
) -> FellegiSunterModel:
    """The model saved by :func:`model_to_dict`, checked against the spec it will serve.

    Raises:
        ValueError: Naming the field whose levels or probabilities do not fit.
    """
    fields = {f.get("label"): f for f in data.get("fields", []) if isinstance(f, Mapping)}
    out = []
    for comp in comparisons:
        saved = fields.get(comp.label)
        if saved is None:
            raise ValueError(f"field {comp.label!r}: not in the saved model")
        if list(saved.get("levels", [])) != list(comp.level_names):
            raise ValueError(
                f"field {comp.label!r}: saved levels {saved.get('levels')} are not the spec's "
                f"{list(comp.level_names)}"
            )
        probs = []
        for which in ("m", "u"):
            values = tuple(float(x) for x in saved.get(which, []))
            if len(values) != len(comp.level_names) or any(not 0 <= v <= 1 for v in values):
                raise ValueError(f"field {comp.label!r}: {which} must be one probability per level")
            if abs(sum(values) - 1.0) > 1e-6:
                raise ValueError(f"field {comp.label!r}: {which} must sum to 1")
            probs.append(values)
        generic = saved.get("generic") or {}
        if not isinstance(generic, Mapping) or any(
            not isinstance(k, str) or not 0 < float(v) <= 1 for k, v in generic.items()
        ):
            raise ValueError(f"field {comp.label!r}: generic must map values to shares")
        tf = {} if comp.term_frequency else {k: float(v) for k, v in generic.items()}
        out.append(FieldModel(comp, probs[0], probs[1], tf=tf))
    return FellegiSunterModel(tuple(out), float(data.get("prior", 0)))
