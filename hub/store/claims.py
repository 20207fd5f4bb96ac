"""Stewards' claims on match candidates and their comments on candidates and golden records.

A claim is a row per candidate (the candidate's id is its key), so a candidate is held by at
most one steward; the handlers take the candidates' row locks first (in id order) and only
then read and write claims, so two stewards claiming the same set at once take turns and the
second sees what the first took (docs/architecture.md, "Locks").
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from hub.store.sql import is_postgres
from hub.store.tables import CandidateClaim, MatchCandidate, StewardComment

COMMENT_KINDS = ("candidate", "golden")


class SqlClaims:
    def __init__(self, session: Session) -> None:
        self.s = session

    def lock_pending(self, ids: Collection[int]) -> list[int]:
        """Row-lock these candidates in id order; returns those still pending."""
        mc = MatchCandidate
        stmt = select(mc.id).where(mc.id.in_(sorted(ids)), mc.status == "pending").order_by(mc.id)
        if is_postgres(self.s):
            stmt = stmt.with_for_update()
        return list(self.s.scalars(stmt))

    def holders(self, ids: Collection[int], now: datetime) -> dict[int, str]:
        """Who holds each of these candidates now (expired claims hold nothing)."""
        c = CandidateClaim
        stmt = select(c.candidate_id, c.steward).where(
            c.candidate_id.in_(list(ids)), c.expires_at > now
        )
        return {int(cid): name for cid, name in self.s.execute(stmt)}

    def take(self, ids: Collection[int], steward: str, now: datetime, until: datetime) -> None:
        """Hold ``ids`` for ``steward`` until ``until``, replacing expired or own claims."""
        if not ids:
            return
        c = CandidateClaim
        self.s.execute(delete(c).where(c.candidate_id.in_(list(ids))))
        self.s.execute(
            insert(c),
            [
                {"candidate_id": i, "steward": steward, "claimed_at": now, "expires_at": until}
                for i in sorted(ids)
            ],
        )

    def held_by(self, steward: str) -> list[int]:
        c = CandidateClaim
        return list(self.s.scalars(select(c.candidate_id).where(c.steward == steward)))

    def release(self, ids: Collection[int]) -> int:
        c = CandidateClaim
        result = self.s.execute(delete(c).where(c.candidate_id.in_(list(ids))))
        return int(getattr(result, "rowcount", 0) or 0)


class SqlComments:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, kind: str, target: str, author: str, text: str, at: datetime) -> int:
        row = StewardComment(kind=kind, target=target, author=author, text=text, created_at=at)
        self.s.add(row)
        self.s.flush()
        return int(row.id)


def comments(session: Session, kind: str, target: str) -> list[dict[str, Any]]:
    """A candidate's or golden record's comments, oldest first (a page read)."""
    sc = StewardComment
    stmt = (
        select(sc.id, sc.author, sc.text, sc.created_at)
        .where(sc.kind == kind, sc.target == target)
        .order_by(sc.id)
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def claims_of(session: Session, ids: Collection[int], now: datetime) -> dict[int, dict[str, Any]]:
    """The live claims on these candidates: who and until when (a page read)."""
    c = CandidateClaim
    stmt = select(c.candidate_id, c.steward, c.expires_at).where(
        c.candidate_id.in_(list(ids)), c.expires_at > now
    )
    return {int(cid): {"steward": who, "until": until} for cid, who, until in session.execute(stmt)}
