"""Evidence scored again: a match candidate's weights, levels and probability, from one
snapshot of the golden record as it is now.

A candidate's weights are scored when it is made. Shown later beside the golden record's
values as they are then, they once put a green +10.64 beside a name whose level read
``else``. A candidate keeps the golden record's version it was scored against; when the
golden record has moved on (or been merged away), the steward page asks for the evidence
again, and it is scored here by the very matcher, views, value counts and guards the apply
path uses (docs/architecture.md, "Linking").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.services.batch import Batch
from hub.services.linking import Linker
from hub.services.ports import RecordKey, UnitOfWork


def record_key(candidate: Mapping[str, Any]) -> RecordKey:
    return candidate["source"], candidate["domain"], candidate["source_key"]


def active_successor(uow: UnitOfWork, golden_id: str) -> str:
    """The golden record that ``golden_id`` lives on in, following merges."""
    seen: set[str] = set()
    while golden_id not in seen:
        seen.add(golden_id)
        g = uow.golden.load([golden_id]).get(golden_id)
        if g is None or g.status != "merged" or not g.merged_into:
            break
        golden_id = g.merged_into
    return golden_id


class Evidence:
    """Rescoring a steward's candidate; holds only configuration."""

    def __init__(self, linker: Linker) -> None:
        self.linker = linker
        self.context = linker.context
        self.matcher = linker.matcher

    def rescore(self, uow: UnitOfWork, candidate: Mapping[str, Any]) -> dict[str, Any] | None:
        """The candidate's evidence now, or ``None`` if the pair is no longer one a steward
        should decide (the record is gone or on that golden record already, the golden record
        is retired, or the pair no longer reaches review). The caller holds the record lock.
        """
        key = record_key(candidate)
        batch = Batch(records=uow.records.load([key]))
        record = batch.records.get(key)
        if record is None or record.deleted:
            return None
        ctx = self.context
        targets = ctx.references(record.source, record.domain, record.attributes)
        batch.records.update(uow.records.load(targets - batch.records.keys()))
        gid = active_successor(uow, candidate["golden_id"])
        ctx.load_candidates(uow, batch, {gid})
        golden = batch.candidate_goldens.get(gid)
        if golden is None or golden.status != "active" or record.golden_id == gid:
            return None
        view = ctx.view(uow, batch, record)
        holders = ctx.holders(uow, batch, record.domain, view)
        if record.golden_id is not None:
            # The record's own golden record holds its values now; when it was first scored
            # it did not exist yet, and it is not one of the others that share them.
            holders = {label: max(n - 1, 0) for label, n in holders.items()}
        population = max(ctx.population(uow, batch, record.domain, holders) - 1, 0)
        scored = self.matcher.score(
            record.domain, view, [(gid, ctx.entity(uow, batch, gid))], holders, population
        )
        if not scored:
            return None
        found = scored[0]
        notes = dict(found.notes)
        if found.tier == "auto" and "tier" not in notes:
            # Alone it would link; it waits because of what else was proposed or held.
            why = self.linker.crowded(batch, record, gid) or (candidate.get("notes") or {}).get(
                "tier"
            )
            if why:
                notes["tier"] = why
        return {
            "golden_id": gid,
            "probability": found.probability,
            "weights": dict(found.weights),
            "notes": notes or None,
            "levels": dict(found.levels),
            "golden_version": golden.version,
        }
