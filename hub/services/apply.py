"""Apply: from inbox rows to source records, links, golden records and outbox, in one go.

The work is batch-shaped (docs/architecture.md, "Speed"): one transaction takes a few hundred
inbox rows, loads what it needs in a handful of set-based queries, decides in memory, and writes
back in bulk. Order still holds per source record: changes are walked in inbox order, and a
change older than the one held never overwrites it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.domain.events import GoldenRecordChanged
from hub.domain.model import Change, GoldenRecord, SourceRecord, attributes_digest, is_newer
from hub.domain.spec import DomainSpec, FieldSpec, SourceSpec, reference_target, source_named
from hub.domain.survivorship import Contribution, Override, survive, survive_field
from hub.services.batch import ApplyReport, Batch
from hub.services.curation import Curation
from hub.services.linking import POPULATION_KEY
from hub.services.ports import Matcher, RecordKey, UnitOfWork

__all__ = ["Applier", "ApplyReport"]


class Applier(Curation):
    """Applies changes; holds only configuration, so one instance serves every transaction."""

    def __init__(self, domains: dict[str, DomainSpec], matcher: Matcher) -> None:
        self.domains = domains
        self.matcher = matcher
        self._ref_fields = {
            (d.name, ref.name): FieldSpec(
                ref.name,
                "string",
                ref.owners,
                ("source_priority", "most_recent") if ref.owners else ("most_recent",),
            )
            for d in domains.values()
            for ref in d.references
        }

    # -- the batch --------------------------------------------------------------------------

    def apply(self, uow: UnitOfWork, rows: list[tuple[int, Change]]) -> ApplyReport:
        """Apply ``rows`` inside ``uow``'s transaction (the caller commits)."""
        now = datetime.now(UTC)
        report = ApplyReport()
        wanted = self.lock_records(uow, rows)
        batch = Batch(records=uow.records.load(wanted))
        self._prefetch_keys(uow, batch, rows)
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
        batch.touched.update(resolved)
        if resolved or batch.unresolved_new:
            self._relink(uow, batch, resolved | batch.unresolved_new)
        report.events, report.created = self._resurvive(uow, batch, now)
        if batch.candidates:
            uow.candidates.add(batch.candidates)
        uow.inbox.mark(statuses, now)
        return report

    def lock_records(self, uow: UnitOfWork, rows: list[tuple[int, Change]]) -> set[RecordKey]:
        """Lock (sorted) the source records ``rows`` change or refer to; returns them."""
        wanted: set[RecordKey] = set()
        for _, ch in rows:
            wanted.add((ch.source, ch.domain, ch.key))
            wanted.update(self._reference_targets(ch.source, ch.domain, ch.attributes))
        uow.lock("record", (f"{s}\x00{d}\x00{k}" for s, d, k in wanted))
        return wanted

    def _apply_one(self, uow: UnitOfWork, batch: Batch, ch: Change) -> bool:
        key = (ch.source, ch.domain, ch.key)
        digest = attributes_digest(ch.attributes, ch.op)
        held = batch.records.get(key)
        if held is not None and not is_newer(ch, digest, held):
            return False
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
            batch.touched.add(previous)
        if ch.op == "upsert":
            held.attributes = dict(ch.attributes)
        held.deleted = ch.op == "delete"
        held.changed_at, held.sequence, held.digest = ch.changed_at, ch.sequence, digest
        held.dirty = True
        if held.golden_id is None and not held.deleted:
            self._link(uow, batch, held, previous)
            batch.newly_linked.append(key)
        if held.golden_id is not None:
            batch.touched.add(held.golden_id)
            if ch.correlation_id:
                batch.causes.setdefault(held.golden_id, set()).add(ch.correlation_id)
        return True

    # -- linking ----------------------------------------------------------------------------

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
            self._merge(uow, batch, previous, target)
        else:
            record.golden_id, record.dirty = target, True
            batch.touched.update(g for g in (previous, target) if g)
        uow.records.save([r for r in batch.records.values() if r.dirty], datetime.now(UTC))
        events, _ = self._resurvive(uow, batch, datetime.now(UTC))
        return events

    def resurvive(self, uow: UnitOfWork, golden_ids: set[str]) -> int:
        """Recompute these golden records from the source records linked to them now (an
        onboarding rollback removed some); those left with none are retired. Returns how many
        events were written."""
        batch = Batch(records={}, touched=set(golden_ids))
        events, _ = self._resurvive(uow, batch, datetime.now(UTC))
        return events

    def _resurvive(self, uow: UnitOfWork, batch: Batch, now: datetime) -> tuple[int, int]:
        """Recompute every touched golden record; store and announce those that changed."""
        if not batch.touched:
            return 0, 0
        # Lock the golden records first, then read their source records: another worker may
        # have linked a record to one of them a moment ago, and its contribution must count.
        missing = batch.touched - batch.goldens.keys()
        batch.goldens.update(uow.golden.load(missing, lock=True))
        self._follow_merges(uow, batch, now)
        linked = uow.records.linked_to(batch.touched)
        targets: set[RecordKey] = set()
        for recs in linked.values():
            for r in recs:
                if not r.deleted:
                    targets |= self._reference_targets(r.source, r.domain, r.attributes)
        resolved = uow.records.load(targets) if targets else {}
        sources = uow.sources()
        saved: list[tuple[GoldenRecord, list[str], str]] = []
        search: dict[str, str] = {}
        pending_rows: list[dict[str, Any]] = []
        key_rows: dict[str, set[str]] = {}
        events: list[dict[str, Any]] = []
        created = 0
        for gid in sorted(batch.touched):
            golden = batch.goldens[gid]
            spec = self.domains[golden.domain]
            if golden.status == "merged":
                continue
            if gid in batch.merged and golden.version == 0:
                continue  # born and merged in this batch: nobody ever heard of it
            if gid in batch.merged:
                golden.version += 1
                golden.status, golden.merged_into, golden.xref = "merged", batch.merged[gid], []
                key_rows[gid] = set()
                saved.append((golden, [], "merged"))
                search[gid] = spec.display_name(golden.attributes).casefold()
                merge = GoldenRecordChanged(
                    domain=spec.name,
                    golden_id=gid,
                    version=golden.version,
                    kind="merged",
                    attributes=golden.attributes,
                    provenance=golden.provenance,
                    references=golden.references,
                    changed_fields=[],
                    xref=[],
                    status="merged",
                    at=now,
                    merged_into=golden.merged_into,
                )
                events.append(
                    {
                        "event": merge.cloud_event(),
                        "domain": spec.name,
                        "golden_id": gid,
                        "version": golden.version,
                        "type": merge.type,
                        "at": now,
                        "correlation_id": self._causes(batch, gid),
                    }
                )
                continue
            live = [r for r in linked.get(gid, []) if not r.deleted]
            if not live:
                key_rows[gid] = set()
                if golden.version == 0:
                    self._unlink_unborn(batch, gid)
                    continue
                if golden.status == "retired":
                    continue
                # Retired, not dropped: the record keeps its last values, so subscribers
                # learn what was retired and a source that sends it again revives it.
                status, attributes, provenance = "retired", golden.attributes, golden.provenance
                references, xref, changed = golden.references, [], []
            else:
                offers, refs, pend = self._offers(spec, live, resolved, sources, gid)
                pending_rows.extend(pend)
                overrides = {
                    k: Override(v["value"], v.get("reason", ""), v.get("by", ""))
                    for k, v in golden.overrides.items()
                }
                attributes, provenance = survive(spec, offers, overrides)
                references, ref_prov = self._survive_refs(spec, offers, refs)
                provenance.update(ref_prov)
                status = "active"
                xref = sorted(
                    ({"source": r.source, "key": r.key} for r in live),
                    key=lambda x: (x["source"], x["key"]),
                )
                key_rows[gid] = self.index_keys(
                    spec, [self._view(spec, r, refs, sources) for r in live]
                )
                found = golden.differs(status, attributes, provenance, references, xref)
                if found is None:
                    continue
                changed = found
            kind = "created" if golden.version == 0 else ("retired" if not live else "updated")
            created += kind == "created"
            golden.version += 1
            golden.status, golden.attributes = status, attributes
            golden.provenance, golden.references, golden.xref = provenance, references, xref
            golden.created_at = golden.created_at or now
            saved.append((golden, changed, kind))
            search[gid] = spec.display_name(attributes).casefold()
            event = GoldenRecordChanged(
                domain=spec.name,
                golden_id=gid,
                version=golden.version,
                kind=kind,
                attributes=attributes,
                provenance=provenance,
                references=references,
                changed_fields=changed,
                xref=xref,
                status=status,
                at=now,
            )
            events.append(
                {
                    "event": event.cloud_event(),
                    "domain": spec.name,
                    "golden_id": gid,
                    "version": golden.version,
                    "type": event.type,
                    "at": now,
                    "correlation_id": self._causes(batch, gid),
                }
            )
        if batch.unborn:
            uow.records.save([r for r in batch.records.values() if r.dirty], now)
        uow.pending.replace(batch.touched, pending_rows)
        for domain in {g.domain for g in batch.goldens.values()}:
            uow.keys.replace(
                domain, {g: k for g, k in key_rows.items() if batch.goldens[g].domain == domain}
            )
        uow.golden.save(saved, search, now)
        uow.outbox.add(events)
        return len(events), created

    @staticmethod
    def _causes(batch: Batch, gid: str) -> str | None:
        """The requests behind a golden record's new version, for the logs (a record merged
        into it in this batch brings its own)."""
        ids = set(batch.causes.get(gid, ()))
        for loser, winner in batch.merged.items():
            if winner == gid:
                ids |= batch.causes.get(loser, set())
        return ",".join(sorted(ids))[:200] or None

    def _unlink_unborn(self, batch: Batch, gid: str) -> None:
        """A golden record created and left empty in the same batch is never stored; its
        source records must not point at it, or their next change could not be applied."""
        for record in batch.records.values():
            if record.golden_id == gid:
                record.golden_id, record.link_rule, record.dirty = None, "", True
        batch.unborn.append(gid)

    def _view(
        self,
        spec: DomainSpec,
        r: SourceRecord,
        refs: dict[tuple[str, str], Any],
        sources: dict[str, SourceSpec],
    ) -> dict[str, Any]:
        resolved = {
            ref.name: refs.get((r.source + "\x00" + r.key, ref.name)) for ref in spec.references
        }
        return spec.match_view(source_named(sources, r.source), r.attributes, resolved)

    def index_keys(self, spec: DomainSpec, views: list[dict[str, Any]]) -> set[str]:
        """What the key index holds for a golden record: the deterministic, blocking and
        value keys of every live source record (entity-centric), and the population key."""
        keys = {POPULATION_KEY}
        for view in views:
            keys.update(self.matcher.deterministic_keys(spec.name, view))
            keys.update(self.matcher.blocking_keys(spec.name, view))
            keys.update(self.matcher.value_keys(spec.name, view).values())
        return keys

    def _offers(
        self,
        spec: DomainSpec,
        live: list[SourceRecord],
        resolved: dict[RecordKey, SourceRecord],
        sources: dict[str, SourceSpec],
        gid: str,
    ) -> tuple[list[Contribution], dict[tuple[str, str], Any], list[dict[str, Any]]]:
        offers: list[Contribution] = []
        refs: dict[tuple[str, str], Any] = {}
        pending: list[dict[str, Any]] = []
        for r in live:
            src = source_named(sources, r.source)
            offers.append(
                Contribution(
                    r.source, src.kind, src.rank, r.key, r.changed_at, r.sequence, r.attributes
                )
            )
            for ref in spec.references:
                target_key = r.attributes.get(ref.attribute)
                named = reference_target(r.source, ref, target_key)
                if named is None:
                    continue
                target = resolved.get(named)
                if target is not None and target.golden_id and not target.deleted:
                    refs[(r.source + "\x00" + r.key, ref.name)] = target.golden_id
                else:
                    pending.append(
                        {
                            "golden_id": gid,
                            "source": r.source,
                            "source_key": r.key,
                            "name": ref.name,
                            "target_domain": ref.target,
                            "target_key": str(target_key),
                        }
                    )
        return offers, refs, pending

    def _survive_refs(
        self, spec: DomainSpec, offers: list[Contribution], refs: dict[tuple[str, str], Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """References survive like fields: the owner's resolved reference, else the newest."""
        references: dict[str, Any] = {}
        provenance: dict[str, Any] = {}
        for ref in spec.references:
            ref_offers = [
                Contribution(
                    c.source,
                    c.kind,
                    c.rank,
                    c.key,
                    c.changed_at,
                    c.sequence,
                    {ref.name: refs.get((c.source + "\x00" + c.key, ref.name))},
                )
                for c in offers
            ]
            chosen = survive_field(self._ref_fields[(spec.name, ref.name)], ref.name, ref_offers)
            references[ref.name] = chosen.value if chosen else None
            if chosen is not None:
                provenance["ref:" + ref.name] = chosen.provenance
        return references, provenance
