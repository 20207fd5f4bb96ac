"""What the link decision reads, gathered for a whole batch in a few set-based queries: each
record's match view and keys, the golden records its keys reach, its candidates as entities
(survived values and every live source record's own), and how common each value is.

The decision itself is the domain's (``hub.domain.linking``); this is its input side, shared
by the apply path and by rescoring a steward's candidate, so both see a record alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hub.domain.linking import MAX_CANDIDATES, POPULATION_KEY, candidate_ids, shared_keys
from hub.domain.model import CandidateGolden, CandidateMember, Change, SourceRecord
from hub.domain.spec import DomainSpec, SourceSpec, reference_target, source_named
from hub.services import compared
from hub.services.batch import Batch, Compared, absent, identity_lock
from hub.services.candidate_cache import DEFAULT_SIZE, CandidateCache
from hub.services.key_cache import KeyCache
from hub.services.ports import Matcher, RecordKey, UnitOfWork
from hub.services.survival import reference_targets
from matching import Views, kept_views

POPULATION_REUSE = 50
"""A population count that took long is reused for this many times as long (see
``MatchContext.population``), so counting stays about 2% of an applier's time."""
SLOW_COUNT = 0.05  # seconds: a count quicker than this is made again in every batch


def scored_value_keys(
    matcher: Matcher, domain: str, view: dict[str, Any], levels: Any
) -> dict[str, str]:
    """The value keys of ``view`` whose counts the score reads: those of the comparisons on
    which ``levels`` agree exactly with some candidate (``Matcher.exact_labels``); every one
    when the levels are not known yet. The applier and the onboarding preview both use it."""
    vkeys = matcher.value_keys(domain, view)
    if levels is None:
        return vkeys
    exact = matcher.exact_labels(domain, levels)
    return {label: k for label, k in vkeys.items() if label in exact}


class MatchContext:
    """Holds configuration and the applier's caches of candidates and of the key index
    (checked against the database by every transaction that uses them): one instance serves
    every transaction."""

    def __init__(
        self,
        domains: dict[str, DomainSpec],
        matcher: Matcher,
        cache_size: int = DEFAULT_SIZE,
        keys: KeyCache | None = None,
    ) -> None:
        self.domains = domains
        self.matcher = matcher
        self.cache = CandidateCache(cache_size)
        self.key_cache = keys if keys is not None else KeyCache()
        self.clock: Callable[[], float] = time.monotonic
        self._populations: dict[str, tuple[int, float]] = {}  # domain: (count, good until)

    def view(self, uow: UnitOfWork, batch: Batch, record: SourceRecord) -> dict[str, Any]:
        """The record as the matcher sees it: its attributes plus its resolved references."""
        spec = self.domains[record.domain]
        resolved: dict[str, Any] = {}
        for ref in spec.references:
            target = reference_target(record.source, ref, record.attributes.get(ref.attribute))
            linked = batch.records.get(target) if target else None
            resolved[ref.name] = linked.golden_id if linked and not linked.deleted else None
        return spec.match_view(self.source(uow, batch, record.source), record.attributes, resolved)

    @staticmethod
    def source(uow: UnitOfWork, batch: Batch, name: str) -> SourceSpec:
        """A record's source system (its rank scopes issued identifiers), read once a batch."""
        if batch.sources is None:
            batch.sources = uow.sources()
        return source_named(batch.sources, name)

    def references(self, source: str, domain: str, attrs: dict[str, Any]) -> set[RecordKey]:
        return reference_targets(self.domains[domain], source, attrs)

    def keys(
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

    def prefetch(self, uow: UnitOfWork, batch: Batch, rows: list[tuple[int, Change]]) -> set[int]:
        """Look up the keys of every new record of the batch in one query per domain, and
        load the golden records they reach and the counts of their values. Returns the rows
        left for a later turn: those whose identity keys another batch is linking now."""
        exact: dict[str, set[str]] = {}
        names_of: dict[int, set[str]] = {}
        blocked: list[tuple[RecordKey, dict[str, Any], list[str], list[str]]] = []
        blocking: dict[str, set[str]] = {}
        dropped: set[RecordKey] = set()  # deleted earlier in the batch: linked again after
        for inbox_id, ch in rows:
            rkey = (ch.source, ch.domain, ch.key)
            if ch.op != "upsert":
                dropped.add(rkey)
                continue
            held = batch.records.get(rkey)
            if held is not None and held.golden_id and not held.deleted and rkey not in dropped:
                continue
            probe = SourceRecord(
                ch.source, ch.domain, ch.key, ch.attributes, ch.changed_at, ch.sequence, ""
            )
            view = self.view(uow, batch, probe)
            dkeys, bkeys = self.keys(batch, probe.source, ch.domain, ch.key, view)
            names_of[inbox_id] = {identity_lock(ch.domain, k) for k in dkeys}
            exact.setdefault(ch.domain, set()).update(dkeys)
            blocking.setdefault(ch.domain, set()).update(bkeys)
            blocked.append(((ch.source, ch.domain, ch.key), view, dkeys, bkeys))
        # Two workers linking records of one identity (a tax id, an employee id) at once
        # must not both create a golden record: a record whose identity keys another batch
        # holds waits for a later turn, when that batch's golden record is committed. Taken
        # without waiting, so one shared key does not make whole batches take turns.
        # Blocking keys are not locked here: near-duplicates are checked after linking,
        # under their own locks, for the golden records this batch creates
        # (``Linker.confirm_born``).
        taken = uow.lock_free("key", set().union(*names_of.values()))
        batch.key_locks |= taken
        deferred = {i for i, names in names_of.items() if not names <= taken}
        # The key cache syncs after those locks: a golden record another batch committed
        # under one of them is dropped from it before it is looked up (key_cache.py).
        if names_of:
            batch.key_read = self.key_cache.begin(uow)
        for domain, keys in exact.items():
            found = self.key_cache.find(
                uow, batch.key_read, domain, keys | blocking.get(domain, set())
            )
            for k in keys | blocking.get(domain, set()):
                batch.key_hits[(domain, k)] = set(found.get(k, ()))
        ahead = self._to_score(batch, blocked)
        wanted = set().union(*(ids for _, _, ids in ahead))
        if wanted:
            self.load_candidates(uow, batch, wanted)
            self.compare_ahead(uow, batch, ahead)
        self._count_ahead(uow, batch, blocked)
        return deferred

    def _count_ahead(
        self,
        uow: UnitOfWork,
        batch: Batch,
        blocked: list[tuple[RecordKey, dict[str, Any], list[str], list[str]]],
    ) -> None:
        """Count every value of the batch's new records, in one query per domain.

        Scoring reads only the counts of exact agreements (``holders``), and counting only
        those here counted 43% fewer values in an onboarding commit at a million clients,
        with no wall-time gain beyond the host's noise. But a record whose candidates change
        within the batch (a golden record born before it) was then counted on its own, one
        query per record, and the apply stage of `concord bench ingest` lost 10-11%
        (docs/benchmarks/ingest-counts-2026-12-06.txt). So every value is counted here."""
        values: dict[str, set[str]] = {}
        for (_, domain, _), view, _, _ in blocked:
            values.setdefault(domain, set()).update(self.matcher.value_keys(domain, view).values())
        for domain, vkeys in values.items():
            self.count_values(uow, batch, domain, vkeys)

    @staticmethod
    def _to_score(
        batch: Batch, blocked: list[tuple[RecordKey, dict[str, Any], list[str], list[str]]]
    ) -> list[tuple[RecordKey, dict[str, Any], set[str]]]:
        """The new records that will be scored, each with its view and the candidates it
        shares the most blocking keys with: loaded in one query, not one per record. Not
        every golden record a key reaches: a broad key (a name's first letters in a country)
        reaches thousands. A record whose identity key is held already links by it and
        scores nothing (should a merge in this batch change that, ``Linker._score`` loads
        what it needs then)."""
        ahead = []
        for rkey, view, dkeys, bkeys in blocked:
            domain = rkey[1]
            if any(batch.key_hits.get((domain, k)) for k in dkeys):
                continue
            shared = shared_keys(batch.key_hits.get((domain, k), ()) for k in bkeys)
            ahead.append((rkey, view, candidate_ids(shared, set(), MAX_CANDIDATES)))
        return ahead

    def compare_ahead(
        self, uow: UnitOfWork, batch: Batch, ahead: list[tuple[RecordKey, dict[str, Any], set[str]]]
    ) -> None:
        """Compare the batch's new records with the candidates the prefetch found for them,
        all of a domain in one call (``Matcher.levels_many``): one record at a time, the
        fixed cost of each comparison call was most of the scoring. A record's link uses
        these levels if it meets the very same candidates then (``compared``)."""
        work: dict[str, list[tuple[RecordKey, dict[str, Any], list[tuple[str, Views]]]]] = {}
        for rkey, view, ids in ahead:
            if ids and self.matcher.spec(rkey[1]) is not None:
                work.setdefault(rkey[1], []).append((rkey, view, self.pool(uow, batch, ids)))
        for domain, items in work.items():
            levels = self.matcher.levels_many(
                domain, [(view, [e for _, e in pool]) for _, view, pool in items]
            )
            for (rkey, view, pool), lv in zip(items, levels, strict=True):
                batch.compared[rkey] = Compared(view, pool, lv)

    @staticmethod
    def compared(
        batch: Batch, rkey: RecordKey, view: dict[str, Any], pool: list[tuple[str, Views]]
    ) -> Any:
        """The levels ``compare_ahead`` found for this record against ``pool``, or ``None``
        if its view or its candidates changed since (a golden record born or merged in the
        batch, a steward's "not a match", a reference resolved)."""
        kept = batch.compared.get(rkey)
        if kept is None or kept.view != view or len(kept.pool) != len(pool):
            return None
        if any(g != h or e is not f for (g, e), (h, f) in zip(kept.pool, pool, strict=True)):
            return None
        return kept.levels

    def pool(self, uow: UnitOfWork, batch: Batch, ids: set[str]) -> list[tuple[str, Views]]:
        """The candidates among ``ids`` a record is scored against, in id order: the golden
        records born in this batch and the stored ones still active."""
        return [
            (gid, self.entity(uow, batch, gid))
            for gid in sorted(ids)
            if gid in batch.new_views
            or (gid in batch.candidate_goldens and batch.candidate_goldens[gid].status == "active")
        ]

    def find(self, uow: UnitOfWork, batch: Batch, domain: str, key: str) -> set[str]:
        """The golden records holding a key, as the batch knows them so far."""
        cached = batch.key_hits.get((domain, key))
        if cached is None:
            cached = set(self.key_cache.find(uow, batch.key_read, domain, [key]).get(key, ()))
            batch.key_hits[(domain, key)] = cached
        return cached

    @staticmethod
    def remember(batch: Batch, domain: str, keys: Iterable[str], gid: str) -> None:
        """A later record of this batch with one of these keys finds ``gid``."""
        for k in keys:
            batch.key_hits.setdefault((domain, k), set()).add(gid)

    def load_candidates(self, uow: UnitOfWork, batch: Batch, ids: set[str]) -> None:
        """Candidates' golden records and their live source records, those not yet loaded:
        from the applier's cache where they are unchanged since it read them."""
        unseen = absent(ids, batch.candidate_records)
        if not unseen:
            return
        if batch.sources is None:
            batch.sources = uow.sources()
        found = self.cache.fetch(uow, unseen, batch.sources, self._kept_views)
        for gid in unseen:
            entry = found.get(gid)
            batch.candidate_records[gid] = entry.records if entry is not None else []
            if entry is None:
                continue
            batch.candidate_goldens[gid] = entry.golden
            if entry.views is not None and gid not in batch.new_views:
                batch.entities[gid] = entry.views

    def _kept_views(
        self,
        golden: CandidateGolden,
        members: Sequence[CandidateMember],
        sources: Mapping[str, SourceSpec],
    ) -> Views | None:
        """A candidate as the matcher compares it, from the compared values survival kept
        with it, if they were made from exactly this version and these members; its values
        were not read (``CandidateCache.fetch``)."""
        spec = self.domains.get(golden.domain)
        if spec is None or not golden.compared:
            return None
        stamped = [(source_named(sources, m.source), m) for m in members]
        kept = compared.reusable(self.matcher, spec, golden.compared, golden.version, stamped)
        return kept_views(1 + len(members), kept) if kept is not None else None

    def entity(self, uow: UnitOfWork, batch: Batch, gid: str) -> Views:
        """Every view of a candidate the record is compared with (entity-centric matching):
        its survived values and each live source record's own, so a second address or an
        older name of the client still counts. Its source records' references are the
        golden record's survived ones."""
        made = batch.entities.get(gid)
        if made is not None:
            return made
        if gid in batch.new_views:
            made = Views([batch.new_views[gid]])
        else:
            golden = batch.candidate_goldens[gid]
            if golden.attributes is None or golden.references is None:
                # read without its values (and its members'), so its views came with it
                raise RuntimeError(f"candidate {gid} was read without its values")
            spec = self.domains[golden.domain]
            members = [
                (self.source(uow, batch, m.source), m) for m in batch.candidate_records.get(gid, [])
            ]
            made = Views(compared.entity_views(spec, golden.attributes, golden.references, members))
            # what survival stored of these very views, so none is normalised again
            kept = compared.reusable(self.matcher, spec, golden.compared, golden.version, members)
            if kept is not None:
                made.compared.update(kept)
            self.cache.keep_views(gid, golden, made)  # and for the applier's next batches
        batch.entities[gid] = made  # its compared values are kept for the batch's next record
        return made

    def holders(
        self, uow: UnitOfWork, batch: Batch, domain: str, view: dict[str, Any], levels: Any = None
    ) -> dict[str, int]:
        """Per comparison label, how many golden records hold the record's value: committed
        ones and those born in this batch. Given the record's ``levels`` against its
        candidates, only the labels scoring reads (exact agreements) are given."""
        vkeys = self._value_keys(domain, view, levels)
        self.count_values(uow, batch, domain, vkeys.values())
        return {
            label: batch.value_counts[(domain, k)] + batch.born_values[(domain, k)]
            for label, k in vkeys.items()
        }

    def _value_keys(self, domain: str, view: dict[str, Any], levels: Any) -> dict[str, str]:
        return scored_value_keys(self.matcher, domain, view, levels)

    def count_values(self, uow: UnitOfWork, batch: Batch, domain: str, keys: Iterable[str]) -> None:
        """Count the committed golden records holding each value key not yet counted in this
        batch."""
        missing = {k for k in keys if (domain, k) not in batch.value_counts}
        if missing:
            found = self.key_cache.count(uow, batch.key_read, domain, missing)
            for k in missing:
                batch.value_counts[(domain, k)] = found.get(k, 0)

    def population(
        self, uow: UnitOfWork, batch: Batch, domain: str, holders: dict[str, int]
    ) -> int:
        """How many golden records of ``domain`` there are (the denominator of a term
        frequency), counted at most once per batch and only when a value is shared at all:
        a record whose values no other golden record holds needs no frequency.

        Counting reads one index entry per golden record: 1.5 s a batch at a million
        clients, 40% of an onboarding commit's time. A count that took longer than
        ``SLOW_COUNT`` is reused by this applier's next batches for ``POPULATION_REUSE`` times
        as long. The denominator then lags by what was created meanwhile (a few per cent of a
        large hub), which moves a frequency's weight by as little; a small hub, quick to
        count, is counted in every batch as before."""
        if all(n < 2 for n in holders.values()):
            return 0
        if domain not in batch.population:
            kept = self._populations.get(domain)
            if kept is not None and self.clock() < kept[1]:
                batch.population[domain] = kept[0]
            else:
                began = self.clock()
                found = uow.keys.count(domain, [POPULATION_KEY]).get(POPULATION_KEY, 0)
                took = self.clock() - began
                batch.population[domain] = found
                if took >= SLOW_COUNT:
                    self._populations[domain] = (found, began + took * (1 + POPULATION_REUSE))
                else:
                    self._populations.pop(domain, None)
        return batch.population[domain]

    def held_by_source(self, batch: Batch, record: SourceRecord, gid: str) -> int:
        """How many other live records of ``record``'s source ``gid`` holds now (as stored,
        and as this batch has linked so far): the input of the per-source guard."""
        held = {  # a candidate's member was live on gid when read; the batch may have moved it
            (m.source, m.key)
            for m in batch.candidate_records.get(gid, [])
            if (now := batch.records.get((m.source, m.domain, m.key))) is None
            or (now.golden_id == gid and not now.deleted)
        }
        held |= {
            (r.source, r.key)
            for r in batch.records.values()
            if r.golden_id == gid and not r.deleted and r.domain == record.domain
        }
        return len({k for k in held if k[0] == record.source} - {(record.source, record.key)})
