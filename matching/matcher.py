"""The Fellegi-Sunter matcher behind the hub's matcher port, for one record at a time.

The hub calls :meth:`FellegiSunterMatcher.deterministic_keys` first (an exact hit links without
scoring), then :meth:`~FellegiSunterMatcher.blocking_keys` to look up candidate golden records in
its key index, then :meth:`~FellegiSunterMatcher.score` on those few candidates. Scoring works on
arrays, one column per field, so a record against fifty candidates costs one rapidfuzz call per
field rather than fifty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from matching.deterministic import DeterministicMatcher
from matching.model import FellegiSunterModel
from matching.result import Candidate
from matching.spec import DEFAULT_SPECS, MatchSpec
from matching.tiers import assign_tiers

__all__ = ["RULE", "FellegiSunterMatcher"]

RULE = "fellegi-sunter"
"""The ``rule`` of every candidate this matcher proposes."""


class FellegiSunterMatcher:
    """Deterministic keys first, then blocking and Fellegi-Sunter scoring, per domain.

    Args:
        specs: Match spec per domain; defaults to :data:`matching.spec.DEFAULT_SPECS`.
        deterministic: The exact-key matcher to delegate deterministic keys to; ``None`` means
            no deterministic keys.

    Examples:
        >>> matcher = FellegiSunterMatcher()
        >>> golden = {"name": "ACME International Corporation", "city": "London",
        ...           "postcode": "EC1A 1BB", "country": "GB"}
        >>> record = {"name": "Acme Intl. Corp", "city": "london", "postcode": "EC1A1BB",
        ...           "country": "United Kingdom"}
        >>> [c.tier for c in matcher.score("client", record, [("g1", golden)])]
        ['auto']
    """

    def __init__(
        self,
        specs: Mapping[str, MatchSpec] | None = None,
        deterministic: DeterministicMatcher | None = None,
    ) -> None:
        if specs is None:
            specs = {name: build() for name, build in DEFAULT_SPECS.items()}
        for domain, spec in specs.items():
            if spec.domain != domain:
                raise ValueError(f"spec for {domain!r} declares domain {spec.domain!r}")
        self._specs = dict(specs)
        self._models = {d: s.current_model() for d, s in self._specs.items()}
        self._deterministic = deterministic

    def spec(self, domain: str) -> MatchSpec | None:
        """The spec of ``domain``, ``None`` if it is not fuzzy-matched."""
        return self._specs.get(domain)

    def with_spec(self, spec: MatchSpec) -> FellegiSunterMatcher:
        """A matcher with ``spec`` (e.g. a freshly fitted one) replacing its domain's spec."""
        return FellegiSunterMatcher({**self._specs, spec.domain: spec}, self._deterministic)

    def deterministic_keys(self, domain: str, record: Mapping[str, object]) -> list[str]:
        """Exact keys, delegated to the deterministic matcher."""
        if self._deterministic is None:
            return []
        return self._deterministic.deterministic_keys(domain, record)

    def blocking_keys(self, domain: str, record: Mapping[str, object]) -> list[str]:
        """``b:``-prefixed keys of every blocking rule ``record`` can fill."""
        spec = self._specs.get(domain)
        return spec.blocking.keys(record) if spec else []

    def score(
        self,
        domain: str,
        record: Mapping[str, object],
        candidates: Sequence[tuple[str, Mapping[str, object]]],
    ) -> list[Candidate]:
        """Score ``record`` against candidate golden records; keep those at review or above.

        At most one candidate is ``auto``; a close runner-up demotes it to ``review`` (see
        :func:`matching.tiers.assign_tiers`). Each candidate carries its weight per field.

        Args:
            domain: Domain of the record.
            record: Source attributes plus resolved references by name.
            candidates: ``(golden_id, golden attributes)`` pairs from the blocking index.
        """
        spec = self._specs.get(domain)
        if spec is None or not candidates:
            return []
        model = self._models[domain]
        fw, total, prob = self.explain(model, record, [attrs for _, attrs in candidates])
        labels = model.labels
        tiers = assign_tiers(
            total.tolist(), prob.tolist(), spec.t_auto, spec.t_review, spec.runner_up_bits
        )
        return [
            Candidate(
                golden_id=candidates[i][0],
                probability=float(prob[i]),
                tier=tier,
                rule=RULE,
                weights={label: round(float(w), 4) for label, w in zip(labels, fw[i], strict=True)},
            )
            for i, tier in tiers
        ]

    @staticmethod
    def explain(
        model: FellegiSunterModel,
        record: Mapping[str, object],
        others: Sequence[Mapping[str, object]],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Field weights, total weight and probability of ``record`` against each of ``others``."""
        n = len(others)
        gamma = np.empty((n, len(model.fields)), dtype=np.int8)
        left_values: list[list[str | None]] = []
        for j, fm in enumerate(model.fields):
            comp = fm.comparison
            mine = comp.value(record)
            left = [mine] * n
            gamma[:, j] = comp.levels(left, [comp.value(o) for o in others])
            left_values.append(left)
        return model.score(gamma, left_values)
