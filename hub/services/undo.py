"""Undo of a steward's decision (issue 16, must-have 3).

A merge undone is a split of the record off the golden record it joined, with the reason
"undo", through the split the steward page already uses; the split remembers the pair as
"not a match", and the undo forgets that again: taking back a click is no verdict on the
pair, so matching may propose it again. The record's other candidates that the merge
superseded are pending again, since the question they asked is open again. A rejection
undone puts the candidate back to pending, so the pair is in the queue again. Locks in the
order of every write path: the record, the golden rows (every one the undo touches, in one
ordered set, before the split takes its own again), then the candidate rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.domain.commands import UndoDecision
from hub.domain.errors import Conflict, RecordNotFound
from hub.services.apply import Applier
from hub.services.evidence import active_successor, record_key
from hub.services.ports import UnitOfWork

REASON = "undo"
UNDONE = "undone"


def undo_decision(cmd: UndoDecision, uow: UnitOfWork, applier: Applier) -> dict[str, Any]:
    ids = sorted(set(cmd.candidate_ids))
    with uow:
        seen = [_decided(uow, cid, cmd.window_seconds) for cid in ids]
        keys = {record_key(c) for c in seen}
        if len(keys) != 1:
            raise Conflict(f"candidates {ids} are not one decision on one record")
        key = keys.pop()
        uow.lock("record", ["\x00".join(key)])
        merged = [c for c in seen if c["status"] == "merged"]
        split: dict[str, Any] = {}
        # a merge superseded the record's other pending candidates: they go back with it
        back = uow.candidates.superseded_by(merged[0]["id"]) if merged else []
        held = uow.records.load([key]).get(key)
        own = [held.golden_id] if held and held.golden_id else []
        others = [active_successor(uow, c["golden_id"]) for c in back]
        uow.golden.load({*(c["golden_id"] for c in seen), *own, *others}, lock=True)
        if merged:
            split = _unmerge(uow, applier, key, merged[0], cmd.actor)
        now = datetime.now(UTC)
        for c in seen:
            fresh = uow.candidates.get(c["id"])  # the row lock, after the golden rows
            if fresh is None or fresh["status"] != c["status"]:
                raise Conflict(f"candidate {c['id']} changed meanwhile: nothing undone")
            _undo_one(
                uow, cmd.actor, c, UNDONE if c["status"] == "merged" else "pending", now, split
            )
        for c in back:
            fresh = uow.candidates.get(c["id"])
            if fresh is not None and fresh["status"] == "superseded":  # else decided since
                _undo_one(uow, cmd.actor, c, "pending", now, split)
        uow.commit()
    return {"ids": ids, "golden_id": split.get("golden_id"), "restored": [c["id"] for c in back]}


def _undo_one(
    uow: UnitOfWork,
    actor: str,
    c: dict[str, Any],
    after: str,
    now: datetime,
    split: dict[str, Any],
) -> None:
    uow.candidates.decide(c["id"], after, actor, REASON, now)
    uow.audit(
        actor,
        "candidate.undo",
        {
            "candidate": c["id"],
            "source": c["source"],
            "key": c["source_key"],
            "golden_id": c["golden_id"],
            "before": c["status"],
            "after": after,
            "reason": REASON,
            **({"split_to": split["golden_id"]} if split else {}),
        },
    )


def _decided(uow: UnitOfWork, cid: int, window: int) -> dict[str, Any]:
    """The candidate, if a steward decided it within the window and it is not undone."""
    c = uow.candidates.get(cid, lock=False)
    if c is None:
        raise RecordNotFound(f"no match candidate {cid}")
    if c["status"] == UNDONE or (c["status"] == "pending" and c.get("reason") == REASON):
        raise Conflict(f"candidate {cid}: its decision is undone already")
    if c["status"] not in ("merged", "rejected") or c.get("rule") == "steward:split":
        raise Conflict(f"candidate {cid} is {c['status']}: there is no decision to undo")
    decided = c.get("decided_at")
    if decided is not None and decided.tzinfo is None:
        decided = decided.replace(tzinfo=UTC)
    if decided is None or datetime.now(UTC) - decided > timedelta(seconds=window):
        minutes = round(window / 60)
        raise Conflict(
            f"candidate {cid}: decided more than {minutes} minutes ago, too late to undo; "
            "split or merge the records on the golden record page instead"
        )
    return c


def _unmerge(
    uow: UnitOfWork, applier: Applier, key: tuple[str, str, str], c: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Split the record off the golden record the merge put it on, if it is still there."""
    joined = active_successor(uow, c["golden_id"])
    result: dict[str, Any] = applier.curation.split(uow, key, actor, REASON, joined)
    uow.candidates.forget_exclusion(key, joined, actor, REASON)
    uow.audit(
        actor,
        "golden.split",
        {
            "domain": key[1],
            "source": key[0],
            "key": key[2],
            "before": result["split_from"],
            "after": result["golden_id"],
            "reason": REASON,
        },
    )
    return result
