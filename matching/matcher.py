"""The Fellegi-Sunter matcher behind the hub's matcher port, for one record at a time.

The hub calls :meth:`FellegiSunterMatcher.deterministic_keys` first (an exact hit links without
scoring), then :meth:`~FellegiSunterMatcher.blocking_keys` to look up candidate golden records in
its key index, then :meth:`~FellegiSunterMatcher.score` on those few candidates. Scoring works on
arrays, one column per field, so a record against fifty candidates costs one rapidfuzz call per
field rather than fifty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from matching.codes import encode
from matching.compare import NULL_LEVEL, Comparison, fingerprint
from matching.deterministic import DeterministicMatcher
from matching.guards import identity_agrees
from matching.model import FellegiSunterModel, probability
from matching.result import Candidate, Tier
from matching.spec import DEFAULT_SPECS, MatchSpec
from matching.tiers import assign_tiers
from matching.views import Entity, Views, compared

__all__ = [
    "RULE",
    "VALUE_KEY",
    "Entity",
    "FellegiSunterMatcher",
    "Views",
    "entity_levels",
    "identity_agrees",
]

RULE = "fellegi-sunter"
"""The ``rule`` of every candidate this matcher proposes."""

VALUE_KEY = "v:"
"""Prefix of the index keys that count how many golden records hold a value."""


_MISSING = 127  # a null level while taking the best level of several views


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
        self._fingerprints: dict[str, str] = {}
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

    def key_fields(self, domain: str) -> frozenset[str]:
        """Every field the deterministic, blocking and value keys of ``domain`` read (every
        comparison's, a superset of the value keys'): the keys are a function of these fields
        alone, since each normaliser sees one value."""
        fields = set(self._deterministic.key_fields(domain) if self._deterministic else ())
        spec = self._specs.get(domain)
        if spec is not None:
            fields.update(p.field for rule in spec.blocking.rules for p in rule.parts)
            fields.update(f for comp in spec.comparisons for f in comp.fields)
        return frozenset(fields)

    def value_keys(self, domain: str, record: Mapping[str, object]) -> dict[str, str]:
        """Per comparison whose value frequency matters, the key that counts its holders.

        The hub keeps these keys in its index for every golden record (from all its source
        records), so the number of golden records holding a value is one indexed count away:
        real-time term frequencies and generic values, kept current as golden records change.
        """
        spec = self._specs.get(domain)
        if spec is None:
            return {}
        out: dict[str, str] = {}
        for comp in spec.comparisons:
            if comp.term_frequency or comp.label in spec.evidence:
                value = comp.value(record)
                if value is not None:
                    out[comp.label] = f"{VALUE_KEY}{comp.label}:{value}"
        return out

    def score(
        self,
        domain: str,
        record: Mapping[str, object],
        candidates: Sequence[tuple[str, Entity]],
        holders: Mapping[str, int] | None = None,
        population: int = 0,
        levels: npt.NDArray[np.int8] | None = None,
    ) -> list[Candidate]:
        """Score ``record`` against candidate golden records; keep those at review or above.

        Entity-centric: a candidate may be given as several views (its survived values and
        each of its source records); per field the best level among them counts, so a record
        that carries an old name or a second phone number of the client still meets it.

        At most one candidate is ``auto``; a close runner-up demotes it to ``review`` (see
        :func:`matching.tiers.assign_tiers`), and so does a pair whose only agreement is on
        evidence (no identity comparison agrees). Each candidate carries its weight per field
        and notes that say why a weight was discounted or a tier lowered.

        Args:
            domain: Domain of the record.
            record: Source attributes plus resolved references by name.
            candidates: ``(golden_id, views)`` from the blocking index; ``views`` is one
                mapping of attributes or a sequence of them.
            holders: Per comparison label, how many golden records hold ``record``'s value
                (from :meth:`value_keys` in the hub's index); ``None``: not known.
            population: How many golden records of the domain there are (the denominator of
                a term frequency); ``0``: not known.
            levels: The record's levels against ``candidates`` from :meth:`levels_many`,
                when it was compared with them together with other records.
        """
        spec = self._specs.get(domain)
        if spec is None or not candidates:
            return []
        model = self._models[domain]
        gamma, fw = _weigh(model, record, [views for _, views in candidates], levels)
        notes: list[dict[str, str]] = [{} for _ in candidates]
        if holders:
            _discount(spec, model, gamma, fw, notes, holders, population)
        total = fw.sum(axis=1) + model.prior_weight
        prob = probability(total)
        tiers = assign_tiers(
            total.tolist(), prob.tolist(), spec.t_auto, spec.t_review, spec.runner_up_bits
        )
        identity = identity_agrees(spec, model, gamma)
        out = []
        for i, tier in tiers:
            if tier == "auto" and not identity[i]:
                tier = "review"
                notes[i]["tier"] = (
                    f"no agreement on {' or '.join(spec.identity)}: shared contact details "
                    "are evidence, not identity"
                )
            scored = (float(prob[i]), fw[i], gamma[i])
            out.append(_candidate(model, candidates[i][0], tier, scored, notes[i]))
        return out

    def exact_labels(self, domain: str, levels: npt.NDArray[np.int8] | None) -> frozenset[str]:
        """The comparisons on which the record agrees exactly with some candidate (level 0,
        ``levels`` as :meth:`levels_many` gives them): the only ones whose holders
        :meth:`score` reads, so the hub counts no other value."""
        model = self._models.get(domain)
        if model is None or levels is None:
            return frozenset()
        agree = (np.asarray(levels) == 0).any(axis=0).tolist()
        fields = model.fields
        return frozenset(fm.comparison.label for fm, a in zip(fields, agree, strict=True) if a)

    def levels_many(
        self, domain: str, work: Sequence[tuple[Mapping[str, object], Sequence[Entity]]]
    ) -> list[npt.NDArray[np.int8]]:
        """Each record's levels against its own entities, compared together (see
        :func:`entity_levels_many`); pass each to :meth:`score` as ``levels``."""
        model = self._models[domain]
        mine = [record_values(model, record) for record, _ in work]
        return entity_levels_many(model, mine, [entities for _, entities in work])

    def compared_values(
        self, domain: str, views: Sequence[Mapping[str, object]]
    ) -> tuple[str, dict[str, list[str | None]]] | None:
        """Per comparison label, what scoring compares of each view, and the comparisons'
        :func:`~matching.compare.fingerprint` (``None``: not fuzzy-matched); kept, they can
        be a :class:`Views`'s ``compared`` while the fingerprint holds."""
        mark = self.compared_fingerprint(domain)
        if mark is None:
            return None
        comps = [fm.comparison for fm in self._models[domain].fields]
        return mark, {c.label: [c.value(v) for v in views] for c in comps}

    def compared_fingerprint(self, domain: str) -> str | None:
        """The fingerprint :meth:`compared_values` gives, without comparing anything."""
        model = self._models.get(domain)
        if model is None:
            return None
        if domain not in self._fingerprints:
            self._fingerprints[domain] = fingerprint([fm.comparison for fm in model.fields])
        return self._fingerprints[domain]

    @staticmethod
    def explain(
        model: FellegiSunterModel,
        record: Mapping[str, object],
        others: Sequence[Mapping[str, object]],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Field weights, total weight and probability of ``record`` against each of ``others``."""
        fw = _weigh(model, record, others)[1]
        total = fw.sum(axis=1) + model.prior_weight
        return fw, total, probability(total)


def _candidate(
    model: FellegiSunterModel,
    golden_id: str,
    tier: Tier,
    scored: tuple[float, npt.NDArray[np.float64], npt.NDArray[np.int8]],
    notes: dict[str, str],
) -> Candidate:
    """One scored candidate with its explanation: weight and level name per comparison."""
    prob, weights, levels = scored
    return Candidate(
        golden_id=golden_id,
        probability=prob,
        tier=tier,
        rule=RULE,
        weights={label: round(float(w), 4) for label, w in zip(model.labels, weights, strict=True)},
        notes=notes,
        levels={
            fm.comparison.label: _level_name(fm.comparison, int(g))
            for fm, g in zip(model.fields, levels, strict=True)
        },
    )


def _level_name(comparison: Comparison, level: int) -> str:
    return "missing" if level == NULL_LEVEL else comparison.level_names[level]


def _weigh(
    model: FellegiSunterModel,
    record: Mapping[str, object],
    entities: Sequence[Entity],
    gamma: npt.NDArray[np.int8] | None = None,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64]]:
    """Levels (unless given) and field weights of ``record`` against each entity, its values
    normalised once."""
    mine = record_values(model, record)
    if gamma is None:
        gamma = entity_levels(model, record, entities, mine)
    return gamma, model.field_weights(gamma, [[v] * len(entities) for v in mine])


def entity_levels(
    model: FellegiSunterModel,
    record: Mapping[str, object],
    entities: Sequence[Entity],
    mine: Sequence[str | None] | None = None,
) -> npt.NDArray[np.int8]:
    """Levels of ``record`` against each entity, shape ``(entities, fields)``.

    An entity is one mapping or several views of one golden record; per field the best
    (lowest) level among its views wins, and a field missing from every view stays null.
    ``mine`` are the record's compared values when the caller has them already.
    """
    if mine is None:
        mine = record_values(model, record)
    return entity_levels_many(model, [mine], [entities])[0]


def record_values(model: FellegiSunterModel, record: Mapping[str, object]) -> list[str | None]:
    """``record``'s compared value for each field of ``model``."""
    return [fm.comparison.value(record) for fm in model.fields]


def entity_levels_many(
    model: FellegiSunterModel,
    mine: Sequence[Sequence[str | None]],
    pools: Sequence[Sequence[Entity]],
) -> list[npt.NDArray[np.int8]]:
    """``entity_levels`` of many records at once, each (its compared values in ``mine``)
    against its own entities in ``pools``: one comparison call per field for all of them.

    A batch's records met their candidates one at a time, and the fixed cost of each call
    (encoding a column, grading it, the numpy set-up) was most of the scoring; together,
    a pair of values that many records meet (a city, a country) is graded once, and a long
    column is graded on every core. Each pair's level is what it is alone."""
    # Each distinct entity's views once (a batch's records meet the same candidates many
    # times), and every (record, view) pair as indices into the records and those views.
    slot: dict[int, int] = {}  # id(entity) -> its number among the distinct ones
    distinct: list[Entity] = []
    pair_record: list[int] = []
    pair_entity: list[int] = []
    for r, entities in enumerate(pools):
        for entity in entities:
            u = slot.get(id(entity))
            if u is None:
                u = slot[id(entity)] = len(distinct)
                distinct.append(entity)
            pair_record.append(r)
            pair_entity.append(u)
    sizes = np.fromiter(
        (1 if isinstance(e, Mapping) else len(e) for e in distinct), np.int64, len(distinct)
    )
    first = np.cumsum(sizes) - sizes  # each distinct entity's first view
    per_pair = sizes[pair_entity] if pair_entity else np.zeros(0, np.int64)
    pair = np.repeat(np.arange(len(pair_entity)), per_pair)  # per compared view, its pair
    start = np.cumsum(per_pair) - per_pair
    view = np.repeat(first[pair_entity] - start, per_pair) + np.arange(len(pair))
    left = np.asarray(pair_record, np.int64)[pair]
    flat = np.empty((len(pair), len(model.fields)), dtype=np.int8)
    for j, fm in enumerate(model.fields):
        comp = fm.comparison
        right = [v for entity in distinct for v in compared(entity, comp)]
        vocab, (a, b) = encode([values[j] for values in mine], right)
        flat[:, j] = comp.levels_coded(vocab, a[left], b[view])
    if len(pair) == len(pair_entity):
        best = flat
    else:
        widened = flat.astype(np.int16)
        widened[widened == NULL_LEVEL] = _MISSING
        most = np.full((len(pair_entity), len(model.fields)), _MISSING, dtype=np.int16)
        np.minimum.at(most, pair, widened)
        most[most == _MISSING] = NULL_LEVEL
        best = most.astype(np.int8)
    cuts = np.cumsum([len(entities) for entities in pools])[:-1]
    return list(np.split(best, cuts)) if len(pools) else []


def _discount(
    spec: MatchSpec,
    model: FellegiSunterModel,
    gamma: npt.NDArray[np.int8],
    fw: npt.NDArray[np.float64],
    notes: list[dict[str, str]],
    holders: Mapping[str, int],
    population: int,
) -> None:
    """Lower the weight of exact agreement on a common value, in place.

    A value held by ``generic_at`` or more golden records, on an evidence field, weighs 0: it
    cannot tell them apart. Any other exact agreement weighs by how many *other* golden
    records hold the value: u becomes that share of the population when it is larger than
    the declared u, so a common surname or "holdings" counts for less than a rare one, while
    a value only this candidate holds keeps its full declared weight.
    """
    for j, fm in enumerate(model.fields):
        label = fm.comparison.label
        count = holders.get(label, 0)
        if count < 2:
            continue
        rows = np.flatnonzero(gamma[:, j] == 0)
        if not len(rows):
            continue
        if spec.is_generic(label, count, population):
            fw[rows, j] = 0.0
            note = f"generic value: {count} golden records hold it, so it weighs nothing"
        elif population > 0 and (share := (count - 1) / population) > fm.u[0]:
            fw[rows, j] = np.minimum(fw[rows, j], math.log2(max(fm.m[0], 1e-9) / share))
            note = f"common value: {count} golden records hold it"
        else:
            continue
        for r in rows.tolist():
            notes[r][label] = note
