"""Survivorship: which source's value becomes the golden value, field by field.

Each field has an ordered list of rules; the first that yields a value wins, so a firm can say
"the owner's value, else the most recent". Blank values never win. A steward override beats
every rule. Every chosen value carries its lineage: which source record and which rule.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.domain.spec import DomainSpec, FieldSpec


@dataclass(frozen=True)
class Contribution:
    """One live source record's offer to a golden record."""

    source: str
    kind: str
    rank: int
    key: str
    changed_at: datetime
    sequence: int | None
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Override:
    value: Any
    reason: str
    by: str


@dataclass(frozen=True)
class Survivor:
    value: Any
    provenance: dict[str, Any]


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict | set):
        return len(value) == 0
    return False


def _recency(c: Contribution) -> tuple[datetime, int, str, str]:
    # Sources compare by time; the source and key only make the order total and repeatable.
    return (c.changed_at, c.sequence or 0, c.source, c.key)


def _lineage(c: Contribution, rule: str) -> dict[str, Any]:
    return {"source": c.source, "key": c.key, "rule": rule}


Rule = Callable[[FieldSpec, str, list[Contribution]], Survivor | None]


@functools.cache
def _owner_order(owners: tuple[str, ...]) -> dict[str, int]:
    # Made once per owner list: survival calls the rule for every field of every golden
    # record it recomputes, and building this each time was a tenth of an update's cost.
    return {kind: i for i, kind in enumerate(owners)}


def source_priority(spec: FieldSpec, name: str, offers: list[Contribution]) -> Survivor | None:
    """The owner's value: first owner kind, then rank within the kind, then the newest (the
    first of equally new offers, as ``max`` would pick)."""
    order = _owner_order(spec.owners)
    top: tuple[int, int] | None = None
    best: Contribution | None = None
    for c in offers:
        i = order.get(c.kind)
        if i is None:
            continue
        here = (i, c.rank)
        if top is None or here < top:
            top, best = here, c
        elif here == top and best is not None and _recency(c) > _recency(best):
            best = c
    if best is None:
        return None
    return Survivor(best.values[name], _lineage(best, "source_priority"))


def most_recent(spec: FieldSpec, name: str, offers: list[Contribution]) -> Survivor | None:
    best = max(offers, key=_recency)
    return Survivor(best.values[name], _lineage(best, "most_recent"))


def most_complete(spec: FieldSpec, name: str, offers: list[Contribution]) -> Survivor | None:
    """The fullest value (longest text, longest list), newest on a tie."""
    best = max(offers, key=lambda c: (_size(c.values[name]), _recency(c)))
    return Survivor(best.values[name], _lineage(best, "most_complete"))


def _size(value: Any) -> int:
    if isinstance(value, list | tuple | set | dict):
        return len(value)
    return len(str(value).strip())


def most_frequent(spec: FieldSpec, name: str, offers: list[Contribution]) -> Survivor | None:
    """The value most sources agree on, newest among equals."""
    counts = Counter(_hashable(c.values[name]) for c in offers)
    best = max(offers, key=lambda c: (counts[_hashable(c.values[name])], _recency(c)))
    return Survivor(best.values[name], _lineage(best, "most_frequent"))


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple | set):
        return tuple(sorted(map(str, value)))
    if isinstance(value, dict):
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))
    return value


def union(spec: FieldSpec, name: str, offers: list[Contribution]) -> Survivor | None:
    """Every distinct item of every source's list, sorted so the result is order-free."""
    items: set[str] = set()
    for c in offers:
        value = c.values[name]
        values = value if isinstance(value, list | tuple | set) else [value]
        items.update(str(v).strip() for v in values if not is_blank(v))
    ordered = sorted(offers, key=lambda c: (c.source, c.key))
    return Survivor(
        sorted(items),
        {
            "source": ",".join(dict.fromkeys(c.source for c in ordered)),
            "key": ",".join(c.key for c in ordered),
            "rule": "union",
            "sources": [{"source": c.source, "key": c.key} for c in ordered],
        },
    )


RULES: dict[str, Rule] = {
    "source_priority": source_priority,
    "most_recent": most_recent,
    "most_complete": most_complete,
    "most_frequent": most_frequent,
    "union": union,
}


def survive_field(
    spec: FieldSpec,
    name: str,
    offers: Sequence[Contribution],
    override: Override | None = None,
) -> Survivor | None:
    """The golden value of one field, or None when every source leaves it blank."""
    if override is not None:
        return Survivor(
            override.value,
            {
                "source": "steward",
                "key": override.by,
                "rule": "override",
                "reason": override.reason,
            },
        )
    present = [c for c in offers if not is_blank(c.values.get(name))]
    if not present:
        return None
    for rule in spec.rules:
        chosen = RULES[rule](spec, name, present)
        if chosen is not None:
            return chosen
    # Every rule list ends in a total rule by validation; this keeps a bad list from losing data.
    return most_recent(spec, name, present)


def survive(
    domain: DomainSpec,
    offers: Sequence[Contribution],
    overrides: Mapping[str, Override] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The golden attributes and their lineage, from the live source records of one golden."""
    overrides = overrides or {}
    attributes: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    for spec in domain.fields:
        chosen = survive_field(spec, spec.name, offers, overrides.get(spec.name))
        if chosen is not None:
            attributes[spec.name] = chosen.value
            provenance[spec.name] = chosen.provenance
    return attributes, provenance
