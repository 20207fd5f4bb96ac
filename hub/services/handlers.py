"""Handlers: one function per command, each given the unit of work it runs in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.domain.commands import (
    AcceptChanges,
    ApplyPending,
    DecideMatch,
    KeepUnreadable,
    MergeGolden,
    OverrideField,
    RefreshStatistics,
    ReindexGolden,
    RemoveOverride,
    ReplayDeadLetters,
    SplitRecord,
)
from hub.domain.errors import ConcordError, Conflict, RecordNotFound
from hub.services.apply import Applier, ApplyReport
from hub.services.curation import REMOVE
from hub.services.fallback import one_by_one
from hub.services.ports import UnitOfWork

log = logging.getLogger("concord.apply")

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
            with uow.savepoint():
                report = applier.apply(uow, rows)
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


def _survivor(uow: UnitOfWork, golden_id: str) -> str:
    """The golden record that ``golden_id`` lives on in: a candidate's golden record may have
    been merged into another since the candidate was raised."""
    seen: set[str] = set()
    while golden_id not in seen:
        seen.add(golden_id)
        g = uow.golden.load([golden_id]).get(golden_id)
        if g is None or g.status != "merged" or not g.merged_into:
            break
        golden_id = g.merged_into
    return golden_id


def decide_match(cmd: DecideMatch, uow: UnitOfWork, applier: Applier) -> dict[str, object]:
    """A steward's decision, in one transaction with the re-survival it causes."""
    if cmd.decision not in ("merge", "reject"):
        raise ConcordError(f"decision: {cmd.decision!r} is not merge or reject")
    with uow:
        # The lock order of every write path (docs/architecture.md, "Locks"): the source
        # record first, then the candidate's row and the golden rows; an apply batch holding
        # the record finishes before the decision moves it.
        peek = uow.candidates.get(cmd.candidate_id, lock=False)
        if peek is None:
            raise RecordNotFound(f"no match candidate {cmd.candidate_id}")
        uow.lock("record", [f"{peek['source']}\x00{peek['domain']}\x00{peek['source_key']}"])
        candidate = uow.candidates.get(cmd.candidate_id)
        if candidate is None:
            raise RecordNotFound(f"no match candidate {cmd.candidate_id}")
        if candidate["status"] != "pending":
            raise Conflict(f"candidate {cmd.candidate_id} is {candidate['status']} already")
        now = datetime.now(UTC)
        events = 0
        if cmd.decision == "merge":
            key = (candidate["source"], candidate["domain"], candidate["source_key"])
            events = applier.move(uow, key, _survivor(uow, candidate["golden_id"]), "steward")
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
