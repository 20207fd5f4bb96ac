"""Fitting a bulk run's model to its own files, without labels: u from random pairs, m by EM
per blocking rule, the prior from blocks of plain agreement, then term frequencies.

Kept apart from :mod:`matching.bulk` (which runs the steps) because this is the statistics: how
each blocking rule becomes a training block and which fields it must hold out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from matching.estimate import TrainingBlock, fit_unlabelled
from matching.model import FellegiSunterModel
from matching.random_pairs import CodedField, estimate_u_coded, generic_values, value_shares
from matching.spec import MatchSpec

IntArray = npt.NDArray[np.int64]
Progress = Callable[[str, int, int], None]


def fitted_model(
    spec: MatchSpec,
    model: FellegiSunterModel,
    gamma: npt.NDArray[np.int8],
    fields: Sequence[CodedField],
    candidates: tuple[IntArray, IntArray, Mapping[str, IntArray]],
    sizes: tuple[int, int | None],
    progress: Progress,
) -> FellegiSunterModel:
    """``model`` fitted to the candidate pairs ``(i, j)`` of a file of ``sizes[0]`` records
    linked to one of ``sizes[1]`` (``None``: deduplicated), without labels."""
    i, j, by_rule = candidates
    n_left, right = sizes
    dedupe = right is None
    u = estimate_u_coded(spec.comparisons, fields, dedupe)
    progress("fit", 1, 2)
    n_right = n_left if right is None else right
    total = n_left * n_right if not dedupe else n_left * (n_left - 1) // 2
    blocks = training_blocks(spec, by_rule, i, j, n_right)
    present = [
        float((f.left >= 0).mean() * (f.right >= 0).mean()) if len(f.left) else 1.0 for f in fields
    ]
    model = fit_unlabelled(gamma, blocks, u, model, total, present)
    return with_frequencies(model, fields, dedupe)


def training_blocks(
    spec: MatchSpec, by_rule: Mapping[str, IntArray], i: IntArray, j: IntArray, n_right: int
) -> list[TrainingBlock]:
    """One training block per rule name: its candidates, what it holds out, and whether a
    true match lands in it exactly when it agrees on compared fields (so it can size the
    prior)."""
    codes = i * n_right + j  # sorted: the candidates come out of np.unique
    out = []
    for name, rule_codes in by_rule.items():
        parts = [p for rule in spec.blocking.rules if rule.name == name for p in rule.parts]
        fields = {p.field for p in parts}
        held = frozenset(k for k, c in enumerate(spec.comparisons) if fields.intersection(c.fields))
        whole = all(p.length is None and not p.first_token for p in parts)
        recall = []
        for part in parts:
            plain = [
                k
                for k, c in enumerate(spec.comparisons)
                if c.fields == (part.field,)
                and c.normaliser == part.normaliser
                and c.exact_level == 0
            ]
            recall.append(plain[0] if plain and whole else None)
        exact = None if None in recall else tuple(sorted({k for k in recall if k is not None}))
        rows = np.searchsorted(codes, rule_codes)
        out.append(TrainingBlock(name, rows, held, exact or None, whole))
    return out


def with_frequencies(
    model: FellegiSunterModel, fields: Sequence[CodedField], dedupe: bool
) -> FellegiSunterModel:
    """Term frequencies for the fields that declare them; for the others, only the generic
    values (:func:`matching.random_pairs.generic_values`), with the u of the rest."""
    out = []
    for fm, f in zip(model.fields, fields, strict=True):
        comp = fm.comparison
        if comp.term_frequency:
            out.append(replace(fm, tf=value_shares(f, dedupe)))
            continue
        generic: dict[str, float] = {}
        if comp.exact_level == 0:
            u, generic = generic_values(f, dedupe, np.asarray(fm.u, dtype=np.float64))
        out.append(replace(fm, u=tuple(float(x) for x in u), tf=generic) if generic else fm)
    return replace(model, fields=tuple(out))
