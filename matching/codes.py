"""Values as integer codes into a shared vocabulary: how bulk matching avoids per-pair Python.

Equality becomes an integer compare, a pair of values seen in many candidate pairs (two cities,
two dates) is graded once, and fancy indexing replaces list comprehensions over millions of
pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["Codes", "Vocabulary", "encode", "workers"]

Codes = npt.NDArray[np.int64]
"""Integer code of each value in a vocabulary (see :func:`encode`); ``-1`` where missing."""

Vocabulary = npt.NDArray[np.object_]
"""The distinct strings that codes index."""


def workers(pairs: int) -> int:
    """rapidfuzz threads for a column of ``pairs``: all cores for a bulk column (the scorers
    release the GIL), one for the few candidates of a single record, where starting threads
    would cost more than the scoring."""
    return -1 if pairs >= 10_000 else 1


def encode(*columns: Sequence[str | None]) -> tuple[Vocabulary, list[Codes]]:
    """One shared vocabulary for several columns of normalised values, and their codes.

    Examples:
        >>> vocab, (a, b) = encode(["x", None, "y"], ["y", "x"])
        >>> vocab.tolist(), a.tolist(), b.tolist()
        (['x', 'y'], [0, -1, 1], [1, 0])
    """
    index: dict[str, int] = {}
    codes = [
        np.fromiter(
            (-1 if v is None else index.setdefault(v, len(index)) for v in col),
            dtype=np.int64,
            count=len(col),
        )
        for col in columns
    ]
    vocab = np.empty(len(index), dtype=object)
    vocab[:] = list(index)
    return vocab, codes
