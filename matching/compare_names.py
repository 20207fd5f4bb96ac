"""A comparison over two fields: given and family name entered the wrong way round.

Kept apart from the one-field comparisons in :mod:`matching.compare` because it reads two
fields and combines them into one compared value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from matching.codes import Codes, Vocabulary, workers
from matching.compare import Comparison, Levels, _check_thresholds

__all__ = ["NamesSwapped"]


_NAME_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class NamesSwapped(Comparison):
    """Evidence that given and family name were entered the wrong way round.

    The name comparisons see a swapped pair ("Robert Sheldon" / "Sheldon Robert") as two
    disagreements, about -5 bits, though it is a common data-entry error. This comparison adds
    the evidence back: level ``swapped`` when each name is close to the other side's other
    name (Jaro-Winkler >= ``threshold``) and the names do not already agree in order, else
    ``else``. A two-field comparison in a model of one-field ones: it is not independent of
    the name comparisons, which is why it only fires on the swap and weighs ~0 otherwise.

    Examples:
        >>> c = NamesSwapped("given_name", other="family_name")
        >>> a = c.value({"given_name": "Robert", "family_name": "Sheldon"})
        >>> b = c.value({"given_name": "Sheldon", "family_name": "Robert"})
        >>> c.levels([a], [b]).tolist(), c.levels([a], [a]).tolist()
        ([0], [1])
    """

    other: str = "family_name"
    threshold: float = 0.92
    normaliser: str = "person_name"

    default_m: ClassVar[tuple[float, ...]] = (0.02, 0.98)
    default_u: ClassVar[tuple[float, ...]] = (1e-5, 1 - 1e-5)
    exact_level: ClassVar[int] = 1

    def _validate(self) -> None:
        if not self.other or self.other == self.field:
            raise ValueError(f"comparison {self.field!r}: 'other' must name a second field")
        if self.label == self.field:
            object.__setattr__(self, "label", f"{self.field}/{self.other} swapped")
        _check_thresholds(self.field, (self.threshold,), 0.0, 1.0, up=False)

    def _default(self, which: str) -> tuple[float, ...]:
        return self.default_m if which == "m" else self.default_u

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("swapped", "else")

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field, self.other)

    def value(self, record: Mapping[str, object]) -> str | None:
        return self.combine(*(self.normalise(record.get(f)) for f in self.fields))

    def combine(self, *normalised: str | None) -> str | None:
        first, second = normalised
        if not first or not second:
            return None  # a swap needs both names on both sides
        return first + _NAME_SEPARATOR + second

    def _grade_coded(self, vocab: Vocabulary, a: Codes, b: Codes) -> Levels:
        names = np.empty((len(vocab), 2), dtype=object)
        for k in np.unique(np.concatenate([a, b])).tolist():
            names[k] = str(vocab[k]).split(_NAME_SEPARATOR, 1)

        def sim(x: Codes, i: int, y: Codes, j: int) -> npt.NDArray[np.float64]:
            scorer = JaroWinkler.normalized_similarity
            got: npt.NDArray[np.float64] = process.cpdist(
                names[x, i].tolist(),
                names[y, j].tolist(),
                scorer=scorer,
                workers=workers(len(x)),
            )
            return got

        t = self.threshold
        in_order = (sim(a, 0, b, 0) >= t) & (sim(a, 1, b, 1) >= t)
        swapped = (sim(a, 0, b, 1) >= t) & (sim(a, 1, b, 0) >= t) & ~in_order
        return np.where(swapped, 0, 1).astype(np.int8)
