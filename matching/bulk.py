"""Bulk matching of whole files: blocking, vectorised comparison, EM, scores, tiers.

``link(left, right, spec)`` finds which right record each left record is (an acquired firm's
clients against ours); ``dedupe(records, spec)`` finds duplicates within one file. Both run the
same steps as the real-time matcher, on arrays:

1. normalise every compared field of every record once;
2. candidate pairs from the blocking rules (records sharing a blocking key);
3. levels of every candidate pair, one rapidfuzz call per field;
4. fit the model to this data: u from random pairs, m by EM over the candidates, term
   frequencies from the values (see :mod:`matching.model`);
5. weights, probabilities and tiers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from matching.model import (
    FellegiSunterModel,
    estimate_u,
    expectation_maximisation,
    term_frequencies,
)
from matching.result import Tier
from matching.spec import MatchSpec
from matching.tiers import assign_tiers

__all__ = ["LinkedPair", "Progress", "candidate_pairs", "dedupe", "fit", "link", "score_pairs"]

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` so a CLI can draw a bar."""

Records = Sequence[Mapping[str, object]]
IntArray = npt.NDArray[np.int64]

MIN_FIT_PAIRS = 500
"""Fewer candidate pairs than this keep the spec's prior model: EM and term frequencies over a
handful of records would be noise (two records make every value 50% frequent)."""

MAX_BLOCK = 5_000
"""Blocks larger than this are skipped: a key shared by that many records (a placeholder date,
a default phone) selects nothing and would make the pair count quadratic."""


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


def _normalised(spec: MatchSpec, records: Records) -> list[list[str | None]]:
    return [[c.value(r) for r in records] for c in spec.comparisons]


def candidate_pairs(
    spec: MatchSpec, left: Records, right: Records | None = None
) -> tuple[IntArray, IntArray]:
    """Index arrays ``(i, j)`` of the pairs sharing at least one blocking key.

    For deduplication (``right is None``) pairs are within ``left`` with ``i < j``.
    """
    blocks: dict[str, list[int]] = defaultdict(list)
    for idx, rec in enumerate(right if right is not None else left):
        for key in spec.blocking.keys(rec):
            blocks[key].append(idx)
    n_right = len(right) if right is not None else len(left)
    codes: list[IntArray] = []
    if right is not None:
        left_blocks: dict[str, list[int]] = defaultdict(list)
        for idx, rec in enumerate(left):
            for key in spec.blocking.keys(rec):
                left_blocks[key].append(idx)
        for key, li in left_blocks.items():
            ri = blocks.get(key)
            if ri is None or len(li) * len(ri) > MAX_BLOCK * MAX_BLOCK // 100:
                continue
            a, b = np.asarray(li, dtype=np.int64), np.asarray(ri, dtype=np.int64)
            codes.append((a[:, None] * n_right + b[None, :]).ravel())
    else:
        for members in blocks.values():
            if len(members) < 2 or len(members) > MAX_BLOCK:
                continue
            a = np.asarray(members, dtype=np.int64)
            i, j = np.triu_indices(len(a), k=1)
            codes.append(a[i] * n_right + a[j])
    if not codes:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    unique = np.unique(np.concatenate(codes))
    return unique // n_right, unique % n_right


def _levels(
    spec: MatchSpec,
    left_values: list[list[str | None]],
    right_values: list[list[str | None]],
    i: IntArray,
    j: IntArray,
    progress: Progress,
) -> npt.NDArray[np.int8]:
    gamma = np.empty((len(i), len(spec.comparisons)), dtype=np.int8)
    for k, comp in enumerate(spec.comparisons):
        lv, rv = left_values[k], right_values[k]
        gamma[:, k] = comp.levels([lv[x] for x in i], [rv[x] for x in j])
        progress("compare", k + 1, len(spec.comparisons))
    return gamma


def fit(
    spec: MatchSpec,
    left: Records,
    right: Records | None = None,
    progress: Progress = _noop,
) -> MatchSpec:
    """The spec with its model fitted to these records, without labels.

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
) -> tuple[
    MatchSpec,
    IntArray,
    IntArray,
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    progress("normalise", 0, 1)
    lv = _normalised(spec, left)
    rv = _normalised(spec, right) if right is not None else lv
    progress("normalise", 1, 1)
    progress("block", 0, 1)
    i, j = candidate_pairs(spec, left, right)
    progress("block", 1, 1)
    gamma = _levels(spec, lv, rv, i, j, progress)
    model = spec.current_model()
    if fit_model and len(i) >= MIN_FIT_PAIRS:
        progress("fit", 0, 2)
        u = estimate_u(spec.comparisons, lv, rv if right is not None else None)
        progress("fit", 1, 2)
        m, _, lam_candidates = expectation_maximisation(gamma, model)
        n_left = len(left)
        total_pairs = n_left * len(right) if right is not None else n_left * (n_left - 1) // 2
        prior = min(max(lam_candidates * len(i) / max(total_pairs, 1), 1e-12), 0.5)
        tfs = {
            c.label: term_frequencies(lv[k] + (rv[k] if right is not None else []))
            for k, c in enumerate(spec.comparisons)
            if c.term_frequency
        }
        fields = tuple(replace(fm, m=m[k], u=u[k]) for k, fm in enumerate(model.fields))
        model = FellegiSunterModel(fields, prior).with_term_frequencies(tfs)
        spec = spec.with_model(model)
        progress("fit", 2, 2)
    tf_left = [lv[k] if c.term_frequency else [] for k, c in enumerate(spec.comparisons)]
    left_values = [[col[x] for x in i] if col else [] for col in tf_left]
    fw, total, prob = model.score(gamma, left_values)
    return spec, i, j, fw, total, prob


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
    return [
        LinkedPair(
            left=int(i[r]),
            right=int(j[r]),
            probability=float(prob[r]),
            tier=tier,
            weight=float(total[r]),
            weights=dict(zip(labels, (round(float(w), 4) for w in fw[r]), strict=True)),
        )
        for r, tier in tiers
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
    :func:`matching.tiers.assign_tiers` applies per left record, as in real time.

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
    spec, i, j, fw, total, prob = _run(spec, left, right, progress, fit_model)
    rows_by_left: dict[int, list[int]] = defaultdict(list)
    for r in np.flatnonzero(prob >= spec.t_review).tolist():
        rows_by_left[int(i[r])].append(r)
    tiers: list[tuple[int, Tier]] = []
    for rows in rows_by_left.values():
        decided = assign_tiers(
            [float(total[r]) for r in rows],
            [float(prob[r]) for r in rows],
            spec.t_auto,
            spec.t_review,
            spec.runner_up_bits,
        )
        tiers.extend((rows[k], tier) for k, tier in decided)
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
    are three pairs.
    """
    spec, i, j, fw, total, prob = _run(spec, records, None, progress, fit_model)
    tiers: list[tuple[int, Tier]] = [
        (int(r), "auto" if prob[r] >= spec.t_auto else "review")
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
    lv = _normalised(spec, left)
    rv = _normalised(spec, right)
    gamma = _levels(spec, lv, rv, i, j, _noop)
    model = spec.current_model()
    left_values = [
        [lv[k][x] for x in i] if c.term_frequency else [] for k, c in enumerate(spec.comparisons)
    ]
    return model.score(gamma, left_values)
