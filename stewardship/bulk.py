"""What a bulk decision covers, row by row, before and when it is made.

The confirmation page lists every candidate the decision will take, and every one it leaves
out and why, so that "Merge 1 candidates" can never again stand for seven rows the steward saw
at that probability. The decision itself re-reads the selection and goes ahead only if it is
still exactly the listed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.store.read import queue as read
from hub.web.deps import ReadSession
from stewardship.queue import BULK_LIMIT, QueueFilter


@dataclass
class Selection:
    decide: list[dict[str, Any]] = field(default_factory=list)
    # candidates of records that have more than one pending candidate: a bulk merge leaves
    # them to a steward, since which golden record the record belongs to is the question
    several: list[dict[str, Any]] = field(default_factory=list)
    too_many: bool = False

    @property
    def ids(self) -> list[int]:
        return [r["id"] for r in self.decide]


def select_for(session: ReadSession, f: QueueFilter, decision: str, threshold: float) -> Selection:
    """Merge at or above the threshold, reject below it; a merge skips any record with
    another pending candidate (whatever its probability or the filter), and says so."""
    rows = read.bulk_rows(session, f, decision, threshold, BULK_LIMIT + 1)
    if len(rows) > BULK_LIMIT:
        return Selection(too_many=True)
    if decision != "merge" or not rows:
        return Selection(decide=rows)
    pending = read.pending_per_record(session, [r["source_record_id"] for r in rows])
    out = Selection()
    for r in rows:
        (out.several if pending.get(r["source_record_id"], 0) > 1 else out.decide).append(r)
    return out


def parse_ids(text: str) -> list[int]:
    """The ids the confirmation page listed, as posted back (``"12,9,4"``)."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        return []
