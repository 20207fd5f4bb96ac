"""Set-based repositories: every method is one or a few statements for a whole batch.

Per-row ORM round trips cap a hub at about a thousand changes a second (docs/architecture.md,
"Speed"), so these load by ``IN`` lists and write with ``executemany`` and ``insert ... on
conflict``."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from hub.domain.model import GoldenRecord, SourceRecord
from hub.domain.spec import SourceSpec
from hub.store import candidate_evidence
from hub.store import tables as t
from hub.store.sql import (
    OUTBOX_LOCK,
    bulk_insert,
    chunks,
    grouped,
    is_postgres,
    one_of,
    table_of,
)


def _record(row: Any) -> SourceRecord:
    return SourceRecord(
        source=row.source,
        domain=row.domain,
        key=row.source_key,
        attributes=row.attributes,
        changed_at=row.changed_at,
        sequence=row.sequence,
        digest=row.digest,
        golden_id=row.golden_id,
        deleted=row.deleted,
        link_rule=row.link_rule,
        id=row.id,
        run_id=row.run_id,
        stored=True,
    )


class SqlRecords:
    def __init__(self, session: Session) -> None:
        self.s = session

    def load(
        self, keys: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], SourceRecord]:
        sr = table_of(t.SourceRecordRow)
        out: dict[tuple[str, str, str], SourceRecord] = {}
        for (source, domain), part in grouped(keys):
            stmt = select(sr).where(
                one_of(self.s, sr.c.source_key, part), sr.c.source == source, sr.c.domain == domain
            )
            for row in self.s.execute(stmt):
                out[(row.source, row.domain, row.source_key)] = _record(row)
        return out

    def linked_to(self, golden_ids: Iterable[str]) -> dict[str, list[SourceRecord]]:
        sr = table_of(t.SourceRecordRow)
        out: dict[str, list[SourceRecord]] = {}
        for part in chunks(set(golden_ids)):
            stmt = select(sr).where(one_of(self.s, sr.c.golden_id, part)).order_by(sr.c.id)
            for row in self.s.execute(stmt):
                out.setdefault(row.golden_id, []).append(_record(row))
        return out

    def save(self, records: Sequence[SourceRecord], at: datetime) -> None:
        sr = table_of(t.SourceRecordRow)
        new = [r for r in records if not r.stored]
        old = [r for r in records if r.stored]
        if new:
            bulk_insert(
                self.s,
                sr,
                [
                    {
                        "source": r.source,
                        "domain": r.domain,
                        "source_key": r.key,
                        "golden_id": r.golden_id,
                        "attributes": r.attributes,
                        "sequence": r.sequence,
                        "changed_at": r.changed_at,
                        "digest": r.digest,
                        "deleted": r.deleted,
                        "link_rule": r.link_rule,
                        "run_id": r.run_id,
                        "updated_at": at,
                    }
                    for r in new
                ],
            )
        if old:
            stmt = (
                update(sr)
                .where(
                    sr.c.source_key == bindparam("_key"),
                    sr.c.source == bindparam("_source"),
                    sr.c.domain == bindparam("_domain"),
                )
                .values(
                    golden_id=bindparam("_golden_id"),
                    attributes=bindparam("_attributes"),
                    sequence=bindparam("_sequence"),
                    changed_at=bindparam("_changed_at"),
                    digest=bindparam("_digest"),
                    deleted=bindparam("_deleted"),
                    link_rule=bindparam("_link_rule"),
                    updated_at=at,
                )
            )
            self.s.execute(
                stmt,
                [
                    {
                        "_key": r.key,
                        "_source": r.source,
                        "_domain": r.domain,
                        "_golden_id": r.golden_id,
                        "_attributes": r.attributes,
                        "_sequence": r.sequence,
                        "_changed_at": r.changed_at,
                        "_digest": r.digest,
                        "_deleted": r.deleted,
                        "_link_rule": r.link_rule,
                    }
                    for r in old
                ],
            )
        for r in records:
            r.dirty = False
            r.stored = True


def _golden(row: Any) -> GoldenRecord:
    return GoldenRecord(
        id=row.id,
        domain=row.domain,
        version=row.version,
        status=row.status,
        attributes=row.attributes,
        provenance=row.provenance,
        references=row.references,
        overrides=row.overrides or {},
        xref=row.xref or [],
        created_at=row.created_at,
        merged_into=row.merged_into,
    )


class SqlGolden:
    def __init__(self, session: Session) -> None:
        self.s = session

    def referring_to(self, ids: Iterable[str]) -> set[str]:
        """A text search of the references: merges are rare, and a golden id (a UUID) cannot
        appear in the JSON by accident. One statement for all of a batch's merges."""
        gr = table_of(t.GoldenRecordRow)
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        refs = cast(gr.c.references, String)
        stmt = select(gr.c.id).where(or_(*(refs.like(f"%{gid}%") for gid in wanted)))
        return set(self.s.scalars(stmt))

    def active_ids(self, domain: str, after: str, limit: int) -> list[str]:
        gr = table_of(t.GoldenRecordRow)
        stmt = (
            select(gr.c.id)
            .where(gr.c.domain == domain, gr.c.status == "active", gr.c.id > after)
            .order_by(gr.c.id)
            .limit(limit)
        )
        return list(self.s.scalars(stmt))

    def load(self, ids: Iterable[str], lock: bool = False) -> dict[str, GoldenRecord]:
        gr = table_of(t.GoldenRecordRow)
        out: dict[str, GoldenRecord] = {}
        for part in chunks(sorted(set(ids))):
            stmt = select(gr).where(one_of(self.s, gr.c.id, part))
            if lock and is_postgres(self.s):
                stmt = stmt.order_by(gr.c.id).with_for_update()
            for row in self.s.execute(stmt):
                out[row.id] = _golden(row)
        return out

    def save(
        self,
        records: Sequence[tuple[GoldenRecord, list[str], str]],
        search_names: Mapping[str, str],
        at: datetime,
    ) -> None:
        if not records:
            return
        gr, gv = table_of(t.GoldenRecordRow), table_of(t.GoldenVersionRow)
        new = [g for g, _, _ in records if g.version == 1]
        old = [g for g, _, _ in records if g.version > 1]
        if new:
            bulk_insert(
                self.s,
                gr,
                [
                    {
                        "id": g.id,
                        "domain": g.domain,
                        "version": g.version,
                        "status": g.status,
                        "attributes": g.attributes,
                        "provenance": g.provenance,
                        "references": g.references,
                        "overrides": g.overrides,
                        "xref": g.xref,
                        "search_name": search_names.get(g.id, "")[:500],
                        "created_at": at,
                        "updated_at": at,
                    }
                    for g in new
                ],
            )
        if old:
            stmt = (
                update(gr)
                .where(gr.c.id == bindparam("_id"))
                .values(
                    version=bindparam("_version"),
                    status=bindparam("_status"),
                    attributes=bindparam("_attributes"),
                    provenance=bindparam("_provenance"),
                    references=bindparam("_references"),
                    overrides=bindparam("_overrides"),
                    search_name=bindparam("_search"),
                    xref=bindparam("_xref"),
                    merged_into=bindparam("_merged_into"),
                    updated_at=at,
                )
            )
            self.s.execute(
                stmt,
                [
                    {
                        "_id": g.id,
                        "_version": g.version,
                        "_status": g.status,
                        "_attributes": g.attributes,
                        "_provenance": g.provenance,
                        "_references": g.references,
                        "_overrides": g.overrides,
                        "_xref": g.xref,
                        "_merged_into": g.merged_into,
                        "_search": search_names.get(g.id, "")[:500],
                    }
                    for g in old
                ],
            )
        bulk_insert(
            self.s,
            gv,
            [
                {
                    "golden_id": g.id,
                    "version": g.version,
                    "domain": g.domain,
                    "status": g.status,
                    "attributes": g.attributes,
                    "provenance": g.provenance,
                    "references": g.references,
                    "xref": g.xref,
                    "changed_fields": changed,
                    "cause": kind,
                    "created_at": at,
                }
                for g, changed, kind in records
            ],
        )


class SqlKeys:
    def __init__(self, session: Session) -> None:
        self.s = session

    def find(self, domain: str, keys: Iterable[str]) -> dict[str, set[str]]:
        bk = table_of(t.BlockingKeyRow)
        out: dict[str, set[str]] = {}
        for part in chunks(set(keys)):
            stmt = select(bk.c.key, bk.c.golden_id).where(
                bk.c.domain == domain, one_of(self.s, bk.c.key, part)
            )
            for key, gid in self.s.execute(stmt):
                out.setdefault(key, set()).add(gid)
        return out

    def count(self, domain: str, keys: Iterable[str]) -> dict[str, int]:
        bk = table_of(t.BlockingKeyRow)
        out: dict[str, int] = {}
        for part in chunks(set(keys)):
            stmt = (
                select(bk.c.key, func.count())
                .where(bk.c.domain == domain, one_of(self.s, bk.c.key, part))
                .group_by(bk.c.key)
            )
            out.update((key, int(n)) for key, n in self.s.execute(stmt))
        return out

    def replace(self, domain: str, keys: Mapping[str, set[str]]) -> None:
        """Make the index hold exactly ``keys`` for these golden records, writing only the
        difference: most updates change no key, and rewriting them all churned the index."""
        bk = table_of(t.BlockingKeyRow)
        held: dict[tuple[str, str], int] = {}
        for part in chunks(keys, 1000):
            stmt = select(bk.c.id, bk.c.key, bk.c.golden_id).where(
                one_of(self.s, bk.c.golden_id, part)
            )
            held.update(((k, g), i) for i, k, g in self.s.execute(stmt))
        wanted = {(k[:600], g) for g, ks in keys.items() for k in ks}
        stale = [i for kg, i in held.items() if kg not in wanted]
        for ids in chunks(stale, 1000):
            self.s.execute(delete(bk).where(one_of(self.s, bk.c.id, ids)))
        rows = [
            {"domain": domain, "key": k, "golden_id": g} for k, g in sorted(wanted - held.keys())
        ]
        if rows:
            bulk_insert(self.s, bk, rows)


class SqlPending:
    def __init__(self, session: Session) -> None:
        self.s = session

    def waiting_for(self, targets: Iterable[tuple[str, str, str]]) -> set[str]:
        pr = table_of(t.PendingReference)
        out: set[str] = set()
        for (source, domain), part in grouped(targets):
            stmt = select(pr.c.golden_id).where(
                one_of(self.s, pr.c.target_key, part),
                pr.c.source == source,
                pr.c.target_domain == domain,
            )
            out.update(self.s.scalars(stmt))
        return out

    def replace(self, golden_ids: Iterable[str], rows: Sequence[dict[str, Any]]) -> None:
        pr = table_of(t.PendingReference)
        for part in chunks(set(golden_ids)):
            self.s.execute(delete(pr).where(one_of(self.s, pr.c.golden_id, part)))
        if rows:
            now = datetime.now().astimezone()
            bulk_insert(self.s, pr, [{**r, "created_at": now} for r in rows])


class SqlOutbox:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, events: Sequence[dict[str, Any]]) -> None:
        """Append events. On PostgreSQL, sequence numbers are taken under a transaction lock,
        so they are handed out in commit order and the feed can never skip a late commit."""
        if not events:
            return
        if is_postgres(self.s):
            self.s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": OUTBOX_LOCK})
        bulk_insert(
            self.s,
            table_of(t.OutboxRow),
            [
                {
                    "event_id": e["event"]["id"],
                    "domain": e["domain"],
                    "golden_id": e["golden_id"],
                    "version": e["version"],
                    "type": e["type"],
                    "payload": e["event"],
                    "correlation_id": e.get("correlation_id"),
                    "created_at": e["at"],
                }
                for e in events
            ],
        )


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
        self.s.execute(
            insert(table_of(t.MatchCandidate)),
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

    def forget_exclusion(
        self, key: tuple[str, str, str], golden_id: str, by: str, reason: str
    ) -> int:
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


def load_sources(session: Session) -> dict[str, SourceSpec]:
    return {
        row.name: SourceSpec(row.name, row.kind, row.rank)
        for row in session.execute(select(table_of(t.SourceSystem)))
    }
