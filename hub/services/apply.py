"""Apply: from inbox rows to source records, links, golden records and outbox, in one go.

The work is batch-shaped (DESIGN.md, "Speed"): one transaction takes a few hundred inbox rows,
loads what it needs in a handful of set-based queries, decides in memory, and writes back in
bulk. Order still holds per source record: changes are walked in inbox order, and a change
older than the one held never overwrites it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.domain.events import GoldenRecordChanged
from hub.domain.model import Change, GoldenRecord, SourceRecord, attributes_digest, is_newer
from hub.domain.spec import DomainSpec, FieldSpec, SourceSpec
from hub.domain.survivorship import Contribution, Override, survive, survive_field
from hub.services.ports import Matcher, RecordKey, UnitOfWork

MAX_CANDIDATES = 50


@dataclass
class ApplyReport:
    applied: int = 0
    stale: int = 0
    dead: int = 0
    events: int = 0
    created: int = 0
    split: int = 0  # batches that failed whole and were applied change by change
    by_source: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, outcome)

    def add(self, other: ApplyReport) -> None:
        for name in ("applied", "stale", "dead", "events", "created", "split"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.by_source.update(other.by_source)


@dataclass
class _Batch:
    """What one transaction knows: loaded rows plus the decisions made so far."""

    records: dict[RecordKey, SourceRecord]
    goldens: dict[str, GoldenRecord] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    newly_linked: list[RecordKey] = field(default_factory=list)
    key_cache: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    merged: dict[str, str] = field(default_factory=dict)  # loser -> winner
    unborn: list[str] = field(default_factory=list)
    unresolved_new: set[str] = field(default_factory=set)
    pool: dict[str, GoldenRecord] = field(default_factory=dict)  # candidates' golden records
    fresh: dict[str, dict[str, Any]] = field(default_factory=dict)  # goldens born this batch
    candidates: list[dict[str, Any]] = field(default_factory=list)


class Applier:
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
        wanted: set[RecordKey] = set()
        for _, ch in rows:
            wanted.add((ch.source, ch.domain, ch.key))
            wanted.update(self._reference_targets(ch.source, ch.domain, ch.attributes))
        uow.lock("record", (f"{s}\x00{d}\x00{k}" for s, d, k in wanted))
        batch = _Batch(records=uow.records.load(wanted))
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

    def _apply_one(self, uow: UnitOfWork, batch: _Batch, ch: Change) -> bool:
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
        return True

    # -- linking ----------------------------------------------------------------------------

    def _match_view(self, batch: _Batch, record: SourceRecord) -> dict[str, Any]:
        """The record as the matcher sees it: its attributes plus its resolved references."""
        view = dict(record.attributes)
        for ref in self.domains[record.domain].references:
            target = record.attributes.get(ref.attribute)
            linked = batch.records.get((record.source, ref.target, str(target))) if target else None
            view[ref.name] = linked.golden_id if linked and not linked.deleted else None
        return view

    def _link(
        self, uow: UnitOfWork, batch: _Batch, record: SourceRecord, previous: str | None = None
    ) -> None:
        view = self._match_view(batch, record)
        dkeys = self.matcher.deterministic_keys(record.domain, view)
        found = [
            (dkey, hits)
            for dkey in dkeys
            if (hits := self._find(uow, batch, record.domain, dkey) - batch.merged.keys())
        ]
        if found:
            dkey, hits = found[0]
            winner = sorted(hits)[0]
            record.golden_id = winner
            record.link_rule = "deterministic:" + dkey.split(":", 1)[0]
            # A record whose keys reach two golden records proves they are one: merge them.
            for other in sorted(set().union(*(h for _, h in found)) - {winner}):
                self._merge(uow, batch, other, winner)
            self._remember_keys(batch, record.domain, dkeys, winner)
            return
        if previous is not None and previous not in batch.merged:
            record.golden_id, record.link_rule = previous, "revived"
            self._remember_keys(batch, record.domain, dkeys, previous)
            return
        golden_id = str(uuid.uuid4())
        record.golden_id = golden_id
        record.link_rule = "new"
        bkeys = self.matcher.blocking_keys(record.domain, view)
        if bkeys:
            self._propose(uow, batch, record, view, bkeys)
        if record.golden_id != golden_id:  # the matcher linked it automatically
            self._remember_keys(batch, record.domain, dkeys + bkeys, record.golden_id)
            return
        batch.fresh[golden_id] = view  # what a later record of this batch is compared with
        batch.goldens[golden_id] = GoldenRecord(
            id=golden_id,
            domain=record.domain,
            version=0,
            status="active",
            attributes={},
            provenance={},
            references={},
        )
        self._remember_keys(batch, record.domain, dkeys + bkeys, golden_id)
        spec = self.domains[record.domain]
        if any(
            view.get(r.name) is None and record.attributes.get(r.attribute) for r in spec.references
        ):
            # Its key may change once the reference resolves, later in this very batch.
            batch.unresolved_new.add(golden_id)

    def _merge(self, uow: UnitOfWork, batch: _Batch, loser: str, winner: str) -> None:
        """Move every source record of ``loser`` to ``winner``; ``loser`` becomes merged.

        Golden records that refer to the loser are re-survived too, so their references move
        to the winner and their subscribers are told.
        """
        if loser == winner or loser in batch.merged:
            return
        batch.merged[loser] = winner
        batch.touched.update((loser, winner))
        for r in uow.records.linked_to([loser]).get(loser, []):
            batch.records.setdefault((r.source, r.domain, r.key), r)
        for r in batch.records.values():
            if r.golden_id == loser:
                r.golden_id, r.dirty = winner, True
        for gids in batch.key_cache.values():
            if loser in gids:
                gids.discard(loser)
                gids.add(winner)
        batch.touched.update(uow.golden.referring_to([loser]))

    def _propose(
        self,
        uow: UnitOfWork,
        batch: _Batch,
        record: SourceRecord,
        view: dict[str, Any],
        bkeys: list[str],
    ) -> None:
        """Score blocked candidates; an auto-tier winner links, review tiers go to stewards."""
        shared: Counter[str] = Counter()
        for bkey in bkeys:
            shared.update(self._find(uow, batch, record.domain, bkey) - {record.golden_id})
        if not shared:
            return
        # A very common blocking value (a big city) must not make one record cost thousands
        # of comparisons: keep the candidates that share the most keys with it.
        ids = {gid for gid, _ in shared.most_common(MAX_CANDIDATES)}
        missing = ids - batch.pool.keys() - batch.fresh.keys()
        if missing:
            batch.pool.update(uow.golden.load(missing))
        pool = [
            (gid, batch.fresh[gid])
            if gid in batch.fresh
            else (gid, {**batch.pool[gid].attributes, **batch.pool[gid].references})
            for gid in sorted(ids)
            if gid in batch.fresh or (gid in batch.pool and batch.pool[gid].status == "active")
        ]
        scored = self.matcher.score(record.domain, view, pool)
        auto = [c for c in scored if c.tier == "auto"]
        if len(auto) == 1 and auto[0].golden_id != record.golden_id:
            record.golden_id = auto[0].golden_id
            record.link_rule = auto[0].rule
            return
        for cand in scored:
            batch.candidates.append(
                {
                    "domain": record.domain,
                    "source_key": (record.source, record.key),
                    "golden_id": cand.golden_id,
                    "probability": cand.probability,
                    "weights": dict(cand.weights),
                    "rule": cand.rule,
                }
            )

    def _prefetch_keys(
        self, uow: UnitOfWork, batch: _Batch, rows: list[tuple[int, Change]]
    ) -> None:
        """Look up the deterministic keys of every new record of the batch in one query each."""
        by_domain: dict[str, set[str]] = {}
        blocking: dict[str, set[str]] = {}
        for _, ch in rows:
            held = batch.records.get((ch.source, ch.domain, ch.key))
            if ch.op != "upsert" or (held is not None and held.golden_id and not held.deleted):
                continue
            probe = SourceRecord(
                ch.source, ch.domain, ch.key, ch.attributes, ch.changed_at, ch.sequence, ""
            )
            view = self._match_view(batch, probe)
            by_domain.setdefault(ch.domain, set()).update(
                self.matcher.deterministic_keys(ch.domain, view)
            )
            blocking.setdefault(ch.domain, set()).update(
                self.matcher.blocking_keys(ch.domain, view)
            )
        # Two workers creating golden records for near-duplicates at once serialise here, on
        # the records' match keys, so the second one finds the first one's golden record.
        uow.lock(
            "key",
            (f"{d}\x00{k}" for src in (by_domain, blocking) for d, ks in src.items() for k in ks),
        )
        for domain, keys in by_domain.items():
            found = uow.keys.find(domain, keys | blocking.get(domain, set()))
            for k in keys | blocking.get(domain, set()):
                batch.key_cache[(domain, k)] = set(found.get(k, ()))
        candidates = {
            gid
            for (d, k), gids in batch.key_cache.items()
            if k in blocking.get(d, ())
            for gid in gids
        }
        if candidates:  # every candidate's golden record in one query, not one per record
            batch.pool.update(uow.golden.load(candidates))

    def _find(self, uow: UnitOfWork, batch: _Batch, domain: str, key: str) -> set[str]:
        cached = batch.key_cache.get((domain, key))
        if cached is None:
            cached = set(uow.keys.find(domain, [key]).get(key, ()))
            batch.key_cache[(domain, key)] = cached
        return cached

    def _remember_keys(self, batch: _Batch, domain: str, keys: Iterable[str], gid: str) -> None:
        for k in keys:
            batch.key_cache.setdefault((domain, k), set()).add(gid)

    def _reference_targets(self, source: str, domain: str, attrs: dict[str, Any]) -> set[RecordKey]:
        spec = self.domains[domain]
        return {
            (source, ref.target, str(attrs[ref.attribute]))
            for ref in spec.references
            if attrs.get(ref.attribute)
        }

    def _relink(self, uow: UnitOfWork, batch: _Batch, golden_ids: set[str]) -> None:
        """Link again a record that became a golden of its own only because a reference in
        its deterministic key was pending (a PSA project whose client came later).

        Now the reference resolves, the key can match another golden record: the record moves
        there and its lone golden record is merged into it, so subscribers hear of both.
        """
        linked = uow.records.linked_to(golden_ids)
        for gid in sorted(golden_ids):
            live = [r for r in linked.get(gid, []) if not r.deleted]
            if len(live) != 1 or live[0].link_rule != "new":
                continue
            record = batch.records.get((live[0].source, live[0].domain, live[0].key), live[0])
            targets = self._reference_targets(record.source, record.domain, record.attributes)
            batch.records.update(
                {k: v for k, v in uow.records.load(targets - batch.records.keys()).items()}
            )
            view = self._match_view(batch, record)
            dkeys = self.matcher.deterministic_keys(record.domain, view)
            for dkey in dkeys:
                hits = self._find(uow, batch, record.domain, dkey) - {gid} - batch.merged.keys()
                if hits:
                    winner = sorted(hits)[0]
                    record.golden_id = winner
                    record.link_rule = "deterministic:" + dkey.split(":", 1)[0]
                    record.dirty = True
                    batch.records[(record.source, record.domain, record.key)] = record
                    batch.merged[gid] = winner
                    batch.touched.add(winner)
                    break
            else:  # it stays: a record relinked after it in this batch must find it
                self._remember_keys(batch, record.domain, dkeys, gid)
        dirty = [r for r in batch.records.values() if r.dirty]
        uow.records.save(dirty, datetime.now(UTC))

    # -- survivorship -----------------------------------------------------------------------

    def _resurvive(self, uow: UnitOfWork, batch: _Batch, now: datetime) -> tuple[int, int]:
        """Recompute every touched golden record; store and announce those that changed."""
        if not batch.touched:
            return 0, 0
        # Lock the golden records first, then read their source records: another worker may
        # have linked a record to one of them a moment ago, and its contribution must count.
        missing = batch.touched - batch.goldens.keys()
        batch.goldens.update(uow.golden.load(missing, lock=True))
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
                key_rows[gid] = {
                    k
                    for r in live
                    for view in (self._view(spec, r, refs),)
                    for k in (
                        self.matcher.deterministic_keys(spec.name, view)
                        + self.matcher.blocking_keys(spec.name, view)
                    )
                }
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

    def _unlink_unborn(self, batch: _Batch, gid: str) -> None:
        """A golden record created and left empty in the same batch is never stored; its
        source records must not point at it, or their next change could not be applied."""
        for record in batch.records.values():
            if record.golden_id == gid:
                record.golden_id, record.link_rule, record.dirty = None, "", True
        batch.unborn.append(gid)

    def _view(
        self, spec: DomainSpec, r: SourceRecord, refs: dict[tuple[str, str], Any]
    ) -> dict[str, Any]:
        view = dict(r.attributes)
        for ref in spec.references:
            view[ref.name] = refs.get((r.source + "\x00" + r.key, ref.name))
        return view

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
            src = sources.get(r.source) or SourceSpec(r.source, r.source)
            offers.append(
                Contribution(
                    r.source, src.kind, src.rank, r.key, r.changed_at, r.sequence, r.attributes
                )
            )
            for ref in spec.references:
                target_key = r.attributes.get(ref.attribute)
                if not target_key:
                    continue
                target = resolved.get((r.source, ref.target, str(target_key)))
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
