"""What an onboarding preview reports, row by row and in sum, and how the previews of a
file's parts, worked in parallel, become the one a single pass would have made."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from matching.matcher import RULE

CLOSEST = 50
BINS = 20


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
    max_per_source: int = 1  # automatic links of this file's rows to one golden record

    def counts(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.results)
        return {k: c.get(k, 0) for k in ("auto", "review", "new")}


def _distance(p: float, t_auto: float, t_review: float) -> float:
    return min(abs(p - t_auto), abs(p - t_review))


def merge_previews(parts: list[Preview]) -> Preview:
    """One preview from the previews of consecutive parts of a file, worked in parallel.

    A part did not see the rows before it, so a row whose deterministic key an earlier part's
    row holds is linked to it here, as the sequential preview would have done.
    """
    first = parts[0]
    out = Preview(t_auto=first.t_auto, t_review=first.t_review, max_per_source=first.max_per_source)
    linked: Counter[str] = Counter()  # golden id -> fuzzy automatic links of earlier rows
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
            gid = r.golden_id
            if r.outcome == "auto" and r.rule == RULE and gid is not None:
                if linked[gid] >= out.max_per_source:  # an earlier part linked it
                    r = replace(r, outcome="review")
                linked[gid] += r.outcome == "auto"
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
