"""A steward's decisions on match candidates (one, or a record's cluster), and the claims
and comments that let several stewards work one queue (docs/architecture.md, "Locks")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from hub.domain.commands import (
    AddComment,
    ClaimCandidates,
    DecideCluster,
    DecideMatch,
    ReleaseClaims,
)
from hub.domain.errors import ClaimHeld, ConcordError, Conflict, RecordNotFound
from hub.services.apply import Applier
from hub.services.evidence import active_successor, record_key
from hub.services.ports import StewardUnitOfWork, UnitOfWork


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
