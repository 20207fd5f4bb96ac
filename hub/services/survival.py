"""Survival: every golden record a transaction touched, recomputed, stored and announced.

The rules are the domain's (``hub.domain.golden``); this loads what they need in a few
set-based reads, under the golden rows' locks, and writes back in bulk: new versions, the key
index, pending references, the outbox, and the pending candidates of records that are gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.domain import golden as rules
from hub.domain.events import GoldenRecordChanged, QualityChanged
from hub.domain.linking import POPULATION_KEY
from hub.domain.model import GoldenRecord, SourceRecord
from hub.domain.spec import DomainSpec, SourceSpec, reference_target, source_named
from hub.services import compared
from hub.services.batch import Batch
from hub.services.ports import Matcher, RecordKey, UnitOfWork

KEYS_KEPT = 200_000  # records whose index keys an applier keeps (a few hundred bytes each)
# merges a batch follows from one golden record to its winner before it gives up: a chain
# that long is a corrupt store, and a batch must not hold its locks for ever on one
MERGE_HOPS = 50


@dataclass
class _Writes:
    """What one recomputation writes back, gathered to go out in one statement per shape."""

    saved: list[tuple[GoldenRecord, list[str], str]] = field(default_factory=list)
    search: dict[str, str] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, set[str]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    compared: dict[str, dict[str, Any]] = field(default_factory=dict)
    refreshed: dict[str, dict[str, Any]] = field(default_factory=dict)  # same version


class Survival:
    """Holds configuration and a memo of records' index keys (a function of their views, not
    of anything stored): one instance serves every transaction."""

    def __init__(self, domains: dict[str, DomainSpec], matcher: Matcher) -> None:
        self.domains = domains
        self.matcher = matcher
        self._keys: dict[tuple[Any, ...], frozenset[str]] = {}
        self._named: dict[str, frozenset[str] | None] = {}  # the matcher's key fields, per domain
        self._fields: dict[str, tuple[str, ...]] = {}  # the same, sorted; () when None

    def run(self, uow: UnitOfWork, batch: Batch, now: datetime) -> tuple[int, int]:
        """Recompute ``batch.to_resurvive``; returns (events written, golden records created)."""
        updated = set(batch.updated) - batch.to_resurvive
        if not batch.to_resurvive and not updated:
            return 0, 0
        # Lock the golden records first, then read their source records: another worker may
        # have linked a record to one of them a moment ago, and its contribution must count.
        missing = (batch.to_resurvive | updated) - batch.goldens.keys()
        batch.goldens.update(uow.golden.load(missing, lock=True))
        keys_kept: set[str] = set()
        if updated:
            keys_kept = self._changed_by_updates(uow, batch, updated)
            if not batch.to_resurvive:
                return 0, 0
        self.settle_merges(uow, batch)
        self.follow_merges(uow, batch, now)
        keys_kept = _same_members(batch, keys_kept)
        linked = uow.records.linked_to(batch.to_resurvive)
        targets: set[RecordKey] = set()
        for recs in linked.values():
            for r in recs:
                if not r.deleted:
                    targets |= reference_targets(self.domains[r.domain], r.source, r.attributes)
        resolved = uow.records.load(targets) if targets else {}
        sources = uow.sources()
        out = _Writes()
        for gid in sorted(batch.to_resurvive):
            live = [r for r in linked.get(gid, []) if not r.deleted]
            self._one(batch, batch.goldens[gid], live, resolved, sources, now, out, keys_kept)
        self._write(uow, batch, out, now)
        created = sum(kind == "created" for _, _, kind in out.saved)
        return len(out.events), created

    def _one(
        self,
        batch: Batch,
        golden: GoldenRecord,
        live: list[SourceRecord],
        resolved: dict[RecordKey, SourceRecord],
        sources: dict[str, SourceSpec],
        now: datetime,
        out: _Writes,
        keys_kept: set[str],
    ) -> None:
        """``keys_kept``: golden records whose index keys this transaction leaves as they
        are (``hub.domain.golden.update_keeps_keys``): neither computed nor read back."""
        gid, spec = golden.id, self.domains[golden.domain]
        if golden.status == "merged":
            return
        found: rules.Recomputed | None
        if gid in batch.merges:
            out.keys[gid] = set()
            if golden.version == 0:  # merged away in the batch that made it: never was
                return
            found = rules.merge_away(golden, batch.merges[gid], now)
        elif not live:
            out.keys[gid] = set()
            if golden.version == 0:
                self._unlink_never_stored(batch, gid)
                return
            found = rules.retire(golden, now)
        else:
            offers = rules.offers_of(spec, live, resolved, sources, gid)
            out.pending.extend(offers.pending)
            if gid not in keys_kept:
                out.keys[gid] = {POPULATION_KEY}.union(
                    *(self._record_keys(spec, r, offers.references, sources) for r in live)
                )
            found = rules.resurvive(golden, spec, offers, rules.xref_of(live), now)
        if found is None:
            if golden.status == "active" and live:
                self._compared(spec, golden, live, sources, out.refreshed, stale_only=True)
            return
        batch.goldens[gid] = found.golden
        out.saved.append((found.golden, found.changed, found.kind))
        out.search[gid] = spec.display_name(found.golden.attributes).casefold()
        if found.golden.status == "active":
            self._compared(spec, found.golden, live, sources, out.compared)
        out.events.append(outbox_entry(found.event, now, _causes(batch, gid)))

    def _compared(
        self,
        spec: DomainSpec,
        golden: GoldenRecord,
        live: list[SourceRecord],
        sources: dict[str, SourceSpec],
        into: dict[str, dict[str, Any]],
        stale_only: bool = False,
    ) -> None:
        """What the matcher will compare of this golden record's views when it is a
        candidate, stored with it (hub/services/compared.py).

        ``stale_only``: for a golden record that keeps its version, made again only when its
        stored ones no longer hold. After an upgrade changed the matcher's code (its
        fingerprint) every kept value is refused, and only a golden record's next version
        would make it again; ``concord match reindex`` re-survives every golden record, so
        it brings them back (docs/architecture.md, "Speed")."""
        members = [(source_named(sources, r.source), r) for r in live]
        if stale_only and (
            self.matcher.compared_fingerprint(spec.name) is None  # not fuzzy-matched
            or compared.reusable(self.matcher, spec, golden.compared, golden.version, members)
        ):
            return
        views = compared.entity_views(spec, golden.attributes, golden.references, members)
        kept = compared.to_store(self.matcher, spec, golden.version, views, members)
        if kept is not None:
            into[golden.id] = kept

    def _write(self, uow: UnitOfWork, batch: Batch, out: _Writes, now: datetime) -> None:
        if batch.never_stored:
            uow.records.save([r for r in batch.records.values() if r.dirty], now)
        uow.pending.replace(batch.to_resurvive, out.pending)
        for domain in sorted({g.domain for g in batch.goldens.values()}):
            diff = uow.keys.replace(
                domain, {g: k for g, k in out.keys.items() if batch.goldens[g].domain == domain}
            )
            if diff is not None:
                batch.key_diffs.append(diff)
        uow.golden.save(out.saved, out.search, now, out.compared)
        if out.refreshed:
            uow.golden.keep_compared(out.refreshed)
        uow.outbox.add(out.events)
        merged = {g.id: g.merged_into for g, _, kind in out.saved if kind == "merged"}
        retired = {g.id for g, _, kind in out.saved if kind == "retired"}
        if merged or retired:  # no pending candidate may stay on a record that is gone
            uow.candidates.follow({k: v for k, v in merged.items() if v is not None}, retired, now)

    def _changed_by_updates(self, uow: UnitOfWork, batch: Batch, golden_ids: set[str]) -> set[str]:
        """Of the golden records only touched by updates of their records, those whose
        values, lineage or keys the updates could change are survived again; the others keep
        their version (the check reads them under their row locks, so a concurrent change
        is seen). The records themselves are written either way. Returns those survived
        again whose index keys the updates cannot change (a CRM's mass update of a status
        moves a value, not a name): their keys are neither computed again nor read back,
        which was a third of surviving an update."""
        sources = uow.sources()
        keys_kept: set[str] = set()
        for gid in golden_ids:
            golden = batch.goldens.get(gid)
            if golden is None:
                batch.to_resurvive.add(gid)
                continue
            spec, fields = self.domains[golden.domain], self._key_fields(golden.domain)
            updates = [
                (batch.records[key], batch.before.get(key, batch.records[key].attributes))
                for key in batch.updated[gid]
            ]
            if all(
                rules.update_changes_nothing(golden, spec, record, before, sources, fields)
                for record, before in updates
            ):
                continue
            batch.to_resurvive.add(gid)
            if all(
                rules.update_keeps_keys(golden, spec, record, before, fields)
                for record, before in updates
            ):
                keys_kept.add(gid)
        return keys_kept

    def settle_merges(self, uow: UnitOfWork, batch: Batch) -> None:
        """The merges this batch decided before it held the golden rows, checked now that
        it does: a winner another transaction merged away meanwhile (a steward's merge, an
        applier's key link) is followed to where it went, and a winner that went into this
        batch's loser drops the merge (the other transaction made the loser the survivor).

        Merging into a winner read before its row lock made A into B while a steward made
        B into A: a cycle, records left on a merged golden record, and batches that
        followed it for ever (the chaos checker found both). The records this batch moved
        to a winner that is gone are moved on by ``follow_merges``."""
        for loser, winner in sorted(batch.merges.items()):
            seen = {loser}
            target = winner
            for _ in range(MERGE_HOPS):
                if target not in batch.goldens:
                    batch.goldens.update(uow.golden.load([target], lock=True))
                g = batch.goldens.get(target)
                if g is None or g.status != "merged" or not g.merged_into or target in seen:
                    break
                seen.add(target)
                batch.to_resurvive.add(target)  # so follow_merges moves what went to it
                target = g.merged_into
            if target == loser:
                del batch.merges[loser]
            elif target != winner:
                batch.merges[loser] = target
                batch.to_resurvive.add(target)

    def follow_merges(self, uow: UnitOfWork, batch: Batch, now: datetime) -> None:
        """Records of this batch linked to a golden record that a steward merged away while
        the batch worked (it read the record before the merge committed) follow it to its
        winner, so no live record is left on a merged golden record.

        Each winner is read again, locked, even when the batch holds a copy: a copy read
        before a steward undid a merge and merged the other way still says "merged", and
        following it went round in a circle (A into B, B into A) for ever, holding the
        batch's locks, until the chaos checker's inbox stopped draining."""
        for _ in range(MERGE_HOPS):
            gone = {
                gid: g.merged_into
                for gid, g in batch.goldens.items()
                if g.status == "merged"
                and g.merged_into
                and gid in batch.to_resurvive
                and gid not in batch.merges
            }
            if not gone:  # the common case: nothing was merged under this batch
                return
            moved = [
                r
                for r in batch.records.values()
                if r.golden_id in gone and not r.deleted and gone[r.golden_id] != r.golden_id
            ]
            if not moved:
                return
            for r in moved:
                r.golden_id, r.dirty = gone[r.golden_id or ""], True
            winners = {r.golden_id for r in moved if r.golden_id}
            batch.to_resurvive |= winners
            batch.goldens.update(uow.golden.load(winners, lock=True))
            uow.records.save(moved, now)
        raise RuntimeError(f"merged golden records lead back to each other: {sorted(gone)}")

    def _key_fields(self, domain: str) -> frozenset[str] | None:
        """What the matcher says its keys read in ``domain``, asked once (the matcher is
        fixed for this instance's life: a new one makes a new ``Survival``)."""
        if domain not in self._named:
            self._named[domain] = self.matcher.key_fields(domain)
        return self._named[domain]

    def index_keys(self, spec: DomainSpec, views: list[dict[str, Any]]) -> set[str]:
        """What the key index holds for a golden record of these views (entity-centric): the
        deterministic, blocking and value keys of each, and the population key."""
        return {POPULATION_KEY}.union(*(self._view_keys(spec, v) for v in views))

    def _view_keys(self, spec: DomainSpec, view: Mapping[str, Any]) -> frozenset[str]:
        """The deterministic, blocking and value keys of one view.

        Every change re-survives its whole golden record, so the keys of its other records
        were computed again and again, and an update that changes no field a key reads (a
        status, an industry, payment terms) computed the same keys anew. Keys are a function
        of the fields the matcher names in ``key_fields``, so they are kept by those fields'
        values (with their types: ``1`` and ``True`` normalise apart), for as long as this
        applier lives; no database state is involved, so several appliers stay correct."""
        fields = self._fields.get(spec.name)
        if fields is None:
            named = self._key_fields(spec.name)
            fields = self._fields[spec.name] = tuple(sorted(named)) if named is not None else ()
        memo: tuple[Any, ...] | None = None
        if fields:
            memo = (spec.name, *((v.__class__, v) for v in map(view.get, fields)))
            try:
                found = self._keys.get(memo)
            except TypeError:  # a list or a mapping: compute, keep nothing
                memo = found = None
            if found is not None:
                return found
        found = frozenset(
            (
                *self.matcher.deterministic_keys(spec.name, view),
                *self.matcher.blocking_keys(spec.name, view),
                *self.matcher.value_keys(spec.name, view).values(),
            )
        )
        if memo is not None:
            if len(self._keys) >= KEYS_KEPT:  # simply start again: no order to keep
                self._keys.clear()
            self._keys[memo] = found
        return found

    def _record_keys(
        self,
        spec: DomainSpec,
        r: SourceRecord,
        refs: dict[tuple[str, str], Any],
        sources: dict[str, SourceSpec],
    ) -> frozenset[str]:
        """What the key index holds for one live source record of a golden record (which
        holds the union of its records', entity-centric, and the population key)."""
        source = source_named(sources, r.source)
        resolved = {
            ref.name: refs.get((r.source + "\x00" + r.key, ref.name)) for ref in spec.references
        }
        return self._view_keys(spec, spec.match_view(source, r.attributes, resolved))

    @staticmethod
    def _unlink_never_stored(batch: Batch, gid: str) -> None:
        """A golden record created and left empty in the same batch is never stored; its
        source records must not point at it, or their next change could not be applied."""
        for record in batch.records.values():
            if record.golden_id == gid:
                record.golden_id, record.link_rule, record.dirty = None, "", True
        batch.never_stored.append(gid)


def outbox_entry(
    event: GoldenRecordChanged | QualityChanged, at: datetime, correlation_id: str | None
) -> dict[str, Any]:
    """An event as the outbox port takes it."""
    return {
        "event": event.cloud_event(),
        "domain": event.domain,
        "golden_id": event.golden_id,
        "version": event.version,
        "type": event.type,
        "at": at,
        "correlation_id": correlation_id,
    }


def reference_targets(spec: DomainSpec, source: str, attrs: dict[str, Any]) -> set[RecordKey]:
    """The source records a record's references name."""
    return {
        target
        for ref in spec.references
        if (target := reference_target(source, ref, attrs.get(ref.attribute)))
    }


def _same_members(batch: Batch, golden_ids: set[str]) -> set[str]:
    """Those of ``golden_ids`` that gain and lose no record in this transaction: every
    record of the batch on one is an update of it, and none is a merge's winner or loser
    (a merge moves the loser's records, which the batch may not hold). Asked once the
    batch's merges are settled and followed."""
    if not golden_ids:
        return golden_ids
    kept = golden_ids - batch.merges.keys() - set(batch.merges.values())
    on: dict[str, set[RecordKey]] = {}
    for key, record in batch.records.items():
        if record.golden_id in kept:
            on.setdefault(record.golden_id, set()).add(key)
    return {gid for gid in kept if on.get(gid, set()) == set(batch.updated.get(gid, ()))}


def _causes(batch: Batch, gid: str) -> str | None:
    """The requests behind a golden record's new version, for the logs (a record merged
    into it in this batch brings its own)."""
    ids = set(batch.causes.get(gid, ()))
    for loser, winner in batch.merges.items():
        if winner == gid:
            ids |= batch.causes.get(loser, set())
    return ",".join(sorted(ids))[:200] or None
