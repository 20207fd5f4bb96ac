"""A match spec's comparisons and blocking rules from plain data (a firm's ``concord.yaml``).

The specs in :mod:`matching.spec` are the defaults. A firm whose data differs (no postcodes,
a strong national id, names in one field) declares its own for a domain without writing code:

.. code-block:: yaml

    match:
      client:
        comparisons:
          - {kind: token_ratio, field: name, normaliser: company_name, thresholds: [95, 85]}
          - {kind: exact, field: tax_id, normaliser: tax_id}
        blocking:
          - [{field: name, normaliser: company_name, length: 4}, {field: country}]
          - [tax_id]
        identity: [name]              # an auto link needs one of these to agree
        evidence: [website, phone]    # a value many golden records share weighs nothing
        generic_at: 3                 # ... from this many golden records on
        max_per_source: 1             # a second record of one source waits for review

Every mistake raises ``ValueError`` naming where it is (``comparisons[1].thresholds``), so the
hub can stop its start with a message that points at the line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from matching.blocking import BlockOn, BlockPart, Or
from matching.compare import (
    Comparison,
    ExactMatch,
    JaroWinklerAtThresholds,
    LevenshteinAtThresholds,
    TokenRatioAtThresholds,
)
from matching.compare_dates import DateComparison
from matching.compare_names import NamesSwapped
from matching.spec import MatchSpec

__all__ = [
    "KINDS",
    "blocking_from_config",
    "comparison_from_config",
    "spec_from_config",
    "spec_to_config",
]

KINDS: dict[str, type[Comparison]] = {
    "exact": ExactMatch,
    "jaro_winkler": JaroWinklerAtThresholds,
    "token_ratio": TokenRatioAtThresholds,
    "levenshtein": LevenshteinAtThresholds,
    "date": DateComparison,
    "names_swapped": NamesSwapped,
}
_TUPLES = {"m", "u", "thresholds"}


def comparison_from_config(raw: Any, where: str) -> Comparison:
    """One comparison from ``{kind: ..., field: ..., ...}``."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping with kind and field")
    kind = raw.get("kind")
    cls = KINDS.get(str(kind))
    if cls is None:
        raise ValueError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    allowed = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "_"}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "kind":
            continue
        if key not in allowed:
            raise ValueError(f"{where}: unknown key {key!r} for kind {kind}")
        if key in _TUPLES:
            if not isinstance(value, list):
                raise ValueError(f"{where}.{key}: expected a list")
            value = tuple(value)
        kwargs[key] = value
    if "field" not in kwargs:
        raise ValueError(f"{where}: a comparison needs a field")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _part(raw: Any, where: str) -> BlockPart:
    if isinstance(raw, str):
        return BlockPart(raw)
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a field name or a mapping with field")
    unknown = set(raw) - {"field", "normaliser", "length", "first_token"}
    if unknown:
        raise ValueError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    try:
        return BlockPart(**dict(raw))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from exc


def blocking_from_config(raw: Any, where: str) -> Or:
    """A union of rules; each rule is a list of parts, or ``{name: ..., parts: [...]}`` so
    that two rules can share a key space (the same names in either order)."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: expected a non-empty list of rules")
    rules = []
    for i, rule in enumerate(raw):
        here = f"{where}[{i}]"
        name = ""
        parts = rule
        if isinstance(rule, Mapping):
            if set(rule) - {"name", "parts"}:
                raise ValueError(f"{here}: a rule has only name and parts")
            name, parts = str(rule.get("name", "")), rule.get("parts")
        if not isinstance(parts, list) or not parts:
            raise ValueError(f"{here}: expected a non-empty list of fields")
        try:
            rules.append(
                BlockOn(tuple(_part(p, f"{here}[{j}]") for j, p in enumerate(parts)), name)
            )
        except ValueError as exc:
            raise ValueError(str(exc) if str(exc).startswith(here) else f"{here}: {exc}") from exc
    return Or(*rules)


def spec_from_config(base: MatchSpec, raw: Mapping[str, Any], where: str) -> MatchSpec:
    """``base`` with the comparisons and blocking rules ``raw`` declares (each optional)."""
    comparisons: Sequence[Comparison] = base.comparisons
    if "comparisons" in raw:
        items = raw["comparisons"]
        if not isinstance(items, list) or not items:
            raise ValueError(f"{where}.comparisons: expected a non-empty list")
        comparisons = tuple(
            comparison_from_config(c, f"{where}.comparisons[{i}]") for i, c in enumerate(items)
        )
    blocking = base.blocking
    if "blocking" in raw:
        blocking = blocking_from_config(raw["blocking"], f"{where}.blocking")
    labels = {c.label for c in comparisons}
    guards: dict[str, Any] = {}
    for name in ("identity", "evidence", "localities"):
        if name in raw:
            value = raw[name]
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise ValueError(f"{where}.{name}: expected a list of comparison labels")
            guards[name] = tuple(value)
        else:  # the defaults' labels that the firm's comparisons still have
            guards[name] = tuple(x for x in getattr(base, name) if x in labels)
    for name in ("generic_at", "max_per_source"):
        if name in raw:
            value = raw[name]
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{where}.{name}: expected a whole number")
            guards[name] = value
    if "generic_share" in raw:
        share = raw["generic_share"]
        if not isinstance(share, int | float) or isinstance(share, bool):
            raise ValueError(f"{where}.generic_share: expected a share between 0 and 1")
        guards["generic_share"] = float(share)
    try:
        return replace(
            base, comparisons=tuple(comparisons), blocking=blocking, model=None, **guards
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def spec_to_config(spec: MatchSpec) -> dict[str, Any]:
    """The spec's comparisons and blocking rules as the plain data :func:`spec_from_config`
    reads, so a firm can start from the defaults (``concord match spec``) and edit them."""
    kinds = {cls: name for name, cls in KINDS.items()}
    comparisons = []
    for comp in spec.comparisons:
        out: dict[str, Any] = {"kind": kinds[type(comp)]}
        for f in dataclasses.fields(comp):
            if not f.init or f.name == "_":
                continue
            value = getattr(comp, f.name)
            default = f.default if f.default is not dataclasses.MISSING else None
            if f.name == "label" and value == comp.field:
                continue
            if f.name == "field" or value != default:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        comparisons.append(out)
    blocking: list[Any] = []
    for rule in spec.blocking.rules:
        parts = []
        for p in rule.parts:
            part: dict[str, Any] = {"field": p.field, "normaliser": p.normaliser}
            if p.length is not None:
                part["length"] = p.length
            if p.first_token:
                part["first_token"] = True
            parts.append(part)
        derived = "+".join(p.name for p in rule.parts)
        blocking.append(parts if rule.name == derived else {"name": rule.name, "parts": parts})
    return {
        "comparisons": comparisons,
        "blocking": blocking,
        "identity": list(spec.identity),
        "evidence": list(spec.evidence),
        "generic_at": spec.generic_at,
        "localities": list(spec.localities),
        "generic_share": spec.generic_share,
        "max_per_source": spec.max_per_source,
    }
