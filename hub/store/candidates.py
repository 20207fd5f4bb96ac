"""The match candidates repository: proposed pairs, their decisions and the pairs a steward
kept apart, which linking must remember."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from hub.store import candidate_evidence
from hub.store import tables as t
from hub.store.sql import bulk_insert, chunks, is_postgres, table_of


class SqlCandidates:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:  # an INSERT with no parameters would write one blank row
            return
        sr = table_of(t.SourceRecordRow)
        wanted = {(r["domain"], *r["source_key"]) for r in rows}
        ids = {
            (row.domain, row.source, row.source_key): row.id
            for part in chunks(wanted)
            for row in self.s.execute(
                select(sr.c.id, sr.c.domain, sr.c.source, sr.c.source_key).where(
                    tuple_(sr.c.domain, sr.c.source, sr.c.source_key).in_(part)
                )
            )
        }
        now = datetime.now().astimezone()
        bulk_insert(  # COPY: an executemany sent one INSERT a candidate
            self.s,
            table_of(t.MatchCandidate),
            [
                {
                    "domain": r["domain"],
                    "source_record_id": ids[(r["domain"], *r["source_key"])],
                    "golden_id": r["golden_id"],
                    "probability": r["probability"],
                    "weights": r["weights"],
                    "notes": r.get("notes") or None,
                    "rule": r["rule"],
                    "status": "pending",
                    "run_id": r.get("run_id"),
                    "created_at": now,
                    "levels": r.get("levels") or None,
                    "golden_version": r.get("golden_version"),
                }
                for r in rows
            ],
        )

    def follow(self, merged: Mapping[str, str], retired: Collection[str], at: datetime) -> None:
        candidate_evidence.follow(self.s, merged, retired, at)

    def refresh(self, candidate_id: int, scored: Mapping[str, Any] | None, at: datetime) -> None:
        candidate_evidence.refresh(self.s, candidate_id, scored, at)

    def exclude(
        self, key: tuple[str, str, str], golden_id: str, by: str, reason: str, at: datetime
    ) -> None:
        """Remember that a record is not ``golden_id`` (a split): a decided, rejected pair."""
        sr = table_of(t.SourceRecordRow)
        record_id = self.s.scalar(
            select(sr.c.id).where(
                sr.c.source == key[0], sr.c.domain == key[1], sr.c.source_key == key[2]
            )
        )
        self.s.execute(
            insert(table_of(t.MatchCandidate)).values(
                domain=key[1],
                source_record_id=record_id,
                golden_id=golden_id,
                probability=0.0,
                weights={},
                rule="steward:split",
                status="rejected",
                decided_by=by,
                reason=reason,
                created_at=at,
                decided_at=at,
            )
        )

    def superseded_by(self, candidate_id: int) -> list[dict[str, Any]]:
        """The record's candidates that this one's merge superseded: marked superseded by
        the same steward at the same moment (``decide`` writes both in one statement pair)."""
        mc, sr = table_of(t.MatchCandidate), table_of(t.SourceRecordRow)
        merged = select(mc.c.source_record_id, mc.c.decided_by, mc.c.decided_at).where(
            mc.c.id == candidate_id
        )
        m = self.s.execute(merged).first()
        if m is None or m.decided_at is None:
            return []
        stmt = (
            select(mc, sr.c.source, sr.c.source_key)
            .join(sr, sr.c.id == mc.c.source_record_id)
            .where(
                mc.c.source_record_id == m.source_record_id,
                mc.c.status == "superseded",
                mc.c.decided_by == m.decided_by,
                mc.c.decided_at == m.decided_at,
                mc.c.id != candidate_id,
            )
            .order_by(mc.c.id)
        )
        return [dict(r) for r in self.s.execute(stmt).mappings()]

    def forget_exclusion(
        self, key: tuple[str, str, str], golden_id: str, by: str, reason: str
    ) -> int:
        """Drop the "not a match" a steward's split left (an undo of a merge leaves none)."""
        mc, sr = table_of(t.MatchCandidate), table_of(t.SourceRecordRow)
        record = select(sr.c.id).where(
            sr.c.source == key[0], sr.c.domain == key[1], sr.c.source_key == key[2]
        )
        gone = self.s.execute(
            delete(mc).where(
                mc.c.source_record_id == record.scalar_subquery(),
                mc.c.golden_id == golden_id,
                mc.c.rule == "steward:split",
                mc.c.status == "rejected",
                mc.c.decided_by == by,
                mc.c.reason == reason,
            )
        )
        return int(gone.rowcount or 0)  # type: ignore[attr-defined]

    def rejected(self, key: tuple[str, str, str]) -> set[str]:
        mc, sr = table_of(t.MatchCandidate), table_of(t.SourceRecordRow)
        stmt = (
            select(mc.c.golden_id)
            .join(sr, sr.c.id == mc.c.source_record_id)
            .where(
                sr.c.source_key == key[2],
                sr.c.source == key[0],
                sr.c.domain == key[1],
                mc.c.status == "rejected",
            )
        )
        return set(self.s.scalars(stmt))

    def kept_apart(self, a: str, b: str) -> bool:
        mc, sr = table_of(t.MatchCandidate), table_of(t.SourceRecordRow)
        stmt = (
            select(mc.c.id)
            .join(sr, sr.c.id == mc.c.source_record_id)
            .where(
                mc.c.status == "rejected",
                or_(
                    and_(sr.c.golden_id == a, mc.c.golden_id == b),
                    and_(sr.c.golden_id == b, mc.c.golden_id == a),
                ),
            )
            .limit(1)
        )
        return self.s.scalar(stmt) is not None

    def get(self, candidate_id: int, lock: bool = True) -> dict[str, Any] | None:
        mc, sr = table_of(t.MatchCandidate), table_of(t.SourceRecordRow)
        stmt = (
            select(mc, sr.c.source, sr.c.source_key)
            .join(sr, sr.c.id == mc.c.source_record_id)
            .where(mc.c.id == candidate_id)
        )
        if lock and is_postgres(self.s):
            stmt = stmt.with_for_update(of=mc)
        row = self.s.execute(stmt).mappings().first()
        return dict(row) if row is not None else None

    def decide(self, candidate_id: int, status: str, by: str, reason: str, at: datetime) -> None:
        mc = table_of(t.MatchCandidate)
        self.s.execute(
            update(mc)
            .where(mc.c.id == candidate_id)
            .values(status=status, decided_by=by, reason=reason, decided_at=at)
        )
        if status == "merged":
            record = select(mc.c.source_record_id).where(mc.c.id == candidate_id)
            self.s.execute(
                update(mc)
                .where(
                    mc.c.source_record_id == record.scalar_subquery(),
                    mc.c.status == "pending",
                    mc.c.id != candidate_id,
                )
                .values(status="superseded", decided_by=by, decided_at=at)
            )
