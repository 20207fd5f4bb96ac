"""Curation: a steward's hand on golden records (split, merge, override).

Each action changes links or overrides and then re-survives through the very path ingest uses,
so the new versions, lineage and outbox events are the ones a subscriber already knows how to
read. The caller (a handler) owns the transaction and the audit entry.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from hub.domain.errors import ConcordError, Conflict, RecordNotFound
from hub.domain.model import GoldenRecord
from hub.domain.validation import check_value
from hub.services.batch import Batch
from hub.services.linking import Linker
from hub.services.ports import RecordKey, UnitOfWork
from hub.services.survival import Survival


class Curation:
    """A steward's actions; holds only configuration and the collaborators it shares with
    the apply path, so a curated golden record changes the way an ingested one does."""

    def __init__(self, linker: Linker, survival: Survival) -> None:
        self.linker = linker
        self.survival = survival
        self.domains = survival.domains

    def split(
        self,
        uow: UnitOfWork,
        key: RecordKey,
        actor: str,
        reason: str,
        expected: str | None = None,
    ) -> dict[str, Any]:
        """Detach one source record into a golden record of its own.

        The old pair is remembered as "not a match" so matching never proposes it again.
        """
        source, domain, source_key = key
        uow.lock("record", [f"{source}\x00{domain}\x00{source_key}"])
        batch = Batch(records=uow.records.load([key]))
        record = batch.records.get(key)
        if record is None or record.deleted:
            raise RecordNotFound(f"no live source record {source}/{domain}/{source_key}")
        previous = record.golden_id
        if previous is None:
            raise ConcordError(f"source record {source}/{domain}/{source_key} is not linked")
        if expected is not None and previous != expected:
            raise RecordNotFound(
                f"source record {source}/{domain}/{source_key} is not linked to {expected}"
            )
        siblings = [
            r
            for r in uow.records.linked_to([previous]).get(previous, [])
            if not r.deleted and (r.source, r.domain, r.key) != key
        ]
        if not siblings:
            raise Conflict(
                f"source record {source}/{domain}/{source_key} is the only record of golden "
                f"{previous}: there is nothing to split it from"
            )
        new_id = str(uuid.uuid4())
        record.golden_id, record.link_rule, record.dirty = new_id, "steward:split", True
        batch.goldens[new_id] = GoldenRecord(
            id=new_id,
            domain=domain,
            version=0,
            status="active",
            attributes={},
            provenance={},
            references={},
        )
        batch.to_resurvive.update((previous, new_id))
        now = datetime.now(UTC)
        uow.records.save([record], now)
        uow.candidates.exclude(key, previous, actor, reason or "split", now)
        events = self.survival.run(uow, batch, now)[0]
        return {"golden_id": new_id, "split_from": previous, "events": events}

    def move(self, uow: UnitOfWork, key: RecordKey, target: str, rule: str) -> int:
        """Link one source record to ``target`` (a steward's merge). Its golden record, left
        with no other live record, merges into ``target``; both are re-survived and announced.
        Returns how many events were written."""
        batch = Batch(records=uow.records.load([key]))
        record = batch.records[key]
        previous = record.golden_id
        if previous == target:
            return 0
        others = [
            r
            for r in uow.records.linked_to([previous or ""]).get(previous or "", [])
            if not r.deleted and (r.source, r.domain, r.key) != key
        ]
        record.link_rule = rule
        if previous is not None and not others:
            self.linker.merge(uow, batch, previous, target)
        else:
            record.golden_id, record.dirty = target, True
            batch.to_resurvive.update(g for g in (previous, target) if g)
        uow.records.save([r for r in batch.records.values() if r.dirty], datetime.now(UTC))
        events, _ = self.survival.run(uow, batch, datetime.now(UTC))
        return events

    def merge_golden(self, uow: UnitOfWork, domain: str, loser: str, winner: str) -> int:
        """Every source record and reference of ``loser`` moves to ``winner``."""
        if loser == winner:
            raise ConcordError(f"golden record {loser} cannot be merged into itself")
        # The lock order of every write path (docs/architecture.md, "Locks"): the source
        # records first, then the golden rows. An apply batch that holds one of the loser's
        # records finishes before this moves it, so it cannot write it back onto the loser.
        self.linker.members_locked(uow, {loser})
        found = uow.golden.load([loser, winner], lock=True)
        for gid in (loser, winner):
            g = found.get(gid)
            if g is None or g.domain != domain:
                raise RecordNotFound(f"no {domain} golden record {gid}")
            if g.status != "active":
                raise Conflict(f"{domain} golden record {gid} is {g.status}, not active")
        batch = Batch(records={}, goldens=dict(found))
        self.linker.merge(uow, batch, loser, winner)
        now = datetime.now(UTC)
        uow.records.save([r for r in batch.records.values() if r.dirty], now)
        events: int = self.survival.run(uow, batch, now)[0]
        return events

    def set_override(
        self,
        uow: UnitOfWork,
        domain: str,
        golden_id: str,
        field: str,
        value: Any,
        by: str,
        reason: str,
    ) -> tuple[Any, int]:
        """Set (``value`` given) or remove (``value`` is ``REMOVE``) a steward's override.

        Returns the override held before, and how many events were written.
        """
        spec = self.domains.get(domain)
        if spec is None:
            raise RecordNotFound(f"unknown domain {domain!r}")
        fields = {f.name: f for f in spec.fields}
        if field not in fields:
            raise ConcordError(f"field {field!r} is not a field of domain {domain}")
        golden = uow.golden.load([golden_id], lock=True).get(golden_id)
        if golden is None or golden.domain != domain:
            raise RecordNotFound(f"no {domain} golden record {golden_id}")
        if golden.status != "active":
            raise Conflict(f"{domain} golden record {golden_id} is {golden.status}, not active")
        before = golden.overrides.get(field)
        now = datetime.now(UTC)
        overrides = dict(golden.overrides)
        if value is REMOVE:
            if before is None:
                raise Conflict(f"field {field!r} of golden {golden_id} has no override")
            del overrides[field]
        else:
            problem = check_value(fields[field], value)
            if problem:
                raise ConcordError(f"field {field!r}: {problem}")
            overrides[field] = {"value": value, "reason": reason, "by": by, "at": now.isoformat()}
        golden.overrides = overrides
        batch = Batch(records={}, goldens={golden_id: golden}, to_resurvive={golden_id})
        # An override that changes nothing a subscriber sees (same value, reason and steward)
        # writes no version; there is then nothing new to keep either.
        events = self.survival.run(uow, batch, now)[0]
        return before, events


class _Remove:
    def __repr__(self) -> str:
        return "REMOVE"


REMOVE: Any = _Remove()
"""Passed as the value to :meth:`Curation.set_override` to give the field back to its rules."""
