"""Linking: which golden record a source record belongs to.

xref first (the caller), then the domain's deterministic keys, then the matcher's blocking
keys and scores; a record whose keys reach two golden records merges them, and a record whose
key waited on a reference is linked again when the reference resolves. Lookups are prefetched
for the whole batch so that one record does not cost one query.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from hub.domain.model import Change, GoldenRecord, SourceRecord
from hub.domain.spec import DomainSpec
from hub.services.batch import Batch
from hub.services.ports import Matcher, RecordKey, UnitOfWork

MAX_CANDIDATES = 50


class Linking:
    """The linking half of :class:`hub.services.apply.Applier`."""

    domains: dict[str, DomainSpec]
    matcher: Matcher

    def _match_view(self, batch: Batch, record: SourceRecord) -> dict[str, Any]:
        """The record as the matcher sees it: its attributes plus its resolved references."""
        view = dict(record.attributes)
        for ref in self.domains[record.domain].references:
            target = record.attributes.get(ref.attribute)
            linked = batch.records.get((record.source, ref.target, str(target))) if target else None
            view[ref.name] = linked.golden_id if linked and not linked.deleted else None
        return view

    def _link(
        self, uow: UnitOfWork, batch: Batch, record: SourceRecord, previous: str | None = None
    ) -> None:
        view = self._match_view(batch, record)
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
                    "run_id": record.run_id,
                }
            )

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
        for _, ch in rows:
            held = batch.records.get((ch.source, ch.domain, ch.key))
            if ch.op != "upsert" or (held is not None and held.golden_id and not held.deleted):
                continue
            probe = SourceRecord(
                ch.source, ch.domain, ch.key, ch.attributes, ch.changed_at, ch.sequence, ""
            )
            view = self._match_view(batch, probe)
            dkeys, bkeys = self._keys(batch, probe.source, ch.domain, ch.key, view)
            by_domain.setdefault(ch.domain, set()).update(dkeys)
            blocking.setdefault(ch.domain, set()).update(bkeys)
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
            (source, ref.target, str(attrs[ref.attribute]))
            for ref in spec.references
            if attrs.get(ref.attribute)
        }

    def _relink(self, uow: UnitOfWork, batch: Batch, golden_ids: set[str]) -> None:
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
