"""Comparisons with levels: how alike two values of one field are, as a small level number.

A comparison is declared as a frozen value object (``ExactMatch("email")``,
``JaroWinklerAtThresholds("family_name", (0.92, 0.8))``), validated where it is declared, and
evaluated over whole arrays of pre-normalised values with rapidfuzz's ``process.cpdist`` and an
explicitly named scorer (the default WRatio is ~45x slower and not what anyone means).

Levels run from the most alike (``0``, always "exact") to "else" (the last); ``NULL_LEVEL``
(``-1``) means a value is missing on either side, which is no evidence either way. Each level has
a prior ``m`` (probability among matches) and ``u`` (among non-matches) used until a model is
fitted; see :mod:`matching.model`.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from matching.codes import Codes, Vocabulary, encode, workers
from matching.normalise import NORMALISERS

__all__ = [
    "NULL_LEVEL",
    "Comparison",
    "ExactMatch",
    "JaroWinklerAtThresholds",
    "Levels",
    "LevenshteinAtThresholds",
    "TokenRatioAtThresholds",
    "fingerprint",
]

NULL_LEVEL = -1
"""Level of a pair where either value is missing: contributes weight 0."""

Levels = npt.NDArray[np.int8]
"""One level per pair; ``NULL_LEVEL`` where either side is missing."""


def _check_probabilities(name: str, values: tuple[float, ...], n: int, field: str) -> None:
    if len(values) != n:
        raise ValueError(f"comparison {field!r}: {name} needs {n} values, one per level")
    if any(not 0.0 < v < 1.0 for v in values):
        raise ValueError(f"comparison {field!r}: {name} values must lie strictly within (0, 1)")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"comparison {field!r}: {name} values must sum to 1, got {sum(values)}")


@dataclass(frozen=True)
class Comparison:
    """Base of every comparison: a field, its normaliser and prior m/u per level.

    Attributes:
        field: Canonical field name in the records.
        normaliser: Name of a normaliser in :data:`matching.normalise.NORMALISERS`.
        m: Prior probability of each level among true matches (``None``: class default).
        u: Prior probability of each level among non-matches (``None``: class default).
        term_frequency: Adjust the exact level by how common the value is, so agreeing on
            "smith" counts for less than agreeing on "zygmunt".
        label: Name in explanations and output columns; defaults to ``field``.

    Raises:
        ValueError: On an empty field, an unknown normaliser or m/u that do not fit the levels.
    """

    field: str
    _: KW_ONLY
    normaliser: str = "text"
    m: tuple[float, ...] | None = None
    u: tuple[float, ...] | None = None
    term_frequency: bool = False
    label: str = ""

    default_m: ClassVar[tuple[float, ...]] = (0.9, 0.1)
    default_u: ClassVar[tuple[float, ...]] = (0.01, 0.99)
    exact_level: ClassVar[int] = 0
    """Level of two equal normalised values (``NamesSwapped``: equal names are no swap)."""

    def __post_init__(self) -> None:
        """Validate at declaration so a bad match spec fails when it is loaded."""
        if not self.field:
            raise ValueError("comparison field must be non-empty")
        if self.normaliser not in NORMALISERS:
            raise ValueError(
                f"comparison {self.field!r}: unknown normaliser {self.normaliser!r}; "
                f"known: {', '.join(sorted(NORMALISERS))}"
            )
        if not self.label:
            object.__setattr__(self, "label", self.field)
        self._validate()
        n = len(self.level_names)
        for name in ("m", "u"):
            given: tuple[float, ...] | None = getattr(self, name)
            if given is not None:
                object.__setattr__(self, name, tuple(float(x) for x in given))
                _check_probabilities(name, getattr(self, name), n, self.field)

    def _validate(self) -> None:
        """Subclass hook: check thresholds."""

    @property
    def level_names(self) -> tuple[str, ...]:
        """Names of the levels, from most alike ("exact") to "else"."""
        return ("exact", "else")

    @property
    def agreeing_levels(self) -> int:
        """How many leading levels say the values agree (exact and the fuzzy levels).

        A fitted model must weigh these as evidence *for* a match (m > u); see
        :func:`matching.estimate.check_agreeing_levels`.
        """
        return len(self.level_names) - 1

    @property
    def prior_m(self) -> tuple[float, ...]:
        """m per level: the declared one, else the class default for this number of levels."""
        return self.m if self.m is not None else self._default("m")

    @property
    def prior_u(self) -> tuple[float, ...]:
        """u per level: the declared one, else the class default for this number of levels."""
        return self.u if self.u is not None else self._default("u")

    def _default(self, which: str) -> tuple[float, ...]:
        n = len(self.level_names)
        if which == "m":
            fuzzy = n - 2
            base = [0.85] + [0.1 / max(fuzzy, 1)] * fuzzy + [0.05]
        else:
            base = [0.002 * (4**i) for i in range(n - 1)]
            base.append(1.0 - sum(base))
        total = sum(base)
        return tuple(x / total for x in base)

    def normalise(self, value: object) -> str | None:
        """The normalised form of one raw value."""
        return NORMALISERS[self.normaliser](value)

    @property
    def fields(self) -> tuple[str, ...]:
        """The record fields this comparison reads, normalised and passed to :meth:`combine`."""
        return (self.field,)

    def combine(self, *normalised: str | None) -> str | None:
        """The compared value from the normalised :attr:`fields` (one field: itself)."""
        return normalised[0]

    def value(self, record: Mapping[str, object]) -> str | None:
        """What this comparison compares of one record: its field, normalised (a comparison
        of several :attr:`fields` overrides this to :meth:`combine` them)."""
        return self.normalise(record.get(self.field))

    def levels(self, left: Sequence[str | None], right: Sequence[str | None]) -> Levels:
        """Level of each pair ``(left[i], right[i])`` of normalised values.

        Args:
            left: Normalised values, ``None`` where missing.
            right: Same length as ``left``.

        Returns:
            An ``int8`` array; ``NULL_LEVEL`` where either side is ``None``.
        """
        if len(left) != len(right):
            raise ValueError("left and right must have the same length")
        vocab, (a, b) = encode(left, right)
        return self.levels_coded(vocab, a, b)

    def levels_coded(self, vocab: Vocabulary, a: Codes, b: Codes) -> Levels:
        """Level of each pair of coded values (see :func:`encode`).

        Each distinct pair of unequal values is graded once, however many pairs share it.
        """
        out = np.full(len(a), NULL_LEVEL, dtype=np.int8)
        present = (a >= 0) & (b >= 0)
        exact = present & (a == b)
        out[exact] = self.exact_level
        rest = np.flatnonzero(present & ~exact)
        if len(rest) < 256:  # one record's candidates: sorting out repeats costs more than it saves
            if len(rest):
                out[rest] = self._grade_coded(vocab, a[rest], b[rest])
            return out
        n = max(len(vocab), 1)
        unique, inverse = np.unique(a[rest] * n + b[rest], return_inverse=True)
        out[rest] = self._grade_coded(vocab, unique // n, unique % n)[inverse]
        return out

    def _grade_coded(self, vocab: Vocabulary, a: Codes, b: Codes) -> Levels:
        """Levels of distinct pairs known to be present and unequal (subclass hook)."""
        return self._grade(vocab[a].tolist(), vocab[b].tolist())

    def _grade(self, a: list[str], b: list[str]) -> Levels:
        """Levels of pairs known to be present and not exactly equal (subclass hook)."""
        return np.full(len(a), len(self.level_names) - 1, dtype=np.int8)


def _grade_similarity(
    sims: npt.NDArray[Any], thresholds: tuple[float, ...], higher_is_closer: bool
) -> npt.NDArray[np.int8]:
    """Level 1 + index of the first threshold met, else the "else" level."""
    out = np.full(len(sims), len(thresholds) + 1, dtype=np.int8)
    for i in reversed(range(len(thresholds))):
        met = sims >= thresholds[i] if higher_is_closer else sims <= thresholds[i]
        out[met] = i + 1
    return out


def _check_thresholds(
    field: str, values: tuple[float, ...], lo: float, hi: float, up: bool
) -> None:
    if not values:
        raise ValueError(f"comparison {field!r}: at least one threshold is needed")
    if any(not lo <= t <= hi for t in values):
        raise ValueError(f"comparison {field!r}: thresholds must lie within [{lo}, {hi}]")
    pairs = itertools.pairwise(values)
    if not all((a < b) if up else (a > b) for a, b in pairs):
        order = "increasing" if up else "decreasing"
        raise ValueError(f"comparison {field!r}: thresholds must be strictly {order}")


@dataclass(frozen=True)
class ExactMatch(Comparison):
    """Two levels: exactly equal after normalisation, or not.

    Examples:
        >>> ExactMatch("email", normaliser="email").level_names
        ('exact', 'else')
    """


@dataclass(frozen=True)
class JaroWinklerAtThresholds(Comparison):
    """Exact, then Jaro-Winkler similarity at or above each threshold, then else.

    Jaro-Winkler favours a shared prefix, which suits short personal names with typos. It is a
    poor fit for company names, where sister companies share their first word.

    Examples:
        >>> JaroWinklerAtThresholds("family_name", (0.92, 0.8)).level_names
        ('exact', 'jw>=0.92', 'jw>=0.8', 'else')
    """

    thresholds: tuple[float, ...] = (0.92, 0.8)

    def _validate(self) -> None:
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        _check_thresholds(self.field, self.thresholds, 0.0, 1.0, up=False)

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("exact", *(f"jw>={t:g}" for t in self.thresholds), "else")

    def _grade(self, a: list[str], b: list[str]) -> npt.NDArray[np.int8]:
        sims = process.cpdist(
            a, b, scorer=JaroWinkler.normalized_similarity, workers=workers(len(a))
        )
        return _grade_similarity(sims, self.thresholds, higher_is_closer=True)


@dataclass(frozen=True)
class TokenRatioAtThresholds(Comparison):
    """Exact, then a token ratio (0-100) at or above each threshold, then else.

    ``method="token_sort"`` (``fuzz.token_sort_ratio``) forgives word order only;
    ``"token_set"`` also forgives extra words, so "acme" meets "acme holdings" at 100: use it
    only where extra words do not mean a different entity. ``ignore_spaces`` also compares
    the two strings with their spaces removed and keeps the better ratio, so glued or split
    words ("RossiGroup", "Ragilmi R etail") meet their spelling with spaces.

    Examples:
        >>> TokenRatioAtThresholds("name", (95, 85)).level_names
        ('exact', 'token_sort>=95', 'token_sort>=85', 'else')
    """

    thresholds: tuple[float, ...] = (95.0, 85.0)
    method: Literal["token_sort", "token_set"] = "token_sort"
    ignore_spaces: bool = False

    def _validate(self) -> None:
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        _check_thresholds(self.field, self.thresholds, 0.0, 100.0, up=False)
        if self.method not in ("token_sort", "token_set"):
            raise ValueError(f"comparison {self.field!r}: unknown token method {self.method!r}")

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("exact", *(f"{self.method}>={t:g}" for t in self.thresholds), "else")

    def _grade(self, a: list[str], b: list[str]) -> npt.NDArray[np.int8]:
        scorer = fuzz.token_sort_ratio if self.method == "token_sort" else fuzz.token_set_ratio
        sims = process.cpdist(a, b, scorer=scorer, workers=workers(len(a)))
        if self.ignore_spaces:
            glued = process.cpdist(
                [x.replace(" ", "") for x in a],
                [y.replace(" ", "") for y in b],
                scorer=fuzz.ratio,
                workers=workers(len(a)),
            )
            sims = np.maximum(sims, glued)
        return _grade_similarity(sims, self.thresholds, higher_is_closer=True)


@dataclass(frozen=True)
class LevenshteinAtThresholds(Comparison):
    """Exact, then Levenshtein edit distance at or below each threshold, then else.

    Suits codes, postcodes and house numbers, where one typo is likely and similarity ratios
    over short strings mislead.

    Examples:
        >>> LevenshteinAtThresholds("postcode", (1, 2)).level_names
        ('exact', 'lev<=1', 'lev<=2', 'else')
    """

    thresholds: tuple[int, ...] = (1, 2)

    def _validate(self) -> None:
        object.__setattr__(self, "thresholds", tuple(int(t) for t in self.thresholds))
        _check_thresholds(self.field, tuple(map(float, self.thresholds)), 1.0, 1e9, up=True)

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("exact", *(f"lev<={t}" for t in self.thresholds), "else")

    def _grade(self, a: list[str], b: list[str]) -> npt.NDArray[np.int8]:
        dists = process.cpdist(a, b, scorer=Levenshtein.distance, workers=workers(len(a)))
        return _grade_similarity(dists, tuple(map(float, self.thresholds)), False)


# what normalising a value depends on beside this package's own code
_NORMALISING_DISTRIBUTIONS = ("cleanco", "phonenumbers", "publicsuffixlist")


def fingerprint(comparisons: Sequence[Comparison]) -> str:
    """A short hash of ``comparisons`` and of the code that makes their compared values:
    this package's source and the versions of the libraries its normalisers use. Values a
    caller kept under one fingerprint are what the same comparisons make now; a changed
    comparison, normaliser or library (an upgrade) gives another, so kept values are not
    taken for new ones."""
    made = hashlib.blake2b(repr(list(comparisons)).encode(), digest_size=8)
    made.update(_code_fingerprint().encode())
    return made.hexdigest()


@cache
def _code_fingerprint() -> str:
    made = hashlib.blake2b(digest_size=8)
    here = Path(__file__).parent
    for path in sorted(here.glob("*.py")):
        made.update(path.name.encode() + path.read_bytes())
    for name in _NORMALISING_DISTRIBUTIONS:
        try:
            made.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            made.update(f"{name}={sys.modules.get(name)!r}".encode())
    return made.hexdigest()
