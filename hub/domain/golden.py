"""The recomputation of one golden record: survive, version, retire, merge away, and the event
its subscribers receive (docs/architecture.md, "Survivorship").

Pure rules: they take the record as stored and the live source records' offers, and return
the new state with its event, or None when nothing a subscriber could see has changed. The
apply path, the steward's actions and an onboarding rollback load, call these and save, so a
golden record changes one way whoever changes it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hub.domain.events import GoldenRecordChanged
from hub.domain.model import GoldenRecord, SourceRecord
from hub.domain.spec import (
    DomainSpec,
    FieldSpec,
    ReferenceSpec,
    SourceSpec,
    reference_target,
    source_named,
)
from hub.domain.survivorship import Contribution, Override, is_blank, survive, survive_field

RecordKey = tuple[str, str, str]  # (source, domain, source key)


@dataclass(frozen=True)
class Recomputed:
    """A golden record's next version and the event that announces it."""

    golden: GoldenRecord
    kind: str  # created | updated | retired | merged
    changed: list[str]
    event: GoldenRecordChanged


@dataclass(frozen=True)
class Offers:
    """What the live source records of one golden record offer it: their values, their
    resolved references (``(source NUL key, reference name) -> golden id``), and the
    references that name a record the hub does not hold yet (kept as pending)."""

    values: list[Contribution]
    references: dict[tuple[str, str], Any]
    pending: list[dict[str, Any]]


def offers_of(
    spec: DomainSpec,
    live: Sequence[SourceRecord],
    targets: Mapping[RecordKey, SourceRecord],
    sources: Mapping[str, SourceSpec],
    golden_id: str,
) -> Offers:
    """The contributions of ``live``; ``targets`` holds the records their references name."""
    values: list[Contribution] = []
    refs: dict[tuple[str, str], Any] = {}
    pending: list[dict[str, Any]] = []
    for r in live:
        src = source_named(sources, r.source)
        values.append(
            Contribution(
                r.source, src.kind, src.rank, r.key, r.changed_at, r.sequence, r.attributes
            )
        )
        for ref in spec.references:
            target_key = r.attributes.get(ref.attribute)
            named = reference_target(r.source, ref, target_key)
            if named is None:
                continue
            target = targets.get(named)
            if target is not None and target.golden_id and not target.deleted:
                refs[(r.source + "\x00" + r.key, ref.name)] = target.golden_id
            else:
                pending.append(
                    {
                        "golden_id": golden_id,
                        "source": r.source,
                        "source_key": r.key,
                        "name": ref.name,
                        "target_domain": ref.target,
                        "target_key": str(target_key),
                    }
                )
    return Offers(values, refs, pending)


@functools.cache
def _reference_field(ref: ReferenceSpec) -> FieldSpec:
    """A reference survives like a field: its owner's resolved reference, else the newest."""
    rules = ("source_priority", "most_recent") if ref.owners else ("most_recent",)
    return FieldSpec(ref.name, "string", ref.owners, rules)  # type: ignore[arg-type]


def survive_references(spec: DomainSpec, offers: Offers) -> tuple[dict[str, Any], dict[str, Any]]:
    """The golden record's references and their lineage (``ref:<name>`` in provenance)."""
    references: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    for ref in spec.references:
        ref_offers = [
            replace(
                c, values={ref.name: offers.references.get((c.source + "\x00" + c.key, ref.name))}
            )
            for c in offers.values
        ]
        chosen = survive_field(_reference_field(ref), ref.name, ref_offers)
        references[ref.name] = chosen.value if chosen else None
        if chosen is not None:
            provenance["ref:" + ref.name] = chosen.provenance
    return references, provenance


def resurvive(
    golden: GoldenRecord,
    spec: DomainSpec,
    offers: Offers,
    xref: list[dict[str, str]],
    now: datetime,
) -> Recomputed | None:
    """The record from its live source records' offers and its steward overrides; None when
    nothing changed (no new version, no event)."""
    overrides = {
        k: Override(v["value"], v.get("reason", ""), v.get("by", ""))
        for k, v in golden.overrides.items()
    }
    attributes, provenance = survive(spec, offers.values, overrides)
    references, ref_provenance = survive_references(spec, offers)
    provenance.update(ref_provenance)
    changed = golden.differs("active", attributes, provenance, references, xref)
    if changed is None:
        return None
    kind = "created" if golden.version == 0 else "updated"
    new = replace(
        golden,
        version=golden.version + 1,
        status="active",
        attributes=attributes,
        provenance=provenance,
        references=references,
        xref=xref,
        created_at=golden.created_at or now,
    )
    return Recomputed(new, kind, changed, _event(new, kind, changed, now))


def retire(golden: GoldenRecord, now: datetime) -> Recomputed | None:
    """A golden record left with no live source record is retired, not dropped: it keeps its
    last values, so subscribers learn what was retired, and a source that sends it again
    revives it. None if it is retired already."""
    if golden.status == "retired":
        return None
    new = replace(golden, version=golden.version + 1, status="retired", xref=[])
    return Recomputed(new, "retired", [], _event(new, "retired", [], now))


def merge_away(golden: GoldenRecord, winner: str, now: datetime) -> Recomputed | None:
    """The loser of a merge: a last version that names its winner. None for a record born
    in the same transaction, which no subscriber ever heard of."""
    if golden.version == 0:
        return None
    new = replace(golden, version=golden.version + 1, status="merged", merged_into=winner, xref=[])
    return Recomputed(new, "merged", [], _event(new, "merged", [], now))


def _event(
    golden: GoldenRecord, kind: str, changed: list[str], now: datetime
) -> GoldenRecordChanged:
    return GoldenRecordChanged(
        domain=golden.domain,
        golden_id=golden.id,
        version=golden.version,
        kind=kind,
        attributes=golden.attributes,
        provenance=golden.provenance,
        references=golden.references,
        changed_fields=changed,
        xref=golden.xref,
        status=golden.status,
        at=now,
        merged_into=golden.merged_into if kind == "merged" else None,
    )


def update_changes_nothing(
    golden: GoldenRecord,
    spec: DomainSpec,
    record: SourceRecord,
    before: Mapping[str, Any],
    sources: Mapping[str, SourceSpec],
    key_fields: frozenset[str] | None,
) -> bool:
    """Whether an update of a record linked to ``golden`` (its image was ``before``) can
    leave every golden value, its lineage and the key index as they are, so the golden
    record need not be survived again (issue 14, must-have 1: a change that can change no
    winner skips re-survival).

    A field the update did not move changed only in recency, and only forward, so the one
    value that could newly win it is the record's own: it is safe when it is blank, or the
    record won it already, or a steward's override or a union decides it, or an owner that
    outranks the record's source won it (recency only breaks ties within one owner and
    rank). An equal value another record won is not safe: surviving again may credit this
    record with it, a new version of the lineage alone. A field it moved is safe only when
    an override decides it or an owner that outranks the source won it: then neither the
    old value nor the new one can win. Any other rule (most recent, most complete, most
    frequent, a union the old value was part of) is survived again. So is a moved field a
    key reads (``key_fields``; ``None``: the matcher cannot say which, so any move), since
    the index holds every live record's keys, and a record that carries a reference. A
    resend of the image held is the case with nothing moved (``before`` is the record's
    attributes)."""
    if golden.status != "active" or golden.version == 0 or record.golden_id != golden.id:
        return False
    after = record.attributes
    moved = _moved(before, after)
    if moved and (key_fields is None or not moved.isdisjoint(key_fields)):
        return False
    for ref in spec.references:
        # A reference is resolved to its target's golden record when survived, and a target
        # can move to another golden record without a change of this record (its own key
        # moved): only surviving again resolves it afresh.
        if ref.attribute in moved or after.get(ref.attribute) not in (None, ""):
            return False
    mine = source_named(sources, record.source)
    for f in spec.fields:
        lineage = golden.provenance.get(f.name) or {}
        rule = lineage.get("rule")
        if rule == "override":
            continue
        if f.name not in moved:
            value = after.get(f.name)
            mine_won = (lineage.get("source"), lineage.get("key")) == (record.source, record.key)
            if is_blank(value) or mine_won or rule == "union":
                continue
        if rule != "source_priority" or not _outranked(f, mine, sources, lineage):
            return False
    return True


def update_keeps_keys(
    golden: GoldenRecord,
    spec: DomainSpec,
    record: SourceRecord,
    before: Mapping[str, Any],
    key_fields: frozenset[str] | None,
) -> bool:
    """Whether an update of a record linked to ``golden`` leaves the golden record's index
    keys as they are, when it must be survived again for its values: it moved no field a
    key reads, and the domain has no references.

    The keys are a function of each live record's view: its attributes, its source and its
    references resolved to golden records. A record's own update that moves no key field
    leaves its view's keys as they were. A reference is resolved again at every survival,
    and its target may have moved meanwhile without a change of this record, so a domain
    with references always computes its keys (as ``update_changes_nothing`` survives every
    update of a record that carries one). The caller checks that the golden record gained
    or lost no record in the same transaction."""
    if (
        key_fields is None
        or spec.references
        or golden.status != "active"
        or golden.version == 0
        or record.golden_id != golden.id
        or record.deleted
    ):
        return False
    return _moved(before, record.attributes).isdisjoint(key_fields)


def _moved(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """The attributes whose value changed, ``1`` to ``True`` included (equal in Python, not
    in JSON). A scalar equal and of one type is the common case, and cheap."""
    if before is after:
        return set()
    moved = set()
    for name in before.keys() | after.keys():
        a, b = before.get(name), after.get(name)
        if a == b and type(a) is type(b) and not isinstance(a, dict | list):
            continue
        if _typed(a) != _typed(b):
            moved.add(name)
    return moved


def _typed(value: Any) -> Any:
    if isinstance(value, Mapping):
        return (dict, tuple(sorted((k, _typed(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return (list, tuple(_typed(v) for v in value))
    return (type(value), value)


def _outranked(
    f: FieldSpec, mine: SourceSpec, sources: Mapping[str, SourceSpec], lineage: dict[str, Any]
) -> bool:
    """The field's winner is an owner that ranks strictly above ``mine``."""
    order = {kind: i for i, kind in enumerate(f.owners)}
    winner = source_named(sources, str(lineage.get("source")))
    if winner.kind not in order:
        return False
    if mine.kind not in order:
        return True
    return (order[winner.kind], winner.rank) < (order[mine.kind], mine.rank)


def xref_of(live: Sequence[SourceRecord]) -> list[dict[str, str]]:
    """The keys every linked system knows the record by, in a stable order."""
    return sorted(
        ({"source": r.source, "key": r.key} for r in live), key=lambda x: (x["source"], x["key"])
    )
