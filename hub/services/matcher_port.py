"""The matching port: what the use cases ask of a matcher (hub/services/ports.py re-exports
it with the storage ports). The deterministic matcher and the Fellegi-Sunter one both satisfy
it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from matching import Candidate, MatchSpec
from matching.matcher import Entity


class Matcher(Protocol):
    """Finds which golden record a new source record belongs to."""

    def deterministic_keys(self, domain: str, record: Mapping[str, object]) -> list[str]: ...

    def blocking_keys(self, domain: str, record: Mapping[str, object]) -> list[str]: ...

    def value_keys(self, domain: str, record: Mapping[str, object]) -> dict[str, str]:
        """Per comparison label, the index key that counts the golden records holding this
        record's value (term frequencies and generic values, see docs/architecture.md)."""
        ...

    def key_fields(self, domain: str) -> frozenset[str] | None:
        """The fields the three kinds of keys above read, or ``None`` when the matcher cannot
        say (then nothing is kept by them): records alike in these have the same keys."""
        ...

    def spec(self, domain: str) -> MatchSpec | None:
        """The domain's match spec (for its cluster guard), ``None`` if not fuzzy-matched."""
        ...

    def score(
        self,
        domain: str,
        record: Mapping[str, object],
        candidates: Sequence[tuple[str, Entity]],
        holders: Mapping[str, int] | None = None,
        population: int = 0,
        levels: Any = None,
    ) -> list[Candidate]: ...

    def levels_many(
        self, domain: str, work: Sequence[tuple[Mapping[str, object], Sequence[Entity]]]
    ) -> list[Any]:
        """Many records' comparisons with their own candidates, made together (cheaper than
        one by one); each result goes back to ``score`` as ``levels`` with the same
        candidates."""
        ...

    def exact_labels(self, domain: str, levels: Any) -> frozenset[str]:
        """The labels on which ``levels`` (from ``levels_many``) agree exactly with some
        candidate: ``score`` reads the holders of these values alone."""
        ...

    def compared_values(
        self, domain: str, views: Sequence[Mapping[str, object]]
    ) -> tuple[str, dict[str, list[str | None]]] | None:
        """What scoring compares of each view, per comparison label, with a fingerprint of
        the comparisons; ``None`` if the domain is not fuzzy-matched."""
        ...

    def compared_fingerprint(self, domain: str) -> str | None:
        """That fingerprint alone: a kept value's check runs for every candidate read."""
        ...
