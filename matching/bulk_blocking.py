"""Columns and candidate pairs for bulk matching, on arrays.

A bulk run reads each field of each record once: :class:`Columns` normalises every distinct raw
value once per normaliser and shares the result between comparisons and blocking rules (a
surname is compared, and blocked on in four rules). Blocking keys become integer codes, and the
pairs of each block are generated with numpy rather than a Python loop per block; the keys mean
exactly what :meth:`matching.blocking.Or.keys` means for one record, so a bulk run and the hub's
key index find the same candidates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from matching.blocking import BlockOn, BlockPart, Or
from matching.normalise import NORMALISERS

__all__ = ["GENERIC_SHARE", "MAX_BLOCK", "Columns", "block_pairs"]

IntArray = npt.NDArray[np.int64]
Records = Sequence[Mapping[str, object]]

MAX_BLOCK = 5_000
"""Blocks larger than this are skipped: a key shared by that many records (a placeholder date,
a default phone) selects nothing and would make the pair count quadratic."""

GENERIC_SHARE = 0.01
"""A blocking key (or value) held by this share of the records, and by at least ten, is
generic: a placeholder birth date, a switchboard number. It identifies nobody."""


class Columns:
    """Normalised columns of one file, each ``(field, normaliser)`` computed once.

    Args:
        records: The file's records.
        memo: Raw-to-normalised maps per normaliser, shared with the other file of a link.
    """

    def __init__(
        self, records: Records, memo: dict[str, dict[object, str | None]] | None = None
    ) -> None:
        self.records = records
        self._memo = memo if memo is not None else {}
        self._cache: dict[tuple[str, str], list[str | None]] = {}

    @property
    def memo(self) -> dict[str, dict[object, str | None]]:
        """The raw-to-normalised maps, to share with another file."""
        return self._memo

    def get(self, field: str, normaliser: str) -> list[str | None]:
        """``normaliser`` applied to ``field`` of every record."""
        key = (field, normaliser)
        if key not in self._cache:
            fn = NORMALISERS[normaliser]
            seen = self._memo.setdefault(normaliser, {})
            out: list[str | None] = []
            for rec in self.records:
                raw = rec.get(field)
                # Strings key by themselves; other scalars by type too, as 1, 1.0 and True
                # hash alike but normalise differently; unhashable values are not remembered.
                memo_key = raw if type(raw) is str else (type(raw), raw)
                try:
                    got = seen.get(memo_key, seen)
                except TypeError:
                    out.append(fn(raw))
                    continue
                if got is seen:
                    got = seen[memo_key] = fn(raw)
                out.append(got)  # type: ignore[arg-type]
            self._cache[key] = out
        return self._cache[key]

    def part(self, part: BlockPart) -> list[str | None]:
        """The blocking value of ``part`` for every record (as :meth:`BlockPart.value`)."""
        values = self.get(part.field, part.normaliser)
        if not part.first_token and part.length is None:
            return values
        out: list[str | None] = []
        for v in values:
            if v is not None:
                if part.first_token:
                    v = v.split(" ", 1)[0]
                if part.length is not None:
                    v = v[: part.length]
            out.append(v or None)
        return out


def _rule_keys(
    rule: BlockOn,
    files: Sequence[Columns],
    vocab: dict[str, int],
    seen: dict[tuple[int, BlockPart], IntArray],
) -> list[IntArray]:
    """Per file, each record's key of ``rule`` as codes of its parts (-1: no key).

    ``seen`` keeps each part's codes: one field is a part of several rules.
    """
    out = []
    for f, cols in enumerate(files):
        parts = []
        for part in rule.parts:
            if (f, part) not in seen:
                values = cols.part(part)
                seen[f, part] = np.fromiter(
                    (-1 if v is None else vocab.setdefault(v, len(vocab)) for v in values),
                    dtype=np.int64,
                    count=len(values),
                )
            parts.append(seen[f, part])
        out.append(np.stack(parts, axis=1))
    return out


def _group_keys(
    rules: Sequence[BlockOn],
    files: Sequence[Columns],
    vocab: dict[str, int],
    seen: dict[tuple[int, BlockPart], IntArray],
) -> list[tuple[IntArray, IntArray]]:
    """Per file, ``(record, key)`` of every record's distinct keys across rules of one name."""
    per_rule = [_rule_keys(rule, files, vocab, seen) for rule in rules]
    width = max(k[0].shape[1] for k in per_rule)
    rows: list[list[IntArray]] = [[] for _ in files]
    for keys in per_rule:
        for f, k in enumerate(keys):
            padded = np.full((len(k), width), -2, dtype=np.int64)
            padded[:, : k.shape[1]] = k
            rows[f].append(padded)
    stacked = [np.concatenate(r) for r in rows]
    sizes = [len(cols.records) for cols in files]
    everything = np.concatenate(stacked)
    valid = (everything != -1).all(axis=1)
    radix = len(vocab) + 2
    if float(radix) ** width < 2.0**62:  # one integer per key: sorting rows is much slower
        combined = np.zeros(len(everything), dtype=np.int64)
        for col in range(width):
            combined *= radix
            combined += everything[:, col] + 2
        _, codes = np.unique(combined, return_inverse=True)
    else:
        _, codes = np.unique(everything, axis=0, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    codes[~valid] = -1
    out = []
    offset = 0
    for f, size in enumerate(sizes):
        n = len(stacked[f])
        key = codes[offset : offset + n]
        record = np.tile(np.arange(size, dtype=np.int64), n // max(size, 1))
        keep = key >= 0
        pairs = np.unique(key[keep] * max(size, 1) + record[keep])
        out.append((pairs % max(size, 1), pairs // max(size, 1)))
        offset += n
    return out


def _ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])`` without a loop."""
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    ends = np.cumsum(counts)
    base = np.repeat(starts - (ends - counts), counts)
    out: IntArray = base + np.arange(total, dtype=np.int64)
    return out


def _pairs_within(
    records: IntArray, keys: IntArray, n: int, generic: float
) -> tuple[IntArray, IntArray]:
    """Codes ``i * n + j`` (``i < j``) of records sharing a key, skipping huge blocks, and
    whether each came from a block of at least ``generic`` records."""
    order = np.argsort(keys, kind="stable")
    rec, key = records[order], keys[order]
    _, start, size = np.unique(key, return_index=True, return_counts=True)
    size_of = np.repeat(size, size)
    end_of = np.repeat(start + size, size)
    pos = np.arange(len(rec), dtype=np.int64)
    counts = np.where(size_of <= MAX_BLOCK, end_of - pos - 1, 0)
    left = np.repeat(pos, counts)
    right = _ranges(pos + 1, counts)
    a, b = rec[left], rec[right]
    big = size_of[left] >= generic
    keep = a != b
    a, b = a[keep], b[keep]
    out: IntArray = np.minimum(a, b) * n + np.maximum(a, b)
    return out, big[keep]


def _pairs_across(
    left: tuple[IntArray, IntArray],
    right: tuple[IntArray, IntArray],
    n_right: int,
    generic: float,
) -> tuple[IntArray, IntArray]:
    """Codes ``i * n_right + j`` of left and right records sharing a key, and whether each
    came from a block of at least ``generic`` records of both files."""
    (lrec, lkey), (rrec, rkey) = left, right
    order = np.argsort(rkey, kind="stable")
    rrec, rkey = rrec[order], rkey[order]
    lo = np.searchsorted(rkey, lkey, side="left")
    hi = np.searchsorted(rkey, lkey, side="right")
    _, inverse, lsize = np.unique(lkey, return_inverse=True, return_counts=True)
    counts = hi - lo
    size = lsize[inverse.reshape(-1)]
    counts = np.where(size * counts > MAX_BLOCK * MAX_BLOCK // 100, 0, counts)
    out: IntArray = np.repeat(lrec, counts) * n_right + rrec[_ranges(lo, counts)]
    return out, np.repeat(size + counts >= generic, counts)


def block_pairs(
    blocking: Or, left: Columns, right: Columns | None
) -> tuple[IntArray, IntArray, dict[str, IntArray]]:
    """Candidate pairs ``(i, j)`` of the union of the rules, and each rule's pairs for fitting.

    A pair's code is ``i * n_right + j``. The codes of a rule (rules sharing a name are one key
    space, as in :meth:`Or.keys`) leave out blocks of a generic key (held by
    :data:`GENERIC_SHARE` of the records: a placeholder birth date): such a block is a crowd
    of strangers who agree on the key, and EM there learns "agrees on the key" as the match
    class. Its pairs are still candidates, scored like any other.
    """
    files = [left] if right is None else [left, right]
    n_right = len(files[-1].records)
    generic = max(10.0, GENERIC_SHARE * sum(len(f.records) for f in files))
    groups: dict[str, list[BlockOn]] = defaultdict(list)
    for rule in blocking.rules:
        groups[rule.name].append(rule)
    vocab: dict[str, int] = {}
    seen: dict[tuple[int, BlockPart], IntArray] = {}
    by_rule: dict[str, IntArray] = {}
    found: list[IntArray] = []
    for name, rules in groups.items():
        keys = _group_keys(rules, files, vocab, seen)
        if right is None:
            codes, big = _pairs_within(keys[0][0], keys[0][1], n_right, generic)
        else:
            codes, big = _pairs_across(keys[0], keys[1], n_right, generic)
        found.append(codes)
        by_rule[name] = np.unique(codes[~big])
    everything = [c for c in found if len(c)]
    if not everything:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, by_rule
    unique = np.unique(np.concatenate(everything))
    return unique // n_right, unique % n_right, by_rule
