"""What a bulk decision covers, row by row, before and when it is made.

The confirmation page lists every candidate the decision will take, and every one it leaves
out and why, so that "Merge 1 candidates" can never again stand for seven rows the steward saw
at that probability. The decision itself re-reads the selection and goes ahead only if it is
still exactly the listed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.store.tables import GoldenRecordRow, MatchCandidate, SourceRecordRow
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


def select_for(session: Session, f: QueueFilter, decision: str, threshold: float) -> Selection:
    """Merge at or above the threshold, reject below it; a merge skips any record with
    another pending candidate (whatever its probability or the filter), and says so."""
    mc, sr, g = MatchCandidate, SourceRecordRow, GoldenRecordRow
    side = mc.probability >= threshold if decision == "merge" else mc.probability < threshold
    stmt = (
        select(
            mc.id,
            mc.domain,
            mc.source_record_id,
            mc.probability,
            mc.golden_id,
            sr.source,
            sr.source_key,
            sr.attributes,
            g.attributes.label("golden_attributes"),
        )
        .join(sr, sr.id == mc.source_record_id)
        .outerjoin(g, g.id == mc.golden_id)
        .where(*f.conditions(), side)
        .order_by(mc.probability.desc(), mc.id.desc())  # bulk lists go by probability
        .limit(BULK_LIMIT + 1)
    )
    rows = [dict(r._mapping) for r in session.execute(stmt)]
    if len(rows) > BULK_LIMIT:
        return Selection(too_many=True)
    if decision != "merge" or not rows:
        return Selection(decide=rows)
    record_ids = sorted({r["source_record_id"] for r in rows})
    pending: dict[int, int] = {}
    for start in range(0, len(record_ids), 500):
        part = record_ids[start : start + 500]
        pending.update(
            session.execute(
                select(mc.source_record_id, func.count())
                .where(mc.source_record_id.in_(part), mc.status == "pending")
                .group_by(mc.source_record_id)
            ).all()
        )
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
