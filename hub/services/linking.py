"""Linking: which golden record a source record belongs to.

xref first (the caller), then the domain's deterministic keys, then the matcher's blocking
keys and scores; a record whose keys reach two golden records merges them, and a record whose
key waited on a reference is linked again when the reference resolves. Lookups are prefetched
for the whole batch so that one record does not cost one query.

The rules (identity vs evidence, entity views, value counts, the identity rule and the guard
against a source's second record) are described in docs/architecture.md, "Linking".
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hub.domain.model import Change, GoldenRecord, SourceRecord
from hub.domain.spec import DomainSpec, SourceSpec, reference_target, source_named
from hub.services.batch import Batch
from hub.services.ports import Matcher, RecordKey, UnitOfWork

MAX_CANDIDATES = 50

POPULATION_KEY = "v:*"
"""Every golden record with a live source record holds this key, so counting it is counting
the domain's golden records with one indexed lookup."""


class Linking:
    """The linking half of :class:`hub.services.apply.Applier`."""

    domains: dict[str, DomainSpec]
    matcher: Matcher

    def _match_view(self, uow: UnitOfWork, batch: Batch, record: SourceRecord) -> dict[str, Any]:
        """The record as the matcher sees it: its attributes plus its resolved references."""
        spec = self.domains[record.domain]
        resolved: dict[str, Any] = {}
        for ref in spec.references:
            target = reference_target(record.source, ref, record.attributes.get(ref.attribute))
            linked = batch.records.get(target) if target else None
            resolved[ref.name] = linked.golden_id if linked and not linked.deleted else None
        return spec.match_view(self._source(uow, batch, record.source), record.attributes, resolved)

    @staticmethod
    def _source(uow: UnitOfWork, batch: Batch, name: str) -> SourceSpec:
        """A record's source system (its rank scopes issued identifiers), read once a batch."""
        if batch.sources is None:
            batch.sources = uow.sources()
        return source_named(batch.sources, name)

    def _link(
        self, uow: UnitOfWork, batch: Batch, record: SourceRecord, previous: str | None = None
    ) -> None:
        view = self._match_view(uow, batch, record)
        dkeys, bkeys = self._keys(batch, record.source, record.domain, record.key, view)
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
                if uow.candidates.kept_apart(other, winner):
                    continue  # a steward split them: a shared key does not undo that
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
        if bkeys:
            self._propose(uow, batch, record, view, bkeys)
        if record.golden_id != golden_id:  # the matcher linked it automatically
            self._remember_keys(batch, record.domain, dkeys + bkeys, record.golden_id)
            return
        batch.fresh[golden_id] = view  # what a later record of this batch is compared with
        for vkey in self.matcher.value_keys(record.domain, view).values():
            held = batch.holders.get((record.domain, vkey))
            if held is not None:  # a later record of this batch with this value sees one more
                batch.holders[(record.domain, vkey)] = held + 1
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

    def _merge(self, uow: UnitOfWork, batch: Batch, loser: str, winner: str) -> None:
        """Move every source record of ``loser`` to ``winner``; ``loser`` becomes merged.

        Golden records that refer to the loser are re-survived too, so their references move
        to the winner and their subscribers are told.
        """
        if loser == winner or loser in batch.merged:
            return
        batch.merged[loser] = winner
        batch.touched.update((loser, winner))
        for r in self.members_locked(uow, {loser}, wait=False).get(loser, []):
            batch.records.setdefault((r.source, r.domain, r.key), r)
        for r in batch.records.values():
            if r.golden_id == loser:
                r.golden_id, r.dirty = winner, True
        for gids in batch.key_cache.values():
            if loser in gids:
                gids.discard(loser)
                gids.add(winner)
        batch.touched.update(uow.golden.referring_to([loser]))

    @staticmethod
    def members_locked(
        uow: UnitOfWork, golden_ids: set[str], wait: bool = True
    ) -> dict[str, list[SourceRecord]]:
        """The source records linked to ``golden_ids``, read after each is under its record
        lock, for a write that moves them (a merge, a relink).

        A record read without its lock may be one another worker is applying a newer change
        to: writing it back would undo that change, or the other worker would put the record
        back on the golden record this one merged away. A batch already holds its own record
        and key locks, so it asks for these out of order with ``wait=False`` and runs again if
        one is busy (docs/architecture.md, "Locks"). Records that joined while it waited are
        locked on the next turn.
        """
        held: set[str] = set()
        while True:
            linked = uow.records.linked_to(golden_ids)
            names = {f"{r.source}\x00{r.domain}\x00{r.key}" for rs in linked.values() for r in rs}
            if names <= held:
                return linked
            uow.lock("record", names - held, wait=wait)
            held |= names

    def _propose(
        self,
        uow: UnitOfWork,
        batch: Batch,
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
        if record.stored:  # only a record seen before can carry a steward's "not a match"
            ids -= uow.candidates.rejected((record.source, record.domain, record.key))
        self._load_candidates(uow, batch, ids - batch.fresh.keys())
        pool = [
            (gid, self._entity(uow, batch, gid))
            for gid in sorted(ids)
            if gid in batch.fresh or (gid in batch.pool and batch.pool[gid].status == "active")
        ]
        holders = self._holders(uow, batch, record.domain, view)
        population = self._population(uow, batch, record.domain, holders)
        scored = self.matcher.score(record.domain, view, pool, holders, population)
        auto = [c for c in scored if c.tier == "auto"]
        if len(auto) == 1 and auto[0].golden_id != record.golden_id:
            crowded = self._crowded(batch, record, auto[0].golden_id)
            if crowded is None:
                record.golden_id = auto[0].golden_id
                record.link_rule = auto[0].rule
                return
            scored = [
                replace(c, tier="review", notes={**c.notes, "tier": crowded}) if c is auto[0] else c
                for c in scored
            ]
        for cand in scored:
            batch.candidates.append(
                {
                    "domain": record.domain,
                    "source_key": (record.source, record.key),
                    "golden_id": cand.golden_id,
                    "probability": cand.probability,
                    "weights": dict(cand.weights),
                    "notes": dict(cand.notes),
                    "rule": cand.rule,
                    "run_id": record.run_id,
                    "levels": dict(cand.levels),
                    # the version scored against; a golden record born in this batch gets
                    # its first version only at the end of it, so its evidence is read again
                    # when first shown
                    "golden_version": batch.pool[cand.golden_id].version
                    if cand.golden_id in batch.pool and cand.golden_id not in batch.fresh
                    else 0,
                }
            )

    def _load_candidates(self, uow: UnitOfWork, batch: Batch, ids: set[str]) -> None:
        """Candidates' golden records and their live source records, those not yet loaded."""
        missing = ids - batch.pool.keys()
        if missing:
            batch.pool.update(uow.golden.load(missing))
        unseen = ids - batch.members.keys()
        if unseen:
            linked = uow.records.linked_to(unseen)
            for gid in unseen:
                batch.members[gid] = [r for r in linked.get(gid, []) if not r.deleted]

    def _entity(self, uow: UnitOfWork, batch: Batch, gid: str) -> list[dict[str, Any]]:
        """Every view of a candidate the record is compared with (entity-centric matching):
        its survived values and each live source record's own, so a second address or an
        older name of the client still counts. Its source records' references are the
        golden record's survived ones."""
        if gid in batch.fresh:
            return [batch.fresh[gid]]
        golden = batch.pool[gid]
        spec = self.domains[golden.domain]
        views = [{**golden.attributes, **golden.references}]
        for r in batch.members.get(gid, []):
            source = self._source(uow, batch, r.source)
            views.append(spec.match_view(source, r.attributes, golden.references))
        return views

    def _crowded(self, batch: Batch, record: SourceRecord, gid: str) -> str | None:
        """Why an automatic link of ``record`` to ``gid`` must wait for a steward, if it must.

        One source system keeps its own records apart: if the golden record already holds as
        many live records of the same source as the spec allows, linking one more would join
        what that system says are different clients or people (how a shared group website
        once grew one golden record to 24 legal entities). Deterministic keys never come here.
        """
        spec = self.matcher.spec(record.domain)
        if spec is None:
            return None
        held = {
            (r.source, r.key)
            for r in batch.members.get(gid, [])
            if (live := batch.records.get((r.source, r.domain, r.key), r)).golden_id == gid
            and not live.deleted
        }
        held |= {
            (r.source, r.key)
            for r in batch.records.values()
            if r.golden_id == gid and not r.deleted and r.domain == record.domain
        }
        mine = {k for k in held if k[0] == record.source} - {(record.source, record.key)}
        if len(mine) < spec.max_per_source:
            return None
        return (
            f"the golden record already holds {len(mine)} record(s) of {record.source} "
            f"(at most {spec.max_per_source} without a steward): {record.source} keeps them "
            "apart"
        )

    def _holders(
        self, uow: UnitOfWork, batch: Batch, domain: str, view: dict[str, Any]
    ) -> dict[str, int]:
        """Per comparison label, how many golden records hold the record's value."""
        vkeys = self.matcher.value_keys(domain, view)
        self._count_holders(uow, batch, domain, vkeys.values())
        return {label: batch.holders[(domain, k)] for label, k in vkeys.items()}

    @staticmethod
    def _count_holders(uow: UnitOfWork, batch: Batch, domain: str, keys: Iterable[str]) -> None:
        """Count the golden records holding each value key not yet counted in this batch."""
        missing = {k for k in keys if (domain, k) not in batch.holders}
        if missing:
            found = uow.keys.count(domain, missing)
            for k in missing:
                batch.holders[(domain, k)] = found.get(k, 0)

    def _population(
        self, uow: UnitOfWork, batch: Batch, domain: str, holders: dict[str, int]
    ) -> int:
        """How many golden records of ``domain`` there are (the denominator of a term
        frequency), counted at most once per batch and only when a value is shared at all:
        a record whose values no other golden record holds needs no frequency."""
        if all(n < 2 for n in holders.values()):
            return 0
        if domain not in batch.population:
            found = uow.keys.count(domain, [POPULATION_KEY])
            batch.population[domain] = found.get(POPULATION_KEY, 0)
        return batch.population[domain]

    def _keys(
        self, batch: Batch, source: str, domain: str, key: str, view: dict[str, Any]
    ) -> tuple[list[str], list[str]]:
        """A record's deterministic and blocking keys, computed once per batch: the prefetch
        and the link need the same ones, unless a reference resolved in between and changed
        the record's view, in which case they are computed again."""
        cached = batch.keys_of.get((source, domain, key))
        if cached is not None and cached[0] == view:
            return cached[1], cached[2]
        dkeys = self.matcher.deterministic_keys(domain, view)
        bkeys = self.matcher.blocking_keys(domain, view)
        batch.keys_of[(source, domain, key)] = (view, dkeys, bkeys)
        return dkeys, bkeys

    def _prefetch_keys(self, uow: UnitOfWork, batch: Batch, rows: list[tuple[int, Change]]) -> None:
        """Look up the deterministic keys of every new record of the batch in one query each."""
        by_domain: dict[str, set[str]] = {}
        blocking: dict[str, set[str]] = {}
        values: dict[str, set[str]] = {}
        for _, ch in rows:
            held = batch.records.get((ch.source, ch.domain, ch.key))
            if ch.op != "upsert" or (held is not None and held.golden_id and not held.deleted):
                continue
            probe = SourceRecord(
                ch.source, ch.domain, ch.key, ch.attributes, ch.changed_at, ch.sequence, ""
            )
            view = self._match_view(uow, batch, probe)
            dkeys, bkeys = self._keys(batch, probe.source, ch.domain, ch.key, view)
            by_domain.setdefault(ch.domain, set()).update(dkeys)
            blocking.setdefault(ch.domain, set()).update(bkeys)
            values.setdefault(ch.domain, set()).update(
                self.matcher.value_keys(ch.domain, view).values()
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
            self._load_candidates(uow, batch, candidates)
        for domain, vkeys in values.items():
            self._count_holders(uow, batch, domain, vkeys)

    def _find(self, uow: UnitOfWork, batch: Batch, domain: str, key: str) -> set[str]:
        cached = batch.key_cache.get((domain, key))
        if cached is None:
            cached = set(uow.keys.find(domain, [key]).get(key, ()))
            batch.key_cache[(domain, key)] = cached
        return cached

    def _remember_keys(self, batch: Batch, domain: str, keys: Iterable[str], gid: str) -> None:
        for k in keys:
            batch.key_cache.setdefault((domain, k), set()).add(gid)

    def _reference_targets(self, source: str, domain: str, attrs: dict[str, Any]) -> set[RecordKey]:
        spec = self.domains[domain]
        return {
            target
            for ref in spec.references
            if (target := reference_target(source, ref, attrs.get(ref.attribute)))
        }

    def _relink(self, uow: UnitOfWork, batch: Batch, golden_ids: set[str]) -> None:
        """Link again a record that became a golden of its own only because a reference in
        its deterministic key was pending (a PSA project whose client came later).

        Now the reference resolves, the key can match another golden record: the record moves
        there and its lone golden record is merged into it, so subscribers hear of both.
        """
        linked = self.members_locked(uow, golden_ids, wait=False)
        for gid in sorted(golden_ids):
            live = [r for r in linked.get(gid, []) if not r.deleted]
            if len(live) != 1 or live[0].link_rule != "new":
                continue
            record = batch.records.get((live[0].source, live[0].domain, live[0].key), live[0])
            targets = self._reference_targets(record.source, record.domain, record.attributes)
            batch.records.update(
                {k: v for k, v in uow.records.load(targets - batch.records.keys()).items()}
            )
            view = self._match_view(uow, batch, record)
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
