"""Apply: from inbox rows to source records, links, golden records and outbox, in one go.

The work is batch-shaped (docs/architecture.md, "Speed"): one transaction takes a few hundred
inbox rows, loads what it needs in a handful of set-based queries, decides in memory, and writes
back in bulk. Order still holds per source record: changes are walked in inbox order, and a
change older than the one held never overwrites it.

The applier owns the batch; its collaborators each own one step: the match context reads what
linking needs, the linker decides links (by the domain's rules), survival recomputes golden
records (by the domain's rules), curation is a steward's hand, evidence rescores a candidate.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hub.domain.model import Change, SourceRecord, attributes_digest, is_newer
from hub.domain.spec import DomainSpec
from hub.services.batch import ApplyReport, Batch
from hub.services.candidate_cache import DEFAULT_SIZE
from hub.services.curation import Curation
from hub.services.evidence import Evidence
from hub.services.key_cache import DEFAULT_SIZE as KEY_CACHE_SIZE
from hub.services.key_cache import KeyCache
from hub.services.linking import Linker
from hub.services.match_context import MatchContext
from hub.services.ports import Matcher, RecordKey, UnitOfWork
from hub.services.survival import Survival

__all__ = ["Applier", "ApplyReport"]


class Applier:
    """Applies changes; holds configuration and its candidate cache (checked by every
    transaction), so one instance serves every transaction."""

    def __init__(
        self,
        domains: dict[str, DomainSpec],
        matcher: Matcher,
        cache_size: int = DEFAULT_SIZE,
        key_cache_size: int = KEY_CACHE_SIZE,
    ) -> None:
        self.domains = domains
        self.cache_size = cache_size
        self.key_cache_size = key_cache_size
        self.matcher = matcher
        # who claims: appliers that share an inbox count each other (inbox_partitions.py)
        self.id = str(uuid.uuid4())

    @property
    def matcher(self) -> Matcher:
        return self._matcher

    @matcher.setter
    def matcher(self, matcher: Matcher) -> None:
        """A new matcher (a test's spy, a retrained model) reaches every collaborator."""
        self._matcher = matcher
        self.context = MatchContext(
            self.domains, matcher, self.cache_size, KeyCache(self.key_cache_size)
        )
        self.linker = Linker(self.context)
        self.survival = Survival(self.domains, matcher)
        self.curation = Curation(self.linker, self.survival)
        self.evidence = Evidence(self.linker)

    # -- the batch --------------------------------------------------------------------------

    def apply(self, uow: UnitOfWork, rows: list[tuple[int, Change]]) -> ApplyReport:
        """Apply ``rows`` inside ``uow``'s transaction (the caller commits). The caller holds
        their records' locks already (``free_rows`` or ``lock_records``)."""
        now = datetime.now(UTC)
        report = ApplyReport()
        wanted = self._wanted(rows)
        batch = Batch(records=uow.records.load(wanted))
        later = self.context.prefetch(uow, batch, rows)
        if later:  # and every change of their records, so each record's changes keep order
            held = {(ch.source, ch.domain, ch.key) for i, ch in rows if i in later}
            kept = [(i, ch) for i, ch in rows if (ch.source, ch.domain, ch.key) not in held]
            report.deferred = len(rows) - len(kept)
            rows = kept
        statuses: dict[int, str] = {}
        for inbox_id, ch in rows:
            if self._apply_one(uow, batch, ch):
                statuses[inbox_id] = "applied"
                report.applied += 1
                report.by_source[(ch.source, "applied")] += 1
            else:
                statuses[inbox_id] = "stale"
                report.stale += 1
                report.by_source[(ch.source, "stale")] += 1
        dirty = [r for r in batch.records.values() if r.dirty]
        uow.records.save(dirty, now)
        resolved = uow.pending.waiting_for(batch.newly_linked)
        batch.to_resurvive.update(resolved)
        if resolved or batch.awaiting_reference:
            self.linker.relink(uow, batch, resolved | batch.awaiting_reference)
        self.linker.confirm_born(uow, batch)
        moved = [r for r in batch.records.values() if r.dirty]
        if moved:  # records that joined a golden record another worker committed meanwhile
            uow.records.save(moved, now)
        report.events, report.created = self.survival.run(uow, batch, now)
        if batch.candidates:
            for cand in batch.candidates:  # a golden record merged in this batch: its winner
                cand["golden_id"] = batch.winner(cand["golden_id"])
            uow.candidates.add(batch.candidates)
        uow.inbox.mark(statuses, now)
        report.key_reads = [batch.key_read] if batch.key_read is not None else []
        report.key_diffs = batch.key_diffs
        return report

    def free_rows(
        self, uow: UnitOfWork, rows: list[tuple[int, Change]]
    ) -> list[tuple[int, Change]]:
        """The claimed rows whose source records (and those they refer to) no other batch is
        applying now, with those records locked; the others stay pending for a later turn.

        Taken without waiting, so two appliers whose claims share a record do not take turns
        on whole batches: each applies what is free and the shared record's changes go to
        whichever batch comes next. Per-record order still holds: a change older than the
        one a record holds is stale, whichever batch applies it (docs/architecture.md,
        "Locks")."""
        names_of = {
            inbox_id: {"\x00".join(k) for k in self._records_of(ch)} for inbox_id, ch in rows
        }
        taken = uow.lock_free("record", set().union(*names_of.values()))
        return [(i, ch) for i, ch in rows if names_of[i] <= taken]

    def _records_of(self, ch: Change) -> set[RecordKey]:
        return {(ch.source, ch.domain, ch.key)} | self.context.references(
            ch.source, ch.domain, ch.attributes
        )

    def lock_records(self, uow: UnitOfWork, rows: list[tuple[int, Change]]) -> set[RecordKey]:
        """Lock (sorted) the source records ``rows`` change or refer to; returns them."""
        wanted = self._wanted(rows)
        uow.lock("record", (f"{s}\x00{d}\x00{k}" for s, d, k in wanted))
        return wanted

    def _wanted(self, rows: list[tuple[int, Change]]) -> set[RecordKey]:
        wanted: set[RecordKey] = set()
        for _, ch in rows:
            wanted |= self._records_of(ch)
        return wanted

    def _apply_one(self, uow: UnitOfWork, batch: Batch, ch: Change) -> bool:
        key = (ch.source, ch.domain, ch.key)
        digest = attributes_digest(ch.attributes, ch.op)
        held = batch.records.get(key)
        if held is not None and not is_newer(ch, digest, held):
            return False
        # an update of a live, linked record: survived again only if it could change a value
        # (Survival.run); its image before the batch is kept for that check
        update = (
            held is not None
            and not held.deleted
            and ch.op == "upsert"
            and held.golden_id is not None
        )
        if held is None:
            held = SourceRecord(
                source=ch.source,
                domain=ch.domain,
                key=ch.key,
                attributes={},
                changed_at=ch.changed_at,
                sequence=ch.sequence,
                digest=digest,
                run_id=ch.run_id,
            )
            batch.records[key] = held
        previous = None
        if held.deleted and ch.op == "upsert" and held.golden_id is not None:
            # Re-created after a delete: it is matched again like a new arrival (what arrived
            # meanwhile may hold its keys), and falls back to its old golden record.
            previous, held.golden_id = held.golden_id, None
            batch.to_resurvive.add(previous)
        if update:
            batch.before.setdefault(key, held.attributes)
        if ch.op == "upsert":
            held.attributes = dict(ch.attributes)
        held.deleted = ch.op == "delete"
        held.changed_at, held.sequence, held.digest = ch.changed_at, ch.sequence, digest
        held.dirty = True
        if held.golden_id is None and not held.deleted:
            self.linker.link(uow, batch, held, previous)
            batch.newly_linked.append(key)
        if held.golden_id is not None:
            if update:
                batch.updated.setdefault(held.golden_id, []).append(key)
            else:
                batch.to_resurvive.add(held.golden_id)
            if ch.correlation_id:
                batch.causes.setdefault(held.golden_id, set()).add(ch.correlation_id)
        return True

    def resurvive(self, uow: UnitOfWork, golden_ids: set[str]) -> int:
        """Recompute these golden records from the source records linked to them now (an
        onboarding rollback removed some); those left with none are retired. Returns how many
        events were written."""
        batch = Batch(records={}, to_resurvive=set(golden_ids))
        events, _ = self.survival.run(uow, batch, datetime.now(UTC))
        return events
