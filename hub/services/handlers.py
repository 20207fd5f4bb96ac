"""Handlers: one function per command, each given the unit of work it runs in."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from hub.domain.commands import (
    AcceptChanges,
    AddComment,
    ApplyPending,
    ClaimCandidates,
    DecideCluster,
    DecideMatch,
    KeepUnreadable,
    MergeGolden,
    OverrideField,
    RefreshEvidence,
    RefreshStatistics,
    ReindexGolden,
    ReleaseClaims,
    RemoveOverride,
    ReplayDeadLetters,
    SplitRecord,
)
from hub.domain.errors import ClaimHeld, ConcordError, Conflict, RecordNotFound
from hub.domain.model import Change
from hub.services.apply import Applier, ApplyReport
from hub.services.curation import REMOVE
from hub.services.evidence import active_successor, record_key
from hub.services.fallback import one_by_one
from hub.services.ports import ChangeSink, StewardUnitOfWork, UnitOfWork

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
        target = active_successor(uow, seen["golden_id"])
        held = uow.records.load([key]).get(key)
        uow.golden.load({target, *([held.golden_id] if held and held.golden_id else [])}, lock=True)
        candidate = uow.candidates.get(cmd.candidate_id)
        if candidate is None:
            raise RecordNotFound(f"no match candidate {cmd.candidate_id}")
        if candidate["status"] != "pending":
            raise Conflict(f"candidate {cmd.candidate_id} is {candidate['status']} already")
        now = datetime.now(UTC)
        _release_for_decision(uow, cmd.candidate_id, cmd.actor, now)
        events = 0
        if cmd.decision == "merge":
            events = applier.curation.move(
                uow, key, active_successor(uow, candidate["golden_id"]), "steward"
            )
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


def _release_for_decision(uow: UnitOfWork, candidate_id: int, actor: str, now: datetime) -> None:
    """Refuse a decision on a candidate another steward holds (until the claim expires);
    otherwise the decision ends the claim. Read under the candidate's row lock, which a claim
    takes too, so a claim and a decision on one candidate never cross."""
    if not hasattr(uow, "claims"):
        return
    claims = cast(StewardUnitOfWork, uow).claims
    holder = claims.holders([candidate_id], now).get(candidate_id)
    if holder is not None and holder != actor:
        raise ClaimHeld(
            f"candidate {candidate_id} is claimed by {holder}: only they can decide it until "
            "the claim expires or is released"
        )
    claims.release([candidate_id])


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
        targets = {c["id"]: active_successor(uow, c["golden_id"]) for c in seen}
        own = [held.golden_id] if held and held.golden_id else []
        uow.golden.load({*targets.values(), *own}, lock=True)
        now = datetime.now(UTC)
        for cid in ids:
            now_ = uow.candidates.get(cid)
            if now_ is None or now_["status"] != "pending":
                status = now_["status"] if now_ else "gone"
                raise Conflict(f"candidate {cid} is {status} already: nothing decided")
            _release_for_decision(uow, cid, cmd.actor, now)  # another steward's claim: 409
        events = 0
        if cmd.chosen is not None:
            # followed again under the locks, as decide_match does: merged meanwhile?
            events = applier.curation.move(
                uow, key, active_successor(uow, targets[cmd.chosen]), "steward"
            )
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


def _stewarding(uow: UnitOfWork) -> StewardUnitOfWork:
    if not hasattr(uow, "claims"):
        raise ConcordError("this store keeps no claims or comments")
    return cast(StewardUnitOfWork, uow)


def claim_candidates(cmd: ClaimCandidates, uow: UnitOfWork) -> dict[str, Any]:
    """Claim the pending candidates no other steward holds. Locks only the candidates' rows,
    in id order, before reading the claims: a second steward claiming the same set waits,
    then sees the first's claims (a decision locks its candidate row last, after its record
    and golden rows, so the two never wait on each other in a cycle)."""
    with uow:
        store = _stewarding(uow)
        now = datetime.now(UTC)
        pending = store.claims.lock_pending(cmd.candidate_ids)
        held = store.claims.holders(pending, now)
        mine = [i for i in pending if held.get(i, cmd.steward) == cmd.steward]
        until = now + timedelta(minutes=cmd.minutes)
        store.claims.take(mine, cmd.steward, now, until)
        if mine:
            store.audit(
                cmd.steward, "candidate.claim", {"candidates": mine, "until": until.isoformat()}
            )
        store.commit()
    return {
        "claimed": mine,
        "until": until,
        "held": {i: who for i, who in held.items() if who != cmd.steward},
        "not_pending": sorted(set(cmd.candidate_ids) - set(pending)),
    }


def release_claims(cmd: ReleaseClaims, uow: UnitOfWork) -> int:
    """Give claims back; a steward only their own, an admin anyone's. Same locks as a
    claim: the candidates' rows in id order, then the claims."""
    with uow:
        store = _stewarding(uow)
        now = datetime.now(UTC)
        ids = cmd.candidate_ids
        wanted = store.claims.held_by(cmd.actor) if ids is None else list(ids)
        store.claims.lock_pending(wanted)
        others = {
            i: who for i, who in store.claims.holders(wanted, now).items() if who != cmd.actor
        }
        if others and not cmd.admin:
            i, who = sorted(others.items())[0]
            raise ClaimHeld(f"candidate {i} is claimed by {who}: only an admin can release it")
        released = store.claims.release(wanted)
        if released:
            store.audit(
                cmd.actor,
                "candidate.release",
                {"candidates": sorted(wanted), "of": {str(i): w for i, w in others.items()}},
            )
        store.commit()
    return released


COMMENT_LIMIT = 4000


def add_comment(cmd: AddComment, uow: UnitOfWork) -> int:
    """Store a comment and audit it; the thing commented on must exist."""
    where = f"comment on {cmd.kind} {cmd.target}"
    text = cmd.text.strip()
    if cmd.kind not in ("candidate", "golden"):
        raise ConcordError(f"{where}: kind: {cmd.kind!r} is not candidate or golden")
    if not text:
        raise ConcordError(f"{where}: text: empty")
    if len(text) > COMMENT_LIMIT:
        raise ConcordError(f"{where}: text: longer than {COMMENT_LIMIT} characters")
    with uow:
        store = _stewarding(uow)
        if cmd.kind == "candidate":
            found = cmd.target.isdigit() and bool(uow.candidates.get(int(cmd.target), lock=False))
        else:
            found = bool(uow.golden.load([cmd.target]))
        if not found:
            raise RecordNotFound(f"{where}: no such {cmd.kind}")
        cid = store.comments.add(cmd.kind, cmd.target, cmd.actor, text, datetime.now(UTC))
        store.audit(
            cmd.actor, f"{cmd.kind}.comment", {"kind": cmd.kind, "target": cmd.target, "text": text}
        )
        store.commit()
    return cid
