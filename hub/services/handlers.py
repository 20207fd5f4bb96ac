"""Handlers: one function per command, each given the unit of work it runs in."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.domain.commands import (
    AcceptChanges,
    ApplyPending,
    DecideCluster,
    DecideMatch,
    KeepUnreadable,
    MergeGolden,
    OverrideField,
    RefreshEvidence,
    RefreshStatistics,
    ReindexGolden,
    RemoveOverride,
    ReplayDeadLetters,
    SplitRecord,
)
from hub.domain.errors import ConcordError, Conflict, RecordNotFound
from hub.domain.model import Change
from hub.services.apply import Applier, ApplyReport
from hub.services.curation import REMOVE
from hub.services.evidence import record_key, survivor
from hub.services.fallback import one_by_one
from hub.services.ports import UnitOfWork

log = logging.getLogger("concord.apply")

BATCH_ATTEMPTS = 3

UowFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True)
class Accepted:
    accepted: int
    duplicates: int


def accept_changes(cmd: AcceptChanges, uow: UnitOfWork) -> Accepted:
    """The inbox makes a change durable before the source hears "accepted"."""
    with uow:
        new = uow.inbox.add(cmd.changes, datetime.now(UTC))
        uow.commit()
    return Accepted(accepted=new, duplicates=len(cmd.changes) - new)


def apply_pending(cmd: ApplyPending, uow_factory: UowFactory, applier: Applier) -> ApplyReport:
    """Apply a batch in one transaction; if it fails, apply its changes one by one in the same
    transaction (``hub.services.fallback``), so that the change at fault goes to the dead
    letters alone, with its reason, and the rest still apply."""
    with uow_factory() as uow:
        rows = uow.inbox.claim(cmd.limit)
        if not rows:
            uow.commit()  # rows that could not even be read went to the dead letters
            return ApplyReport(dead=uow.inbox.dead_at_claim)
        try:
            report = _whole(uow, applier, rows)
        except Exception:
            log.warning(
                "batch of %d failed; applying one by one",
                len(rows),
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            report = one_by_one(uow, applier, rows)
        else:
            log.info(
                "applied %d, stale %d, events %d",
                report.applied,
                report.stale,
                report.events,
                extra={
                    "applied": report.applied,
                    "stale": report.stale,
                    "events": report.events,
                    "correlation_id": ",".join(
                        sorted({c.correlation_id for _, c in rows if c.correlation_id})[:20]
                    )
                    or None,
                },
            )
        uow.commit()
        report.dead += uow.inbox.dead_at_claim
        return report


def _whole(uow: UnitOfWork, applier: Applier, rows: list[tuple[int, Change]]) -> ApplyReport:
    """The batch in one savepoint, tried again a few times if it failed for the store's own
    reason (a busy lock of a record another batch is applying, a deadlock victim): going one
    by one for that would cost a statement per change and decide nothing better."""
    for attempt in range(BATCH_ATTEMPTS):
        try:
            with uow.savepoint():
                return applier.apply(uow, rows)
        except Exception as exc:
            if attempt + 1 == BATCH_ATTEMPTS or not uow.transient(exc):
                raise
            time.sleep(0.02 * 2**attempt * (1 + random.random()))
    raise AssertionError("unreachable")


def refresh_statistics(cmd: RefreshStatistics, uow: UnitOfWork) -> None:
    with uow:
        uow.refresh_statistics()
        uow.commit()


def keep_unreadable(cmd: KeepUnreadable, uow: UnitOfWork) -> int:
    """Committed before the caller moves its stream on: the message is then never lost."""
    with uow:
        kept = uow.dead_letters.add_unreadable(cmd.messages, datetime.now(UTC))
        uow.commit()
    for m in cmd.messages:
        log.error("%s %s: not a change, dead-lettered: %.300s", m.origin, m.position, m.reason)
    return kept


def replay_dead_letters(cmd: ReplayDeadLetters, uow: UnitOfWork) -> int:
    """Replayed changes keep their event ids: the inbox still applies each one at most once."""
    with uow:
        count = uow.dead_letters.replay(cmd.ids, datetime.now(UTC))
        uow.commit()
    return count


def refresh_evidence(cmd: RefreshEvidence, uow: UnitOfWork, applier: Applier) -> int:
    """Score stale candidates again; returns how many changed. Locks in the order of every
    write path: the candidates' source records, then (by the update) the candidate rows."""
    with uow:
        found = [uow.candidates.get(cid, lock=False) for cid in sorted(set(cmd.candidate_ids))]
        pending = [c for c in found if c is not None and c["status"] == "pending"]
        if not pending:
            return 0
        uow.lock("record", ("\x00".join(record_key(c)) for c in pending))
        now = datetime.now(UTC)
        for c in pending:
            uow.candidates.refresh(c["id"], applier.rescore(uow, c), now)
        uow.commit()
    return len(pending)


def decide_match(cmd: DecideMatch, uow: UnitOfWork, applier: Applier) -> dict[str, object]:
    """A steward's decision, in one transaction with the re-survival it causes.

    Locks in the order of every write path (docs/architecture.md, "Locks"): the record, the
    golden rows, then the candidate row, which the apply path updates after its golden rows
    when it moves candidates off a merged golden record.
    """
    if cmd.decision not in ("merge", "reject"):
        raise ConcordError(f"decision: {cmd.decision!r} is not merge or reject")
    with uow:
        seen = uow.candidates.get(cmd.candidate_id, lock=False)
        if seen is None:
            raise RecordNotFound(f"no match candidate {cmd.candidate_id}")
        key = record_key(seen)
        uow.lock("record", ["\x00".join(key)])
        target = survivor(uow, seen["golden_id"])
        held = uow.records.load([key]).get(key)
        uow.golden.load({target, *([held.golden_id] if held and held.golden_id else [])}, lock=True)
        candidate = uow.candidates.get(cmd.candidate_id)
        if candidate is None:
            raise RecordNotFound(f"no match candidate {cmd.candidate_id}")
        if candidate["status"] != "pending":
            raise Conflict(f"candidate {cmd.candidate_id} is {candidate['status']} already")
        now = datetime.now(UTC)
        events = 0
        if cmd.decision == "merge":
            events = applier.move(uow, key, survivor(uow, candidate["golden_id"]), "steward")
        status = "merged" if cmd.decision == "merge" else "rejected"
        uow.candidates.decide(cmd.candidate_id, status, cmd.actor, cmd.reason, now)
        uow.audit(
            cmd.actor,
            f"candidate.{cmd.decision}",
            {
                "candidate": cmd.candidate_id,
                "source": candidate["source"],
                "key": candidate["source_key"],
                "golden_id": candidate["golden_id"],
                "before": "pending",
                "after": status,
                "reason": cmd.reason,
            },
        )
        uow.commit()
    return {"id": cmd.candidate_id, "status": status, "events": events}


def decide_cluster(cmd: DecideCluster, uow: UnitOfWork, applier: Applier) -> dict[str, object]:
    """Pick one of a record's candidates (the others rejected) or none, in one transaction.

    The lock order of ``decide_match``: the record, the golden rows of every candidate (by
    id), then the candidate rows (by id); an apply that moved the record or a golden record
    meanwhile is then seen, and a candidate no longer pending refuses the whole decision.
    """
    ids = sorted(set(cmd.candidate_ids))
    if not ids or (cmd.chosen is not None and cmd.chosen not in ids):
        raise ConcordError(f"candidate {cmd.chosen}: not one of the candidates {ids}")
    with uow:
        seen = _cluster(uow, ids)
        key = record_key(seen[0])
        uow.lock("record", ["\x00".join(key)])
        held = uow.records.load([key]).get(key)
        targets = {c["id"]: survivor(uow, c["golden_id"]) for c in seen}
        own = [held.golden_id] if held and held.golden_id else []
        uow.golden.load({*targets.values(), *own}, lock=True)
        for cid in ids:
            now_ = uow.candidates.get(cid)
            if now_ is None or now_["status"] != "pending":
                status = now_["status"] if now_ else "gone"
                raise Conflict(f"candidate {cid} is {status} already: nothing decided")
        now = datetime.now(UTC)
        events = 0
        if cmd.chosen is not None:
            # followed again under the locks, as decide_match does: merged meanwhile?
            events = applier.move(uow, key, survivor(uow, targets[cmd.chosen]), "steward")
        for c in seen:  # the rejections first: a merge supersedes what is still pending
            if c["id"] != cmd.chosen:
                _decide_one(uow, cmd, c, "rejected", now)
        if cmd.chosen is not None:
            _decide_one(uow, cmd, next(c for c in seen if c["id"] == cmd.chosen), "merged", now)
        uow.commit()
    return {"ids": ids, "chosen": cmd.chosen, "events": events}


def _cluster(uow: UnitOfWork, ids: list[int]) -> list[dict[str, Any]]:
    """The candidates, unlocked, checked to be of one incoming record."""
    seen = []
    for cid in ids:
        c = uow.candidates.get(cid, lock=False)
        if c is None:
            raise RecordNotFound(f"no match candidate {cid}")
        seen.append(c)
    if len({record_key(c) for c in seen}) != 1:
        raise ConcordError(f"candidates {ids} are not all of one incoming record")
    return seen


def _decide_one(
    uow: UnitOfWork, cmd: DecideCluster, c: dict[str, Any], status: str, now: datetime
) -> None:
    uow.candidates.decide(c["id"], status, cmd.actor, cmd.reason, now)
    uow.audit(
        cmd.actor,
        "candidate.merge" if status == "merged" else "candidate.reject",
        {
            "candidate": c["id"],
            "source": c["source"],
            "key": c["source_key"],
            "golden_id": c["golden_id"],
            "before": "pending",
            "after": status,
            "reason": cmd.reason,
            "chosen": cmd.chosen,
        },
    )


def split_record(cmd: SplitRecord, uow: UnitOfWork, applier: Applier) -> dict[str, Any]:
    with uow:
        key = (cmd.source, cmd.domain, cmd.source_key)
        result = applier.split(uow, key, cmd.actor, cmd.reason, cmd.golden_id)
        uow.audit(
            cmd.actor,
            "golden.split",
            {
                "domain": cmd.domain,
                "source": cmd.source,
                "key": cmd.source_key,
                "before": result["split_from"],
                "after": result["golden_id"],
                "reason": cmd.reason,
            },
        )
        uow.commit()
    return result


def merge_golden(cmd: MergeGolden, uow: UnitOfWork, applier: Applier) -> dict[str, Any]:
    with uow:
        events = applier.merge_golden(uow, cmd.domain, cmd.loser, cmd.winner)
        uow.audit(
            cmd.actor,
            "golden.merge",
            {
                "domain": cmd.domain,
                "golden_id": cmd.loser,
                "before": "active",
                "after": f"merged into {cmd.winner}",
                "winner": cmd.winner,
                "reason": cmd.reason,
            },
        )
        uow.commit()
    return {"golden_id": cmd.winner, "merged": cmd.loser, "events": events}


def override_field(
    cmd: OverrideField | RemoveOverride, uow: UnitOfWork, applier: Applier
) -> dict[str, Any]:
    """Set or remove a steward's value for one field, with the re-survival it causes."""
    value = cmd.value if isinstance(cmd, OverrideField) else REMOVE
    with uow:
        before, events = applier.set_override(
            uow, cmd.domain, cmd.golden_id, cmd.field, value, cmd.actor, cmd.reason
        )
        uow.audit(
            cmd.actor,
            "golden.override" if isinstance(cmd, OverrideField) else "golden.override_removed",
            {
                "domain": cmd.domain,
                "golden_id": cmd.golden_id,
                "field": cmd.field,
                "before": before,
                "after": None if value is REMOVE else value,
                "reason": cmd.reason,
            },
        )
        uow.commit()
    return {"golden_id": cmd.golden_id, "field": cmd.field, "events": events}


def reindex_golden(cmd: ReindexGolden, uow: UnitOfWork, applier: Applier) -> tuple[int, str]:
    """One page of a reindex, in its own transaction; returns how many golden records it
    reindexed and the last id (the next page's ``after``). Re-survival rewrites the index
    and writes a new version only where the golden record's values really change."""
    with uow:
        ids = uow.golden.active_ids(cmd.domain, cmd.after, cmd.limit)
        if ids:
            applier.resurvive(uow, set(ids))
            uow.commit()
        return len(ids), ids[-1] if ids else cmd.after
