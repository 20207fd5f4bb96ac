"""Bulk matching of whole files: blocking, vectorised comparison, fitting, scores, tiers.

``link(left, right, spec)`` finds which right record each left record is (an acquired firm's
clients against ours); ``dedupe(records, spec)`` finds duplicates within one file. Both run the
same steps as the real-time matcher, on arrays:

1. normalise each distinct value of every compared field once, and code the values as integers
   (:mod:`matching.bulk_blocking`, :func:`matching.compare.encode`);
2. candidate pairs from the blocking rules (records sharing a blocking key), with numpy;
3. levels of every candidate pair: each distinct pair of values graded once by rapidfuzz;
4. fit the model to this data without labels (:mod:`matching.estimate`): u from seeded random
   pairs, m by EM per blocking rule with that rule's fields held out, the prior from blocks of
   plain agreement; fit warnings are kept on the model and issued as :class:`FitWarning`;
5. weights (term frequencies looked up per value), probabilities and tiers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.bulk_blocking import MAX_BLOCK, Columns, block_pairs
from matching.bulk_fit import fitted_model
from matching.codes import encode
from matching.guards import discount_generic, identity_agrees
from matching.model import FellegiSunterModel, probability
from matching.random_pairs import CodedField
from matching.result import Tier
from matching.spec import MatchSpec
from matching.tiers import assign_tiers

__all__ = [
    "MAX_BLOCK",
    "FitWarning",
    "LinkedPair",
    "Progress",
    "candidate_pairs",
    "dedupe",
    "fit",
    "link",
    "score_pairs",
]

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` so a CLI can draw a bar."""

Records = Sequence[Mapping[str, object]]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MIN_FIT_PAIRS = 500
"""Fewer candidate pairs than this keep the spec's prior model: EM and term frequencies over a
handful of records would be noise (two records make every value 50% frequent)."""


class FitWarning(UserWarning):
    """A bulk fit could not estimate the model as intended; the message says which field."""


@dataclass(frozen=True)
class LinkedPair:
    """One scored pair at review tier or above.

    Attributes:
        left: Index of the left record (for ``dedupe``, the lower index).
        right: Index of the right record.
        probability: Match probability.
        tier: ``auto`` or ``review``.
        weight: Total match weight in bits.
        weights: Weight per comparison label (the explanation).
    """

    left: int
    right: int
    probability: float
    tier: Tier
    weight: float
    weights: Mapping[str, float]


def _noop(stage: str, done: int, total: int) -> None:
    return None


def _columns(left: Records, right: Records | None) -> tuple[Columns, Columns | None]:
    cols = Columns(left)
    return cols, (Columns(right, cols.memo) if right is not None else None)


def _coded(spec: MatchSpec, left: Columns, right: Columns | None) -> list[CodedField]:
    """Each comparison's values of both files as codes into one vocabulary per comparison."""
    out = []
    for comp in spec.comparisons:
        values = []
        for cols in (left, right or left):
            parts = [cols.get(f, comp.normaliser) for f in comp.fields]
            values.append(
                parts[0]
                if len(parts) == 1
                else [comp.combine(*v) for v in zip(*parts, strict=True)]
            )
        if right is None:
            vocab, (codes,) = encode(values[0])
            out.append(CodedField(vocab, codes, codes))
        else:
            vocab, (a, b) = encode(values[0], values[1])
            out.append(CodedField(vocab, a, b))
    return out


def candidate_pairs(
    spec: MatchSpec, left: Records, right: Records | None = None
) -> tuple[IntArray, IntArray]:
    """Index arrays ``(i, j)`` of the pairs sharing at least one blocking key.

    For deduplication (``right is None``) pairs are within ``left`` with ``i < j``.
    """
    lc, rc = _columns(left, right)
    i, j, _ = block_pairs(spec.blocking, lc, rc)
    return i, j


def _levels(
    spec: MatchSpec, fields: Sequence[CodedField], i: IntArray, j: IntArray, progress: Progress
) -> npt.NDArray[np.int8]:
    gamma = np.empty((len(i), len(spec.comparisons)), dtype=np.int8)
    for k, (comp, f) in enumerate(zip(spec.comparisons, fields, strict=True)):
        gamma[:, k] = comp.levels_coded(f.vocab, f.left[i], f.right[j])
        progress("compare", k + 1, len(spec.comparisons))
    return gamma


def fit(
    spec: MatchSpec,
    left: Records,
    right: Records | None = None,
    progress: Progress = _noop,
) -> MatchSpec:
    """The spec with its model fitted to these records, without labels.

    The fitted model's ``warnings`` (also issued as :class:`FitWarning`) say where the fit fell
    back to declared values.

    Args:
        spec: Spec whose comparisons and prior m/u start the fit.
        left: Records (or the left file of a link).
        right: The right file of a link; ``None`` to fit for deduplication.
        progress: Stage callback.

    Returns:
        ``spec`` with a fitted model; unchanged below :data:`MIN_FIT_PAIRS` candidate pairs.
    """
    return _run(spec, left, right, progress, fit_model=True)[0]


def _run(
    spec: MatchSpec,
    left: Records,
    right: Records | None,
    progress: Progress,
    fit_model: bool,
) -> tuple[MatchSpec, IntArray, IntArray, FloatArray, FloatArray, FloatArray, BoolArray]:
    progress("normalise", 0, 1)
    lc, rc = _columns(left, right)
    fields = _coded(spec, lc, rc)
    progress("normalise", 1, 1)
    progress("block", 0, 1)
    i, j, by_rule = block_pairs(spec.blocking, lc, rc)
    progress("block", 1, 1)
    gamma = _levels(spec, fields, i, j, progress)
    model = spec.current_model()
    if fit_model and len(i) >= MIN_FIT_PAIRS:
        progress("fit", 0, 2)
        sizes = (len(left), len(right) if right is not None else None)
        model = fitted_model(spec, model, gamma, fields, (i, j, by_rule), sizes, progress)
        for message in model.warnings:
            warnings.warn(message, FitWarning, stacklevel=3)
        spec = spec.with_model(model)
        progress("fit", 2, 2)
    fw, total_w, prob = _score(model, gamma, fields, i)
    if discount_generic(spec, model, gamma, fw, fields, i, dedupe=right is None):
        total_w = fw.sum(axis=1) + model.prior_weight
        prob = probability(total_w)
    return spec, i, j, fw, total_w, prob, identity_agrees(spec, model, gamma)


def _score(
    model: FellegiSunterModel,
    gamma: npt.NDArray[np.int8],
    fields: Sequence[CodedField],
    i: IntArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Scores of every pair, the term-frequency weights looked up per value, not per pair."""
    fw = model.field_weights(gamma)
    for k, (fm, f) in enumerate(zip(model.fields, fields, strict=True)):
        if not fm.tf:
            continue
        known = np.array([fm.tf.get(v, np.nan) for v in f.vocab.tolist()], dtype=np.float64)
        rows = np.flatnonzero(gamma[:, k] == 0)
        freq = known[f.left[i[rows]]]
        found = ~np.isnan(freq)
        fw[rows[found], k] = model.exact_tf_weights(k, freq[found])
    total = fw.sum(axis=1) + model.prior_weight
    return fw, total, probability(total)


def _pairs(
    spec: MatchSpec,
    i: IntArray,
    j: IntArray,
    fw: npt.NDArray[np.float64],
    total: npt.NDArray[np.float64],
    prob: npt.NDArray[np.float64],
    tiers: list[tuple[int, Tier]],
) -> list[LinkedPair]:
    labels = spec.labels
    rows = np.asarray([r for r, _ in tiers], dtype=np.int64)
    weights = np.round(fw[rows], 4).tolist()
    return [
        LinkedPair(
            left=a,
            right=b,
            probability=p,
            tier=tier,
            weight=w,
            weights=dict(zip(labels, ws, strict=True)),
        )
        for (_, tier), a, b, p, w, ws in zip(
            tiers,
            i[rows].tolist(),
            j[rows].tolist(),
            prob[rows].tolist(),
            total[rows].tolist(),
            weights,
            strict=True,
        )
    ]


def link(
    left: Records,
    right: Records,
    spec: MatchSpec,
    fit_model: bool = True,
    progress: Progress = _noop,
) -> list[LinkedPair]:
    """Pairs of left and right records at review tier or above.

    Each left record has at most one ``auto`` pair: the runner-up rule of
    :func:`matching.tiers.assign_tiers` applies per left record, as in real time. Where the fit
    falls back to declared values it says so with a :class:`FitWarning`.

    Args:
        left: Records to link (canonical field names).
        right: Records to link them to.
        spec: Match spec of the domain.
        fit_model: Fit m/u/prior to these files first (else use the spec's model).
        progress: Stage callback.

    Examples:
        >>> from matching.spec import resource_spec
        >>> a = [{"given_name": "Jon", "family_name": "Smith", "date_of_birth": "1980-01-02"}]
        >>> b = [{"given_name": "John", "family_name": "Smith", "date_of_birth": "19800102"}]
        >>> [(p.left, p.right) for p in link(a, b, resource_spec(), fit_model=False)]
        [(0, 0)]
    """
    spec, i, j, fw, total, prob, identity = _run(spec, left, right, progress, fit_model)
    rows = np.flatnonzero(prob >= spec.t_review)
    rows = rows[np.argsort(i[rows], kind="stable")]
    _, starts, counts = np.unique(i[rows], return_index=True, return_counts=True)
    single = rows[starts[counts == 1]]
    tiers: list[tuple[int, Tier]] = [
        (r, "auto" if p >= spec.t_auto and ok else "review")
        for r, p, ok in zip(
            single.tolist(), prob[single].tolist(), identity[single].tolist(), strict=True
        )
    ]
    for start, count in zip(starts[counts > 1].tolist(), counts[counts > 1].tolist(), strict=True):
        group = rows[start : start + count].tolist()  # a left record with several candidates
        decided = assign_tiers(
            total[group].tolist(),
            prob[group].tolist(),
            spec.t_auto,
            spec.t_review,
            spec.runner_up_bits,
        )
        tiers.extend((group[k], tier if identity[group[k]] else "review") for k, tier in decided)
    tiers.sort()
    return _pairs(spec, i, j, fw, total, prob, tiers)


def dedupe(
    records: Records,
    spec: MatchSpec,
    fit_model: bool = True,
    progress: Progress = _noop,
) -> list[LinkedPair]:
    """Pairs of duplicate records within one file, at review tier or above.

    Unlike :func:`link`, a record may have several ``auto`` pairs: three copies of one person
    are three pairs. Fit fallbacks are reported as :class:`FitWarning`, as for :func:`link`.
    """
    spec, i, j, fw, total, prob, identity = _run(spec, records, None, progress, fit_model)
    tiers: list[tuple[int, Tier]] = [
        (int(r), "auto" if prob[r] >= spec.t_auto and identity[r] else "review")
        for r in np.flatnonzero(prob >= spec.t_review)
    ]
    return _pairs(spec, i, j, fw, total, prob, tiers)


def score_pairs(
    spec: MatchSpec,
    left: Records,
    right: Records,
    i: IntArray,
    j: IntArray,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Field weights, total weight and probability of the given pairs, with the spec's model.

    For callers that find their own candidate pairs (an onboarding run looks them up in the
    hub's key index): every record is normalised once, however many pairs it is in, and each
    field costs one rapidfuzz call for all pairs, rather than one call per record.

    Args:
        spec: Match spec whose current model scores (no fitting).
        left: Records being matched.
        right: Records they are compared with.
        i: Index into ``left`` of each pair.
        j: Index into ``right`` of each pair.

    Examples:
        >>> from matching.spec import resource_spec
        >>> a = [{"given_name": "Jon", "family_name": "Smith", "date_of_birth": "1980-01-02"}]
        >>> b = [{"given_name": "John", "family_name": "Smith", "date_of_birth": "19800102"}]
        >>> idx = np.zeros(1, dtype=np.int64)
        >>> bool(score_pairs(resource_spec(), a, b, idx, idx)[2][0] > 0.9)
        True
    """
    lc, rc = _columns(left, right)
    fields = _coded(spec, lc, rc)
    gamma = _levels(spec, fields, i, j, _noop)
    return _score(spec.current_model(), gamma, fields, i)
