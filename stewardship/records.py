"""What the compare and golden-record pages show, shaped from ``hub.store.read``: reads only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.store.read import candidates
from hub.store.read.golden import linked_records
from hub.web.deps import ReadSession
from matching import DEFAULT_SPECS, NULL_LEVEL, Comparison


def _levels(domain: str) -> dict[str, Comparison]:
    build = DEFAULT_SPECS.get(domain)
    return {c.label: c for c in build().comparisons} if build else {}


def level_of(
    comparison: Comparison | None, mine: Mapping[str, Any], theirs: Mapping[str, Any]
) -> str:
    """The comparison level two records reach ("exact", "jw>=0.92", "else"...), as scored.

    A comparison that reads more than its own field (names entered the wrong way round) says
    what it compares through ``value``; a plain one compares its field, normalised.
    """
    if comparison is None:
        return ""
    value = getattr(comparison, "value", None)
    if callable(value):
        left, right = value(mine), value(theirs)
    else:
        field = comparison.field
        left, right = comparison.normalise(mine.get(field)), comparison.normalise(theirs.get(field))
    level = int(comparison.levels([left], [right])[0])
    return "missing" if level == NULL_LEVEL else comparison.level_names[level]


def compare(session: ReadSession, candidate_id: int) -> dict[str, Any]:
    """The incoming record beside the candidate golden record, field by field, with weights."""
    cand, record, golden = candidates.pair(session, candidate_id)
    comparisons = _levels(cand.domain)
    weights = {k: float(v) for k, v in cand.weights.items()}
    notes = dict(cand.notes or {})
    levels = dict(cand.levels or {})  # scored with the weights, never read apart from them
    scale = max((abs(w) for w in weights.values()), default=1.0) or 1.0
    rows = []
    for label, weight in weights.items():
        comp = comparisons.get(label)
        name = comp.field if comp else label
        rows.append(
            {
                "field": name,
                "label": label,
                "record": record.attributes.get(name),
                "golden": golden.attributes.get(name),
                "level": levels.get(label) or level_of(comp, record.attributes, golden.attributes),
                "weight": weight,
                "note": notes.get(label),
                "bar": round(100 * abs(weight) / scale),
            }
        )
    compared = {r["field"] for r in rows}
    others = sorted(
        (set(record.attributes) | set(golden.attributes)) - compared - {"id"},
    )
    return {
        "candidate": cand,
        "record": record,
        "golden": golden,
        "fields": rows,
        "other_fields": [
            {"field": f, "record": record.attributes.get(f), "golden": golden.attributes.get(f)}
            for f in others
        ],
        "total_weight": round(sum(weights.values()), 2),
        "tier_note": notes.get("tier"),
        "linked": linked_records(session, golden.id),
    }


def history_diffs(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each version with, per changed field, the value before and after (newest first)."""
    out = []
    previous: dict[str, Any] = {}
    for v in history:
        attrs = v["attributes"]
        changed = v["changed_fields"] or sorted(set(attrs) | set(previous))
        diffs = [
            {"field": f, "before": previous.get(f), "after": attrs.get(f)}
            for f in changed
            if previous.get(f) != attrs.get(f) or not previous
        ]
        out.append({**v, "diffs": diffs})
        previous = attrs
    return list(reversed(out))
