"""Dates compared as dates: a typo, a day and month swapped or a near date is its own level,
which a string similarity over "1934-11-05" cannot tell apart from a different date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from matching.codes import Codes, Vocabulary, workers
from matching.compare import Comparison, Levels

__all__ = ["DateComparison"]


@dataclass(frozen=True)
class DateComparison(Comparison):
    """Dates: exact, one typo or day and month swapped, within ``years`` years, else.

    Values are compared in the ISO form of :func:`matching.normalise.date`, typos on the digits
    alone, so an impossible date kept as text ("19341195") is still one typo from "1934-11-05".

    Examples:
        >>> DateComparison("date_of_birth").level_names
        ('exact', 'typo', 'within 1y', 'else')
    """

    normaliser: str = "date"
    years: int = 1

    default_m: ClassVar[tuple[float, ...]] = (0.85, 0.1, 0.02, 0.03)

    def _validate(self) -> None:
        if self.years < 1:
            raise ValueError(f"comparison {self.field!r}: years must be at least 1")

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("exact", "typo", f"within {self.years}y", "else")

    @property
    def agreeing_levels(self) -> int:
        """Exact and typo only: two birth dates a year apart are a near miss, not agreement,
        and random people fall within a year of each other more often than true matches do."""
        return 2

    def _default(self, which: str) -> tuple[float, ...]:
        if which == "m":
            return self.default_m
        return (0.0002, 0.002, 0.03, 0.9678)

    def _grade_coded(self, vocab: Vocabulary, a: Codes, b: Codes) -> Levels:
        # Each distinct date is parsed once, not once per pair it appears in: a bulk fit
        # grades hundreds of thousands of random pairs.
        parts = np.full((len(vocab), 4), -1, dtype=np.int64)
        digits = np.empty(len(vocab), dtype=object)
        for k in np.unique(np.concatenate([a, b])).tolist():
            value = str(vocab[k])
            digits[k] = value.replace("-", "")
            d = _iso(value)
            if d is not None:
                parts[k] = (d.year, d.month, d.day, d.toordinal())
        dists = process.cpdist(
            digits[a].tolist(), digits[b].tolist(), scorer=OSA.distance, workers=workers(len(a))
        )
        pa, pb = parts[a], parts[b]
        valid = (pa[:, 3] >= 0) & (pb[:, 3] >= 0)
        swapped = valid & (pa[:, 0] == pb[:, 0]) & (pa[:, 1] == pb[:, 2]) & (pa[:, 2] == pb[:, 1])
        close = valid & (np.abs(pa[:, 3] - pb[:, 3]) <= 366 * self.years)
        out = np.full(len(a), 3, dtype=np.int8)
        out[close] = 2
        out[(dists <= 1) | swapped] = 1
        return out


def _iso(s: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        return None
