"""Handlers: one function per command, each given the unit of work it runs in."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.domain.commands import (
    AcceptChanges,
    ApplyPending,
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
from hub.domain.model import Change
from hub.services.apply import Applier, ApplyReport
from hub.services.curation import REMOVE
from hub.services.evidence import record_key
from hub.services.fallback import one_by_one
from hub.services.ports import ChangeSink, UnitOfWork

log = logging.getLogger("concord.apply")

BATCH_ATTEMPTS = 3

UowFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True)
class Accepted:
    accepted: int
    duplicates: int


class InboxSink:
    """The inbox as the ``ChangeSink``: a change is durable (and deduplicated) once this
    transaction commits, before the source hears "accepted"."""

    def __init__(self, uow_factory: UowFactory) -> None:
        self.uow_factory = uow_factory

    def write(self, changes: Sequence[Change]) -> tuple[int, int]:
        with self.uow_factory() as uow:
            new = uow.inbox.add(changes, datetime.now(UTC))
            uow.commit()
        return new, len(changes) - new


def accept_changes(cmd: AcceptChanges, sink: ChangeSink) -> Accepted:
    """The one door for changes, from every entry point: HTTP, Kafka, logical decoding and
    onboarding runs write through one port, the inbox or the changes topic."""
    accepted, duplicates = sink.write(cmd.changes)
    return Accepted(accepted=accepted, duplicates=duplicates)


def apply_pending(cmd: ApplyPending, uow_factory: UowFactory, applier: Applier) -> ApplyReport:
    """Apply a batch in one transaction; if it fails, apply its changes one by one in the same
    transaction (``hub.services.fallback``), so that the change at fault goes to the dead
    letters alone, with its reason, and the rest still apply."""
    with uow_factory() as uow:
        claimed = uow.inbox.claim(cmd.limit, applier.id)
        rows = applier.free_rows(uow, claimed) if claimed else []
        if not rows:
            uow.commit()  # rows that could not even be read went to the dead letters
            return ApplyReport(
                dead=uow.inbox.dead_at_claim,
                deferred=len(claimed),
                busy=uow.inbox.busy_at_claim,
            )
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
        applier.context.key_cache.committed(report.key_reads, report.key_diffs)
        report.key_reads, report.key_diffs = [], []
        report.dead += uow.inbox.dead_at_claim
        report.busy += uow.inbox.busy_at_claim
        report.deferred += len(claimed) - len(rows)
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
    """Replayed changes keep their event ids: the inbox still applies each one at most once.
    The audit entry commits with the replay, so neither is kept without the other."""
    with uow:
        count = uow.dead_letters.replay(cmd.ids, datetime.now(UTC))
        every = cmd.ids is None
        ids = None if cmd.ids is None else list(cmd.ids)
        uow.audit(cmd.actor, "deadletters.replay", {"ids": ids, "all": every, "count": count})
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
            uow.candidates.refresh(c["id"], applier.evidence.rescore(uow, c), now)
        uow.commit()
    return len(pending)


def split_record(cmd: SplitRecord, uow: UnitOfWork, applier: Applier) -> dict[str, Any]:
    with uow:
        key = (cmd.source, cmd.domain, cmd.source_key)
        result = applier.curation.split(uow, key, cmd.actor, cmd.reason, cmd.golden_id)
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
        events = applier.curation.merge_golden(uow, cmd.domain, cmd.loser, cmd.winner)
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
        before, events = applier.curation.set_override(
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
