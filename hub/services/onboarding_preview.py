"""What an onboarding run would do, worked out without writing anything.

The preview follows the apply path's linking order (xref, deterministic keys, then blocking
and Fellegi-Sunter with the same spec and thresholds) against the golden records in the store,
but reads only, so a dry run cannot change a golden record. It works a chunk of rows at a time
in a few set-based reads (xref, key index, candidate golden records, their linked records) and
scores every candidate pair of the chunk at once (:func:`matching.bulk.score_pairs`).

Two things it sees differently from the real load, both said in the report: a row that would
only fuzzy-match an earlier row of the same file counts as new here (deterministic duplicates
within the file are caught), and survivorship is previewed one row at a time.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from hub.domain.onboarding import ValidRow
from hub.domain.spec import DomainSpec, SourceSpec
from hub.domain.survivorship import Contribution, Override, is_blank, survive
from hub.services.linking import MAX_CANDIDATES
from hub.services.ports import Matcher, RecordKey, UnitOfWork
from matching import MatchSpec, assign_tiers, score_pairs

CHUNK = 2_000
CLOSEST = 50
BINS = 20

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class RowResult:
    number: int
    key: str
    outcome: str  # auto | review | new
    rule: str  # xref | deterministic:<key> | fellegi-sunter | new
    golden_id: str | None
    probability: float | None  # best candidate's, when one was scored
    dkeys: tuple[str, ...] = ()  # its deterministic keys (to merge previews of file parts)


@dataclass
class Preview:
    results: list[RowResult] = field(default_factory=list)
    histogram: list[int] = field(default_factory=lambda: [0] * BINS)
    closest: list[dict[str, Any]] = field(default_factory=list)
    survivorship: dict[str, dict[str, int]] = field(default_factory=dict)
    t_auto: float | None = None
    t_review: float | None = None

    def counts(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.results)
        return {k: c.get(k, 0) for k in ("auto", "review", "new")}


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
            t_auto=spec.t_auto if spec else None, t_review=spec.t_review if spec else None
        )
        self._file_keys: dict[str, str] = {}  # deterministic key -> golden id or "row N"
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
            (self.source.name, ref.target, str(r.attributes[ref.attribute]))
            for r in rows
            for ref in self.domain.references
            if r.attributes.get(ref.attribute)
        }
        resolved = uow.records.load(targets) if targets else {}
        views = []
        for r in rows:
            view = dict(r.attributes)
            for ref in self.domain.references:
                target = r.attributes.get(ref.attribute)
                hit = resolved.get((self.source.name, ref.target, str(target))) if target else None
                view[ref.name] = hit.golden_id if hit and not hit.deleted else None
            views.append(view)
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
            hit = self._deterministic(found, dkeys)
            if hit is not None:
                dkey, gid = hit
                rule = "deterministic:" + dkey.split(":", 1)[0]
                decided[n] = RowResult(row.number, row.key, "auto", rule, gid, None)
                self._remember(dkeys, gid)
                continue
            shared: Counter[str] = Counter()
            for bkey in bkeys:
                shared.update(found.get(bkey, ()))
            ids = [gid for gid, _ in shared.most_common(MAX_CANDIDATES)]
            if self.spec is None or not ids:
                decided[n] = RowResult(row.number, row.key, "new", "new", None, None)
                self._remember(dkeys, f"row {row.number}")
                continue
            to_score[n] = ids
        decided.update(self._score(uow, rows, views, keys, to_score))
        results = [replace(decided[n], dkeys=tuple(keys[n][0])) for n in range(len(rows))]
        self.preview.results.extend(results)
        self._survivorship(uow, rows, results)

    def _deterministic(
        self, found: dict[str, set[str]], dkeys: list[str]
    ) -> tuple[str, str] | None:
        for dkey in dkeys:
            hits = set(found.get(dkey, ()))
            if dkey in self._file_keys:
                hits.add(self._file_keys[dkey])
            if hits:
                return dkey, sorted(hits)[0]
        return None

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
        if not to_score:
            return {}
        assert self.spec is not None
        spec = self.spec
        pool = self._golden_views(uow, {g for ids in to_score.values() for g in ids})
        right_ids = sorted(pool)
        position = {g: p for p, g in enumerate(right_ids)}
        right = [pool[g] for g in right_ids]
        order = sorted(to_score)
        li: list[int] = []
        rj: list[int] = []
        for n in order:
            for g in to_score[n]:
                if g in position:
                    li.append(n)
                    rj.append(position[g])
        i = np.asarray(li, dtype=np.int64)
        j = np.asarray(rj, dtype=np.int64)
        fw, total, prob = score_pairs(spec, views, right, i, j)
        out: dict[int, RowResult] = {}
        by_row: dict[int, list[int]] = {}
        for p, n in enumerate(li):
            by_row.setdefault(n, []).append(p)
        for n in order:
            row = rows[n]
            pairs = by_row.get(n, [])
            if not pairs:
                out[n] = RowResult(row.number, row.key, "new", "new", None, None)
                self._remember(keys[n][0], f"row {row.number}")
                continue
            best = max(pairs, key=lambda p: (prob[p], total[p]))
            p_best = float(prob[best])
            self.preview.histogram[min(int(p_best * BINS), BINS - 1)] += 1
            tiers = assign_tiers(
                [float(total[p]) for p in pairs],
                [float(prob[p]) for p in pairs],
                spec.t_auto,
                spec.t_review,
                spec.runner_up_bits,
            )
            auto = [pairs[k] for k, tier in tiers if tier == "auto"]
            if len(auto) == 1:
                gid = right_ids[int(j[auto[0]])]
                out[n] = RowResult(row.number, row.key, "auto", "fellegi-sunter", gid, p_best)
                self._remember(keys[n][0], gid)
            elif tiers:
                gid = right_ids[int(j[pairs[tiers[0][0]]])]
                out[n] = RowResult(row.number, row.key, "review", "fellegi-sunter", gid, p_best)
                self._remember(keys[n][0], f"row {row.number}")
            else:
                out[n] = RowResult(row.number, row.key, "new", "new", None, p_best)
                self._remember(keys[n][0], f"row {row.number}")
            self._closest(row, out[n], right[int(j[best])], fw[best], p_best)
        return out

    @staticmethod
    def _golden_views(uow: UnitOfWork, ids: set[str]) -> dict[str, dict[str, Any]]:
        """Active candidates as the matcher sees them; a slim read when the store has one."""
        runs = getattr(uow, "runs", None)
        if runs is not None and hasattr(runs, "match_views"):
            views: dict[str, dict[str, Any]] = runs.match_views(ids)
            return views
        return {
            g: {**r.attributes, **r.references}
            for g, r in uow.golden.load(ids).items()
            if r.status == "active"
        }

    def _closest(
        self,
        row: ValidRow,
        result: RowResult,
        golden: dict[str, Any],
        weights: Any,
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
                    "weight": round(float(w), 3),
                }
                for label, c, w in zip(
                    self.spec.labels, self.spec.comparisons, weights, strict=True
                )
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
                    (sources.get(r.source) or SourceSpec(r.source, r.source)).kind,
                    (sources.get(r.source) or SourceSpec(r.source, r.source)).rank,
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


def _distance(p: float, t_auto: float, t_review: float) -> float:
    return min(abs(p - t_auto), abs(p - t_review))


def merge_previews(parts: list[Preview]) -> Preview:
    """One preview from the previews of consecutive parts of a file, worked in parallel.

    A part did not see the rows before it, so a row whose deterministic key an earlier part's
    row holds is linked to it here, as the sequential preview would have done.
    """
    first = parts[0]
    out = Preview(t_auto=first.t_auto, t_review=first.t_review)
    for part in parts:
        out.histogram = [a + b for a, b in zip(out.histogram, part.histogram, strict=True)]
        for name, counts in part.survivorship.items():
            tally = out.survivorship.setdefault(name, {"changed": 0, "filled": 0})
            for what, n in counts.items():
                tally[what] += n
    seen: dict[str, str] = {}
    relinked: set[int] = set()
    for k, part in enumerate(parts):
        for r in part.results:
            store_hit = r.rule == "xref" or (
                r.rule.startswith("deterministic:") and not (r.golden_id or "").startswith("row ")
            )
            hit = next((d for d in r.dkeys if d in seen), None) if k and not store_hit else None
            if hit is not None and not r.rule.startswith("deterministic:"):
                if r.probability is not None:
                    out.histogram[min(int(r.probability * BINS), BINS - 1)] -= 1
                rule = "deterministic:" + hit.split(":", 1)[0]
                r = replace(r, outcome="auto", rule=rule, golden_id=seen[hit], probability=None)
                relinked.add(r.number)
            out.results.append(r)
            for d in r.dkeys:
                seen.setdefault(d, r.golden_id if r.outcome == "auto" and r.golden_id else
                                f"row {r.number}")  # fmt: skip
    if out.t_auto is not None and out.t_review is not None:
        t_auto, t_review = out.t_auto, out.t_review
        calls = [c for part in parts for c in part.closest if c["row"] not in relinked]
        calls.sort(key=lambda c: (_distance(c["probability"], t_auto, t_review), c["row"]))
        out.closest = calls[:CLOSEST]
    return out
