"""A matcher that only knows exact keys: the first, cheapest stage of matching.

The hub asks it for a record's deterministic key values and looks them up in its key index; a
hit links the record with rule ``"deterministic:<key name>"``. This matcher offers no blocking
keys and scores nothing, so a record without a key hit becomes a new golden record until a
fuzzy matcher (same interface) is plugged in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matching.keys import DeterministicKey
from matching.result import Candidate

__all__ = ["DeterministicMatcher"]


class DeterministicMatcher:
    """Exact-key matching for several domains (``client``, ``resource``, ``project``...).

    Args:
        keys: Per domain, its keys in priority order: the first key the hub finds in its index
            decides the link, so put the most trustworthy key (e.g. tax id + country) first.

    Raises:
        ValueError: If a domain declares two keys with the same name, since the rule reported
            for a link could then not tell which one fired.
    """

    def __init__(self, keys: Mapping[str, Sequence[DeterministicKey]]) -> None:
        self._keys: dict[str, tuple[DeterministicKey, ...]] = {}
        for domain, domain_keys in keys.items():
            ordered = tuple(domain_keys)
            seen: set[str] = set()
            for key in ordered:
                if key.name in seen:
                    raise ValueError(f"domain {domain!r} declares key {key.name!r} twice")
                seen.add(key.name)
            self._keys[domain] = ordered

    @property
    def domains(self) -> frozenset[str]:
        """Domains this matcher has keys for."""
        return frozenset(self._keys)

    def keys_for(self, domain: str) -> tuple[DeterministicKey, ...]:
        """The declared keys of ``domain`` in priority order; empty for an unknown domain."""
        return self._keys.get(domain, ())

    def key_fields(self, domain: str) -> frozenset[str]:
        """Every field a key of ``domain`` reads: a record's keys are a function of these
        fields alone, so whoever keeps keys may keep them by these values."""
        return frozenset(p.field for key in self.keys_for(domain) for p in key.parts)

    def deterministic_keys(self, domain: str, record: Mapping[str, object]) -> list[str]:
        """Key values of ``record`` in priority order, skipping keys it cannot fill.

        An unknown domain gives ``[]`` rather than an error: it simply has no exact keys, and the
        hub then treats the record as unmatched.
        """
        values: list[str] = []
        for key in self._keys.get(domain, ()):
            value = key.value(record)
            if value is not None:
                values.append(value)
        return values

    def blocking_keys(self, domain: str, record: Mapping[str, object]) -> list[str]:
        """Always ``[]``: there is no fuzzy stage, so no candidates to gather."""
        return []

    def value_keys(self, domain: str, record: Mapping[str, object]) -> dict[str, str]:
        """Always empty: without comparisons no value's frequency matters."""
        return {}

    def spec(self, domain: str) -> None:
        """Always ``None``: no domain is fuzzy-matched."""
        return None

    def score(
        self,
        domain: str,
        record: Mapping[str, object],
        candidates: Sequence[tuple[str, object]],
        holders: Mapping[str, int] | None = None,
        population: int = 0,
        levels: object = None,
    ) -> list[Candidate]:
        """Always ``[]``: without fuzzy comparisons there is nothing to score."""
        return []

    def levels_many(
        self, domain: str, work: Sequence[tuple[Mapping[str, object], Sequence[object]]]
    ) -> list[None]:
        """Nothing to compare: ``score`` needs no levels."""
        return [None] * len(work)

    def exact_labels(self, domain: str, levels: object) -> frozenset[str]:
        """Always empty: ``score`` reads no holders."""
        return frozenset()

    def compared_values(self, domain: str, views: Sequence[Mapping[str, object]]) -> None:
        """Always ``None``: nothing is compared."""
        return None

    def compared_fingerprint(self, domain: str) -> None:
        """Always ``None``: nothing is compared."""
        return None
