"""What a merge would make of a golden record, before a steward decides it (issue 16,
must-have 2), and which value each source offers a field now.

Both run the survivorship rules of ``hub.domain.survivorship`` themselves, over the same
offers the apply path builds, so the page cannot tell a different story from the merge: a
preview with rules of its own would drift from them the first time a rule changed.
Pure functions: nothing here reads or writes the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.domain.spec import DomainSpec
from hub.domain.survivorship import Contribution, Override, is_blank, survive_field


@dataclass(frozen=True)
class FieldPreview:
    """One field before and after the merge, and whose value wins it after."""

    field: str
    now: Any
    after: Any
    source: str
    key: str
    rule: str
    from_incoming: bool

    @property
    def changes(self) -> bool:
        return bool(self.now != self.after)


@dataclass(frozen=True)
class Offer:
    """One source record's value for a field, and whether survivorship chose it."""

    source: str
    key: str
    value: Any
    changed_at: Any
    won: bool
    rule: str


def merge_preview(
    domain: DomainSpec,
    linked: Sequence[Contribution],
    incoming: Contribution,
    overrides: Mapping[str, Override] | None = None,
) -> list[FieldPreview]:
    """Every field with a value before or after ``incoming`` joins the ``linked`` records."""
    overrides = overrides or {}
    joined = [*[c for c in linked if (c.source, c.key) != (incoming.source, incoming.key)]]
    joined.append(incoming)
    out = []
    for spec in domain.fields:
        before = survive_field(spec, spec.name, linked, overrides.get(spec.name))
        after = survive_field(spec, spec.name, joined, overrides.get(spec.name))
        if before is None and after is None:
            continue
        lineage = after.provenance if after else {}
        sources = lineage.get("sources") or [lineage]
        out.append(
            FieldPreview(
                field=spec.name,
                now=before.value if before else None,
                after=after.value if after else None,
                source=str(lineage.get("source", "")),
                key=str(lineage.get("key", "")),
                rule=str(lineage.get("rule", "")),
                from_incoming=any(
                    (s.get("source"), s.get("key")) == (incoming.source, incoming.key)
                    for s in sources
                ),
            )
        )
    return out


def competing(
    domain: DomainSpec,
    offers: Sequence[Contribution],
    overrides: Mapping[str, Override] | None = None,
) -> dict[str, list[Offer]]:
    """Per field, every source record's non-blank value, newest first, marked with whether
    it is the golden value and by which rule (a list's union is won by all it names)."""
    overrides = overrides or {}
    out: dict[str, list[Offer]] = {}
    for spec in domain.fields:
        chosen = survive_field(spec, spec.name, offers, overrides.get(spec.name))
        lineage = chosen.provenance if chosen else {}
        winners = {(s.get("source"), s.get("key")) for s in lineage.get("sources") or [lineage]}
        rule = str(lineage.get("rule", ""))
        present = [c for c in offers if not is_blank(c.values.get(spec.name))]
        present.sort(key=lambda c: (c.changed_at, c.sequence or 0), reverse=True)
        out[spec.name] = [
            Offer(c.source, c.key, c.values[spec.name], c.changed_at, w, rule if w else "")
            for c in present
            for w in [(c.source, c.key) in winners]
        ]
    return out
