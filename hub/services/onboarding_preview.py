"""What an onboarding run would do, worked out without writing anything.

The preview follows the apply path's linking order (xref, deterministic keys, then blocking
and Fellegi-Sunter with the same spec and thresholds) against the golden records in the store,
but reads only, so a dry run cannot change a golden record. It works a chunk of rows at a time
in a few set-based reads (xref, key index, candidate golden records, their linked records) and
scores each row with the matcher the apply path calls, so a preview decides as the load will
(entity views, generic values, the identity rule, one automatic link per golden record).

Two things it sees differently from the real load, both said in the report: a row that would
only fuzzy-match an earlier row of the same file counts as new here (deterministic duplicates
within the file are caught), and survivorship is previewed one row at a time.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hub.domain import linking as rules
from hub.domain.linking import POPULATION_KEY
from hub.domain.onboarding import ValidRow
from hub.domain.spec import DomainSpec, SourceSpec, reference_target, source_named
from hub.domain.survivorship import Contribution, Override, is_blank, survive
from hub.services.linking import MAX_CANDIDATES
from hub.services.match_context import scored_value_keys
from hub.services.ports import Matcher, RecordKey, UnitOfWork
from hub.services.preview_results import BINS, CLOSEST, Preview, RowResult, merge_previews
from matching import Candidate, MatchSpec
from matching.matcher import RULE

CHUNK = 2_000

ProgressFn = Callable[[int, int], None]

__all__ = ["BINS", "CHUNK", "OnboardingPreview", "Preview", "RowResult", "merge_previews"]


def _noop(done: int, total: int) -> None:
    return None


class OnboardingPreview:
    """Predicts each row's outcome; holds only configuration and one run's running state."""

    def __init__(
        self,
        domain: DomainSpec,
        matcher: Matcher,
        spec: MatchSpec | None,
        source: SourceSpec,
    ) -> None:
        self.domain = domain
        self.matcher = matcher
        self.spec = spec
        self.source = source
        self.preview = Preview(
            t_auto=spec.t_auto if spec else None,
            t_review=spec.t_review if spec else None,
            max_per_source=spec.max_per_source if spec else 1,
        )
        self._file_keys: dict[str, str] = {}  # deterministic key -> golden id or "row N"
        self._linked: Counter[str] = Counter()  # golden id -> rows of this file linked to it
        # golden id -> live records of this source it holds already (the load's guard counts)
        self._held_of_source: Counter[str] = Counter()
        self._population: int | None = None  # golden records of the domain, counted once
        self._sources: dict[str, SourceSpec] | None = None  # the hub's systems, read once
        self._heap: list[tuple[float, int, dict[str, Any]]] = []

    def run(self, uow: UnitOfWork, rows: list[ValidRow], progress: ProgressFn = _noop) -> Preview:
        """Preview every row inside ``uow`` (read only: the caller never commits it)."""
        for start in range(0, len(rows), CHUNK):
            self._chunk(uow, rows[start : start + CHUNK])
            progress(min(start + CHUNK, len(rows)), len(rows))
        self.preview.closest = [
            item for _, _, item in sorted(self._heap, key=lambda h: (-h[0], -h[1]))
        ]
        return self.preview

    # -- one chunk ----------------------------------------------------------------------------

    def _views(self, uow: UnitOfWork, rows: list[ValidRow]) -> list[dict[str, Any]]:
        """Each row as the matcher sees it: attributes plus references resolved through this
        source's xref (a project's ``client_key`` names the acquired firm's client)."""
        targets: set[RecordKey] = {
            target
            for r in rows
            for ref in self.domain.references
            if (target := reference_target(self.source.name, ref, r.attributes.get(ref.attribute)))
        }
        resolved = uow.records.load(targets) if targets else {}
        views = []
        for r in rows:
            refs: dict[str, Any] = {}
            for ref in self.domain.references:
                target = reference_target(self.source.name, ref, r.attributes.get(ref.attribute))
                hit = resolved.get(target) if target else None
                refs[ref.name] = hit.golden_id if hit and not hit.deleted else None
            views.append(self.domain.match_view(self.source, r.attributes, refs))
        return views

    def _chunk(self, uow: UnitOfWork, rows: list[ValidRow]) -> None:
        d = self.domain.name
        held = uow.records.load((self.source.name, d, r.key) for r in rows)
        views = self._views(uow, rows)
        keys = [
            (self.matcher.deterministic_keys(d, v), self.matcher.blocking_keys(d, v)) for v in views
        ]
        found = uow.keys.find(d, {k for dk, bk in keys for k in dk + bk})
        decided: dict[int, RowResult] = {}
        to_score: dict[int, list[str]] = {}
        for n, (row, (dkeys, bkeys)) in enumerate(zip(rows, keys, strict=True)):
            known = held.get((self.source.name, d, row.key))
            if known is not None and known.golden_id and not known.deleted:
                decided[n] = RowResult(row.number, row.key, "auto", "xref", known.golden_id, None)
                continue
            by_key = rules.link_by_keys(
                [(k, set(found.get(k, ())) | self._file_hits(k)) for k in dkeys]
            )
            if by_key is not None:
                gid = by_key.golden_id
                decided[n] = RowResult(row.number, row.key, "auto", by_key.rule, gid, None)
                self._remember(dkeys, gid)
                continue
            if known is not None and known.deleted and known.golden_id:
                # sent again after a delete: back to its golden record, as the load does
                gid = known.golden_id
                decided[n] = RowResult(row.number, row.key, "auto", "revived", gid, None)
                self._remember(dkeys, gid)
                continue
            shared = rules.shared_keys(found.get(bkey, ()) for bkey in bkeys)
            # a record seen before may carry a steward's "not a match", as in the load
            rejected = uow.candidates.rejected((self.source.name, d, row.key)) if known else set()
            ids = sorted(rules.candidate_ids(shared, rejected, MAX_CANDIDATES))
            if self.spec is None or not ids:
                decided[n] = RowResult(row.number, row.key, "new", "new", None, None)
                self._remember(dkeys, f"row {row.number}")
                continue
            to_score[n] = ids
        decided.update(self._score(uow, rows, views, keys, to_score))
        results = [replace(decided[n], dkeys=tuple(keys[n][0])) for n in range(len(rows))]
        self.preview.results.extend(results)
        self._survivorship(uow, rows, results)

    def _file_hits(self, dkey: str) -> set[str]:
        """What an earlier row of this file holding the key was linked to (or its row)."""
        return {self._file_keys[dkey]} if dkey in self._file_keys else set()

    def _remember(self, dkeys: list[str], gid: str) -> None:
        for k in dkeys:
            self._file_keys.setdefault(k, gid)

    def _score(
        self,
        uow: UnitOfWork,
        rows: list[ValidRow],
        views: list[dict[str, Any]],
        keys: list[tuple[list[str], list[str]]],
        to_score: dict[int, list[str]],
    ) -> dict[int, RowResult]:
        """Each row against its candidates with the matcher the apply path uses: the same
        entity views (survived values and every source record of the candidate), the same
        counts of who holds a value, the same tiers and guards, so the preview and the load
        decide alike."""
        if not to_score:
            return {}
        assert self.spec is not None
        d = self.domain.name
        pool = self._entities(uow, {g for ids in to_score.values() for g in ids})
        order = sorted(to_score)
        pools = {n: [(g, pool[g]) for g in to_score[n] if g in pool] for n in order}
        levels = self.matcher.levels_many(d, [(views[n], [e for _, e in pools[n]]) for n in order])
        vkeys = {  # only the values a row shares exactly with a candidate are counted
            n: scored_value_keys(self.matcher, d, views[n], lv)
            for n, lv in zip(order, levels, strict=True)
        }
        counted = uow.keys.count(d, {k for ks in vkeys.values() for k in ks.values()})
        if self._population is None:
            self._population = uow.keys.count(d, [POPULATION_KEY]).get(POPULATION_KEY, 0)
        out: dict[int, RowResult] = {}
        for n, gamma in zip(order, levels, strict=True):
            row = rows[n]
            candidates = pools[n]
            holders = {label: counted.get(k, 0) for label, k in vkeys[n].items()}
            scored = self.matcher.score(
                d, views[n], candidates, holders, self._population, levels=gamma
            )
            out[n] = self._decide(row, keys[n][0], scored)
            if candidates:
                # the best candidate, or the first one when none reached review
                by_id = {c.golden_id: c for c in scored}
                gid = max(
                    (g for g, _ in candidates),
                    key=lambda g: by_id[g].probability if g in by_id else 0.0,
                )
                best = by_id.get(gid)
                p_best = best.probability if best else 0.0
                self.preview.histogram[min(int(p_best * BINS), BINS - 1)] += 1
                out[n] = replace(out[n], probability=p_best)
                self._closest(row, out[n], pool[gid][0], best.weights if best else {}, p_best)
        return out

    def _decide(self, row: ValidRow, dkeys: list[str], scored: list[Candidate]) -> RowResult:
        """The apply path's decision (``hub.domain.linking``), with its per-source guard
        counting what the golden record holds of this source already and this file's rows
        linked to it so far (the file is one source)."""
        assert self.spec is not None
        limit = self.spec.max_per_source

        def crowded(gid: str) -> str | None:
            held = self._linked[gid] + self._held_of_source[gid]
            return rules.crowded_reason(self.source.name, held, limit)

        verdict = rules.link_by_score(scored, None, crowded)
        if verdict.linked is not None:
            gid = verdict.linked.golden_id
            self._linked[gid] += 1
            self._remember(dkeys, gid)
            return RowResult(row.number, row.key, "auto", RULE, gid, None)
        self._remember(dkeys, f"row {row.number}")
        if verdict.review:
            first = verdict.review[0].golden_id
            return RowResult(row.number, row.key, "review", RULE, first, None)
        return RowResult(row.number, row.key, "new", "new", None, None)

    def _entities(self, uow: UnitOfWork, ids: set[str]) -> dict[str, list[dict[str, Any]]]:
        """Active candidates as the matcher compares them: survived values first, then each
        live source record's own (a slim read of the survived values when the store has one)."""
        runs = getattr(uow, "runs", None)
        if runs is not None and hasattr(runs, "match_views"):
            survived: dict[str, dict[str, Any]] = runs.match_views(ids)
        else:
            survived = {
                g: {**r.attributes, **r.references}
                for g, r in uow.golden.load(ids).items()
                if r.status == "active"
            }
        linked = uow.records.live(survived)
        if self._sources is None:
            self._sources = uow.sources()
        refs = {ref.name for ref in self.domain.references}
        out: dict[str, list[dict[str, Any]]] = {}
        for gid, view in survived.items():
            self._held_of_source[gid] = sum(
                1 for m in linked.get(gid, []) if m.source == self.source.name
            )
            resolved = {name: view.get(name) for name in refs}
            out[gid] = [view] + [
                self.domain.match_view(
                    source_named(self._sources, m.source), m.attributes, resolved
                )
                for m in linked.get(gid, [])
            ]
        return out

    def _closest(
        self,
        row: ValidRow,
        result: RowResult,
        golden: dict[str, Any],
        weights: Mapping[str, float],
        p: float,
    ) -> None:
        """Keep the calls nearest a threshold: those a different setting would flip."""
        assert self.spec is not None
        distance = min(abs(p - self.spec.t_auto), abs(p - self.spec.t_review))
        item = {
            "row": row.number,
            "key": row.key,
            "outcome": result.outcome,
            "probability": round(p, 6),
            "golden_id": result.golden_id,
            "fields": {
                label: {
                    "row": row.attributes.get(c.field),
                    "golden": golden.get(c.field),
                    "weight": round(float(weights.get(label, 0.0)), 3),
                }
                for label, c in zip(self.spec.labels, self.spec.comparisons, strict=True)
            },
        }
        entry = (-distance, -row.number, item)  # the nearest calls; the first rows on a tie
        if len(self._heap) < CLOSEST:
            heapq.heappush(self._heap, entry)
        elif entry[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, entry)

    def _survivorship(
        self, uow: UnitOfWork, rows: list[ValidRow], results: list[RowResult]
    ) -> None:
        """Per field, how many existing golden values this row's arrival would change."""
        linked_rows = [
            (row, res.golden_id)
            for row, res in zip(rows, results, strict=True)
            if res.outcome == "auto"
            and res.golden_id
            and not res.golden_id.startswith("row ")
            and res.rule != "xref"
        ]
        if not linked_rows:
            return
        gids = {g for _, g in linked_rows if g}
        goldens = uow.golden.load(gids)
        linked = uow.records.linked_to(gids)
        sources = uow.sources()
        now = datetime.now(UTC)
        tally = self.preview.survivorship
        for row, gid in linked_rows:
            golden = goldens.get(gid or "")
            if golden is None:
                continue
            offers = [
                Contribution(
                    r.source,
                    source_named(sources, r.source).kind,
                    source_named(sources, r.source).rank,
                    r.key,
                    r.changed_at,
                    r.sequence,
                    r.attributes,
                )
                for r in linked.get(golden.id, [])
                if not r.deleted
            ]
            offers.append(
                Contribution(
                    self.source.name,
                    self.source.kind,
                    self.source.rank,
                    row.key,
                    now,
                    None,
                    row.attributes,
                )
            )
            overrides = {
                k: Override(v["value"], v.get("reason", ""), v.get("by", ""))
                for k, v in golden.overrides.items()
            }
            after, _ = survive(self.domain, offers, overrides)
            for f in self.domain.fields:
                old, new = golden.attributes.get(f.name), after.get(f.name)
                if old == new:
                    continue
                counts = tally.setdefault(f.name, {"changed": 0, "filled": 0})
                counts["filled" if is_blank(old) else "changed"] += 1
