"""The source records repository and the references waiting for a record not yet seen.

Set-based like every repository (see ``hub/store/repositories.py``): one statement per batch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from hub.domain.model import SourceRecord
from hub.store import tables as t
from hub.store.sql import bulk_insert, chunks, grouped, one_of, table_of


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
