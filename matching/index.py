"""An in-memory blocking index: one record finds its candidates by key, without a scan.

The embedded hub keeps its key index in its database; this is the same idea for the bulk
commands, the benchmark and any process that holds golden records in memory. It keeps each
golden record's keys so an update replaces them (a changed postcode leaves its old block).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

__all__ = ["BlockingIndex"]


class BlockingIndex:
    """Blocking key -> golden ids, kept in step as golden records change.

    Examples:
        >>> index = BlockingIndex()
        >>> index.put("g1", ["b:postcode:2000", "b:names:ann|lee"])
        >>> index.put("g2", ["b:postcode:2000"])
        >>> sorted(index.find(["b:postcode:2000"]))
        ['g1', 'g2']
        >>> index.put("g1", ["b:postcode:3000"])
        >>> sorted(index.find(["b:postcode:2000", "b:names:ann|lee"]))
        ['g2']
    """

    def __init__(self) -> None:
        self._ids: defaultdict[str, set[str]] = defaultdict(set)
        self._keys: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def put(self, golden_id: str, keys: Iterable[str]) -> None:
        """Set the keys of ``golden_id``, replacing the ones it had."""
        self.remove(golden_id)
        stored = tuple(dict.fromkeys(keys))
        self._keys[golden_id] = stored
        for key in stored:
            self._ids[key].add(golden_id)

    def remove(self, golden_id: str) -> None:
        """Forget ``golden_id`` (retired or merged away)."""
        for key in self._keys.pop(golden_id, ()):
            ids = self._ids.get(key)
            if ids is not None:
                ids.discard(golden_id)
                if not ids:
                    del self._ids[key]

    def closest(self, keys: Iterable[str], limit: int) -> list[str]:
        """At most ``limit`` golden ids, those sharing the most of ``keys``: a very common
        blocking value (a big city, a common surname) must not make one record cost thousands
        of comparisons. The hub's linking keeps its candidates the same way."""
        shared: Counter[str] = Counter()
        for key in dict.fromkeys(keys):
            ids = self._ids.get(key)
            if ids:
                shared.update(ids)
        return [gid for gid, _ in shared.most_common(limit)]

    def find(self, keys: Iterable[str]) -> set[str]:
        """Golden ids sharing at least one of ``keys``."""
        found: set[str] = set()
        for key in keys:
            ids = self._ids.get(key)
            if ids:
                found |= ids
        return found
