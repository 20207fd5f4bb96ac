"""Keeping pending match candidates true to the golden records they name: they follow a
merge to the winner, leave with a retired record, and take evidence scored again.

A candidate against a golden record that was merged away once stayed pending against the
retired record; its evidence, scored when it was made, was shown beside values read later.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from hub.store import tables as t
from hub.store.sql import chunks, table_of

BY = "concord"
"""Who a candidate's status change is recorded as when no steward made it."""


def follow(
    session: Session, merged: Mapping[str, str], retired: Collection[str], at: datetime
) -> None:
    """Pending candidates of merged golden records move to their winners, those of retired
    ones are superseded, and those a move made pointless are superseded too. One statement
    per chunk of golden records, not one per merge: a batch that merges a hundred made a
    hundred updates and reads."""
    mc, sr = table_of(t.MatchCandidate), table_of(t.SourceRecordRow)
    final = {loser: _last_winner(merged, loser) for loser in merged}
    for part in chunks(sorted(final)):
        session.execute(
            update(mc)
            .where(mc.c.golden_id.in_(part), mc.c.status == "pending")
            .values(
                golden_id=case({loser: final[loser] for loser in part}, value=mc.c.golden_id),
                golden_version=None,
            )
        )
    gone: dict[int, str] = {}
    for part in chunks(sorted(retired)):
        rows = session.execute(
            select(mc.c.id, mc.c.golden_id).where(
                mc.c.golden_id.in_(part), mc.c.status == "pending"
            )
        )
        for cid, gid in rows:
            gone[cid] = f"golden record {gid} was retired"
    winners = sorted(set(final.values()) - set(retired))
    seen: set[tuple[int, str]] = set()
    for part in chunks(winners):
        rows = session.execute(
            select(mc.c.id, mc.c.source_record_id, mc.c.golden_id, sr.c.golden_id.label("on"))
            .join(sr, sr.c.id == mc.c.source_record_id)
            .where(mc.c.golden_id.in_(part), mc.c.status == "pending")
            .order_by(mc.c.id)
        )
        for r in rows:
            if r.on == r.golden_id:
                gone[r.id] = "the record is linked to that golden record already"
            elif (r.source_record_id, r.golden_id) in seen:
                gone[r.id] = "the same pair is proposed by another candidate"
            seen.add((r.source_record_id, r.golden_id))
    for cid, reason in sorted(gone.items()):
        supersede(session, cid, reason, at)


def _last_winner(merged: Mapping[str, str], loser: str) -> str:
    """Where a loser's candidates end: a winner merged away in the same batch passes them on."""
    winner, seen = merged[loser], {loser}
    while winner in merged and winner not in seen:
        seen.add(winner)
        winner = merged[winner]
    return winner


def supersede(session: Session, candidate_id: int, reason: str, at: datetime) -> None:
    mc = table_of(t.MatchCandidate)
    session.execute(
        update(mc)
        .where(mc.c.id == candidate_id, mc.c.status == "pending")
        .values(status="superseded", decided_by=BY, reason=reason, decided_at=at)
    )


def refresh(
    session: Session, candidate_id: int, scored: Mapping[str, Any] | None, at: datetime
) -> None:
    if scored is None:
        supersede(session, candidate_id, "the evidence no longer reaches review", at)
        return
    mc = table_of(t.MatchCandidate)
    keep = ("golden_id", "probability", "weights", "notes", "levels", "golden_version")
    session.execute(
        update(mc)
        .where(mc.c.id == candidate_id, mc.c.status == "pending")
        .values({k: scored[k] for k in keep if k in scored})
    )
