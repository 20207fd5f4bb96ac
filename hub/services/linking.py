"""Linking in a transaction: the domain's link decision (``hub.domain.linking``) applied to
the batch's records, and what it implies: a new golden record, a merge of golden records one
record's keys proved the same, candidates for the stewards, and a record linked again once
the reference its key waited on resolves.

The rules (identity vs evidence, entity views, value counts, the identity rule and the guard
against a source's second record) are described in docs/architecture.md, "Linking".
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from hub.domain import linking as rules
from hub.domain.errors import LockBusy
from hub.domain.linking import MAX_CANDIDATES
from hub.domain.model import GoldenRecord, SourceRecord
from hub.services.batch import Batch, absent, identity_lock
from hub.services.match_context import MatchContext
from hub.services.ports import UnitOfWork

__all__ = ["MAX_CANDIDATES", "Linker"]  # MAX_CANDIDATES: the domain rule, named here too


class Linker:
    """Holds only configuration: one instance serves every transaction."""

    def __init__(self, context: MatchContext) -> None:
        self.context = context
        self.matcher = context.matcher

    def link(
        self, uow: UnitOfWork, batch: Batch, record: SourceRecord, previous: str | None = None
    ) -> None:
        """Link a record that has no golden record (new, or re-created after a delete and
        then falling back to ``previous`` if nothing else claims it)."""
        ctx = self.context
        view = ctx.view(uow, batch, record)
        dkeys, bkeys = ctx.keys(batch, record.source, record.domain, record.key, view)
        self._hold_identity(uow, batch, record.domain, dkeys)
        hits = [(k, ctx.find(uow, batch, record.domain, k) - batch.merges.keys()) for k in dkeys]
        by_key = rules.link_by_keys(hits)
        if by_key is not None:
            record.golden_id, record.link_rule = by_key.golden_id, by_key.rule
            apart = {g for g in by_key.others if uow.candidates.kept_apart(g, by_key.golden_id)}
            for other in rules.to_merge(by_key, apart):
                self.merge(uow, batch, other, by_key.golden_id)
            ctx.remember(batch, record.domain, dkeys, by_key.golden_id)
            return
        if previous is not None and previous not in batch.merges:
            record.golden_id, record.link_rule = previous, "revived"
            ctx.remember(batch, record.domain, dkeys, previous)
            return
        golden_id = str(uuid.uuid4())
        record.golden_id, record.link_rule = golden_id, "new"
        if bkeys:
            self._propose(uow, batch, record, view, bkeys)
        if record.golden_id != golden_id:  # the matcher linked it automatically
            ctx.remember(batch, record.domain, dkeys + bkeys, record.golden_id)
            return
        self._born(batch, record, view, golden_id)
        ctx.remember(batch, record.domain, dkeys + bkeys, golden_id)

    @staticmethod
    def _hold_identity(uow: UnitOfWork, batch: Batch, domain: str, dkeys: list[str]) -> None:
        """Take the locks of identity keys the prefetch could not know (a reference resolved
        earlier in the batch is part of the key, or the record was deleted and is created
        again in it) before they are looked up, and read those keys from the index itself.

        Without the lock another applier could link a record by the same key at the same
        time, and each would make a golden record of its own. Asked for out of the lock
        order, so not waited for: a busy one raises ``LockBusy`` and the batch runs again
        (docs/architecture.md, "Locks"). The index is read, not the key cache, because the
        cache synced before these locks were taken (hub/services/key_cache.py)."""
        new = {n: k for k in dkeys if (n := identity_lock(domain, k)) not in batch.key_locks}
        if not new:
            return
        taken = uow.lock_free("key", new)
        if len(taken) < len(new):
            raise LockBusy(f"an identity key of {domain} is held by another transaction")
        batch.key_locks |= taken
        found = uow.keys.find(domain, new.values())
        for k in new.values():
            # Replaced, not added to: what the batch held of a key it had no lock on came from
            # the cache (a deferred row's key) and may name a golden record merged since. No
            # record of the batch has added to it: a record's keys are held before that.
            # A golden record merged in this batch: its winner holds the key.
            batch.key_hits[(domain, k)] = {batch.winner(g) for g in found.get(k, ())}

    def _born(self, batch: Batch, record: SourceRecord, view: dict[str, Any], gid: str) -> None:
        """A golden record of the record's own: a later record of this batch is compared
        with it and counts its values, whenever they are counted."""
        batch.new_views[gid] = view
        for vkey in self.matcher.value_keys(record.domain, view).values():
            batch.born_values[(record.domain, vkey)] += 1
        batch.goldens[gid] = GoldenRecord(
            id=gid,
            domain=record.domain,
            version=0,
            status="active",
            attributes={},
            provenance={},
            references={},
        )
        spec = self.context.domains[record.domain]
        if any(
            view.get(r.name) is None and record.attributes.get(r.attribute) for r in spec.references
        ):
            # Its key may change once the reference resolves, later in this very batch.
            batch.awaiting_reference.add(gid)

    def merge(self, uow: UnitOfWork, batch: Batch, loser: str, winner: str) -> None:
        """Move every source record of ``loser`` to ``winner``; ``loser`` becomes merged.

        Golden records that refer to the loser are re-survived too, so their references move
        to the winner and their subscribers are told.
        """
        if loser == winner or loser in batch.merges:
            return
        batch.merges[loser] = winner
        batch.to_resurvive.update((loser, winner))
        for r in self.members_locked(uow, {loser}, wait=False).get(loser, []):
            batch.records.setdefault((r.source, r.domain, r.key), r)
        for r in batch.records.values():
            if r.golden_id == loser:
                r.golden_id, r.dirty = winner, True
        for gids in batch.key_hits.values():
            if loser in gids:
                gids.discard(loser)
                gids.add(winner)
        batch.to_resurvive.update(uow.golden.referring_to([loser]))

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
        ctx = self.context
        shared = rules.shared_keys(
            ctx.find(uow, batch, record.domain, bkey) - {record.golden_id} for bkey in bkeys
        )
        if not shared:
            return
        # only a record seen before can carry a steward's "not a match"
        rejected = (
            uow.candidates.rejected((record.source, record.domain, record.key))
            if record.stored
            else set()
        )
        ids = rules.candidate_ids(shared, rejected, MAX_CANDIDATES)
        verdict = self._score(uow, batch, record, view, ids)
        if verdict.linked is not None:
            record.golden_id, record.link_rule = verdict.linked.golden_id, verdict.linked.rule
            return
        for cand in verdict.review:
            batch.candidates.append(self._candidate_row(batch, record, cand))

    def _score(
        self,
        uow: UnitOfWork,
        batch: Batch,
        record: SourceRecord,
        view: dict[str, Any],
        ids: set[str],
    ) -> rules.ScoreLink[Any]:
        """The domain's verdict on ``record`` against the golden records ``ids``."""
        ctx = self.context
        ctx.load_candidates(uow, batch, absent(ids, batch.new_views))
        pool = ctx.pool(uow, batch, ids)
        levels = ctx.compared(batch, (record.source, record.domain, record.key), view, pool)
        holders: dict[str, int] = {}
        population = 0
        if pool:  # compared first: the score is handed only the counts it reads, and the
            # population is counted only when one of those values is shared
            if levels is None:
                levels = self.matcher.levels_many(record.domain, [(view, [e for _, e in pool])])[0]
            holders = ctx.holders(uow, batch, record.domain, view, levels)
            if record.golden_id in batch.new_views:
                # decided again (``confirm_born``): the golden record born for it in this
                # batch holds its values, and is no other golden record that shares them
                holders = {label: max(n - 1, 0) for label, n in holders.items()}
            population = ctx.population(uow, batch, record.domain, holders)
        scored = self.matcher.score(record.domain, view, pool, holders, population, levels)
        return rules.link_by_score(
            scored, record.golden_id, lambda gid: self.crowded(batch, record, gid)
        )

    def confirm_born(self, uow: UnitOfWork, batch: Batch) -> None:
        """Compare each record this batch made a golden record of its own with the golden
        records other workers committed since the prefetch under the same blocking keys, and
        decide it again as if it had seen them: it joins one the matcher links it to (its
        golden record, never stored, follows) or gets candidates for review.

        Done under locks on those blocking keys, this is the near-duplicate half of "no
        double golden record" without holding the locks for the whole batch: two appliers
        creating golden records for two near-duplicates share a blocking key, so the second
        to get here waits for the first to commit and then finds its golden record
        (docs/architecture.md, "Locks").
        """
        born: list[tuple[SourceRecord, list[str]]] = []
        for rkey, record in batch.records.items():
            gid = record.golden_id
            if record.link_rule != "new" or gid not in batch.new_views or gid in batch.merges:
                continue
            cached = batch.keys_of.get(rkey)
            if cached and cached[2]:
                born.append((record, cached[2]))
        if not born:
            return
        uow.lock("bkey", {f"{r.domain}\x00{k}" for r, keys in born for k in keys})
        wanted: dict[str, set[str]] = {}
        for record, keys in born:
            wanted.setdefault(record.domain, set()).update(keys)
        found = {d: uow.keys.find(d, keys) for d, keys in wanted.items()}
        again: list[tuple[SourceRecord, list[str], set[str]]] = []
        for record, keys in born:
            # As the prefetch would have: the closest by shared blocking keys, at most
            # MAX_CANDIDATES. Every golden record another worker made under a broad key is
            # "fresh", and scoring them all was a quarter of each of two appliers' time.
            shared = rules.shared_keys(found[record.domain].get(k, ()) for k in keys)
            again.append((record, keys, rules.candidate_ids(shared, set(), MAX_CANDIDATES)))
        # every record's closest in one read, not one per record
        self.context.load_candidates(
            uow, batch, set().union(*(c for _, _, c in again)) - batch.new_views.keys()
        )
        for record, keys, closest in again:
            gid = record.golden_id
            if gid not in batch.new_views or gid in batch.merges:
                continue  # an earlier record's decision took its golden record along
            # seen now: an earlier record's decision added what it found to the keys it shares
            seen = {g for k in keys for g in batch.key_hits.get((record.domain, k), ())}
            fresh = closest - seen - batch.merges.keys() - batch.new_views.keys()
            if fresh:
                self._decide_again(uow, batch, record, fresh)

    def _decide_again(
        self, uow: UnitOfWork, batch: Batch, record: SourceRecord, fresh: set[str]
    ) -> None:
        """``record``'s link decision against golden records it had not seen."""
        view, dkeys, bkeys = batch.keys_of[(record.source, record.domain, record.key)]
        for k in bkeys:  # what the prefetch would have found
            batch.key_hits.setdefault((record.domain, k), set()).update(fresh)
        verdict = self._score(uow, batch, record, view, fresh)
        if verdict.linked is not None:
            born, rule = record.golden_id, verdict.linked.rule
            assert born is not None
            self.merge(uow, batch, born, verdict.linked.golden_id)
            record.link_rule = rule
            self.context.remember(batch, record.domain, dkeys + bkeys, verdict.linked.golden_id)
            return
        for cand in verdict.review:
            batch.candidates.append(self._candidate_row(batch, record, cand))

    @staticmethod
    def _candidate_row(batch: Batch, record: SourceRecord, cand: Any) -> dict[str, Any]:
        born = cand.golden_id in batch.new_views
        stored = batch.candidate_goldens.get(cand.golden_id)
        return {
            "domain": record.domain,
            "source_key": (record.source, record.key),
            "golden_id": cand.golden_id,
            "probability": cand.probability,
            "weights": dict(cand.weights),
            "notes": dict(cand.notes),
            "rule": cand.rule,
            "run_id": record.run_id,
            "levels": dict(cand.levels),
            # the version scored against; a golden record born in this batch gets its first
            # version only at the end of it, so its evidence is read again when first shown
            "golden_version": stored.version if stored is not None and not born else 0,
        }

    def crowded(self, batch: Batch, record: SourceRecord, gid: str) -> str | None:
        """Why an automatic link of ``record`` to ``gid`` must wait for a steward, if it must
        (the per-source guard; deterministic keys never come here)."""
        spec = self.matcher.spec(record.domain)
        if spec is None:
            return None
        held = self.context.held_by_source(batch, record, gid)
        return rules.crowded_reason(record.source, held, spec.max_per_source)

    def relink(self, uow: UnitOfWork, batch: Batch, golden_ids: set[str]) -> None:
        """Link again a record that became a golden of its own only because a reference in
        its deterministic key was pending (a PSA project whose client came later).

        Now the reference resolves, the key can match another golden record: the record moves
        there and its lone golden record is merged into it, so subscribers hear of both.
        """
        ctx = self.context
        linked = self.members_locked(uow, golden_ids, wait=False)
        for gid in sorted(golden_ids):
            live = [r for r in linked.get(gid, []) if not r.deleted]
            if len(live) != 1 or live[0].link_rule != "new":
                continue
            record = batch.records.get((live[0].source, live[0].domain, live[0].key), live[0])
            targets = ctx.references(record.source, record.domain, record.attributes)
            batch.records.update(uow.records.load(absent(targets, batch.records)))
            view = ctx.view(uow, batch, record)
            dkeys = self.matcher.deterministic_keys(record.domain, view)
            self._hold_identity(uow, batch, record.domain, dkeys)
            hits = [
                (k, ctx.find(uow, batch, record.domain, k) - {gid} - batch.merges.keys())
                for k in dkeys
            ]
            by_key = rules.link_by_keys(hits)
            if by_key is None:  # it stays: a record relinked after it in this batch finds it
                ctx.remember(batch, record.domain, dkeys, gid)
                continue
            record.golden_id, record.link_rule = by_key.golden_id, by_key.rule
            record.dirty = True
            batch.records[(record.source, record.domain, record.key)] = record
            batch.merges[gid] = by_key.golden_id
            batch.to_resurvive.add(by_key.golden_id)
        dirty = [r for r in batch.records.values() if r.dirty]
        uow.records.save(dirty, datetime.now(UTC))
