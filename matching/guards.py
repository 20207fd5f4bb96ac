"""Guards that keep a score from linking what it should not, shared by one record and bulk.

Two things a Fellegi-Sunter sum cannot see by itself:

* **Evidence is not identity.** Sister companies share a group website, a switchboard and an
  address; a team shares a mailbox. Those agreements are not independent of each other, and
  summed they can outweigh two different names. So a pair may link without a steward only if
  one of the spec's *identity* comparisons (a name) agrees at some level.
* **Generic values.** A value of an evidence field that ``generic_at`` or more records hold on
  the side being matched against says nothing about which of them a record is: its agreement
  weighs 0. In real time the hub counts holders in its key index
  (:meth:`matching.matcher.FellegiSunterMatcher.score`); in bulk they are counted in the file.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from matching.compare import NULL_LEVEL
from matching.model import FellegiSunterModel
from matching.random_pairs import CodedField
from matching.spec import MatchSpec

__all__ = ["discount_generic", "identity_agrees"]


def identity_agrees(
    spec: MatchSpec, model: FellegiSunterModel, gamma: npt.NDArray[np.int8]
) -> npt.NDArray[np.bool_]:
    """Per pair, whether any identity comparison agrees (one of its agreeing levels: for a
    birth date, exact or a typo, not "within a year").

    Args:
        spec: The spec naming its identity comparisons; none named means every pair passes.
        model: The model whose fields are the columns of ``gamma``.
        gamma: Levels, shape ``(pairs, fields)``.
    """
    if not spec.identity:
        return np.ones(len(gamma), dtype=bool)
    out = np.zeros(len(gamma), dtype=bool)
    for k, fm in enumerate(model.fields):
        if fm.comparison.label in spec.identity:
            col = gamma[:, k]
            out |= (col != NULL_LEVEL) & (col < fm.comparison.agreeing_levels)
    return out


def discount_generic(
    spec: MatchSpec,
    model: FellegiSunterModel,
    gamma: npt.NDArray[np.int8],
    fw: npt.NDArray[np.float64],
    fields: Sequence[CodedField],
    i: npt.NDArray[np.int64],
    dedupe: bool = False,
) -> int:
    """Zero the weight of exact agreement on a generic value of an evidence field, in place.

    Holders are counted on the right side of a link (the records matched against: distinct
    entities, like the hub's golden records). In a file being deduplicated the holders of one
    address include that person's own duplicates, so there only a share of the whole file
    (``generic_share``, a placeholder) makes a value generic.

    Returns:
        How many pair-field weights were zeroed.
    """
    zeroed = 0
    for k, (fm, f) in enumerate(zip(model.fields, fields, strict=True)):
        if fm.comparison.label not in spec.evidence or not len(f.vocab):
            continue
        label = fm.comparison.label
        held = np.bincount(f.right[f.right >= 0], minlength=len(f.vocab))
        flags = np.fromiter(
            (
                spec.is_generic(label, int(n), len(f.right))
                and (not dedupe or n >= spec.generic_share * len(f.right))
                for n in held.tolist()
            ),
            dtype=bool,
            count=len(held),
        )
        rows = np.flatnonzero(gamma[:, k] == fm.comparison.exact_level)
        generic = rows[flags[f.left[i[rows]]]]
        fw[generic, k] = 0.0
        zeroed += len(generic)
    return zeroed
