"""Set-based repositories: every method is one or a few statements for a whole batch.

Per-row ORM round trips cap a hub at about a thousand changes a second (DESIGN.md, "Speed"),
so these load by ``IN`` lists and write with ``executemany`` and ``insert ... on conflict``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
import psycopg
from sqlalchemy import (
    JSON,
    String,
    Table,
    any_,
    bindparam,
    cast,
    delete,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.domain.model import Change, GoldenRecord, SourceRecord
from hub.domain.spec import SourceSpec
from hub.store import tables as t

T = TypeVar("T")
CHUNK = 300
OUTBOX_LOCK = 0x0C0C0D  # advisory lock id: one writer of outbox sequence numbers at a time


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    buf: list[T] = []
    for item in items:
        buf.append(item)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def grouped(
    keys: Iterable[tuple[str, str, str]],
) -> Iterator[tuple[tuple[str, str], list[str]]]:
    """(source, domain, key) triples as chunks of keys per (source, domain).

    ``source = ? AND domain = ? AND key IN (...)`` walks the unique index on PostgreSQL; a
    row-value ``IN`` of triples is planned as a long OR and was 10x slower at batch sizes.
    """
    groups: dict[tuple[str, str], set[str]] = {}
    for source, domain, key in keys:
        groups.setdefault((source, domain), set()).add(key)
    for group, members in groups.items():
        for part in chunks(sorted(members)):
            yield group, part


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many new rows: COPY on PostgreSQL, ``executemany`` on SQLite.

    COPY is ~3x cheaper per row than psycopg's pipelined ``executemany`` here, and the apply
    path inserts five to six rows per change. It runs on the session's own connection, so it
    is inside the unit of work's transaction like every other statement.
    """
    if not rows:
        return
    if not is_postgres(session):
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0].keys())
    json_cols = {c for c in columns if isinstance(table.c[c].type, JSON | JSONB)}
    raw = session.connection().connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [
                    orjson.dumps(row[c], default=str).decode() if c in json_cols else row[c]
                    for c in columns
                ]
            )


def one_of(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """``column IN (values)``; on PostgreSQL as ``= ANY(array)``, one parameter, so the
    statement text is the same for every batch and is not re-compiled and re-parsed."""
    if is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def _table(model: type[t.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def insert_ignoring(session: Session, model: type[t.Base]) -> Any:
    """An INSERT that skips rows violating a unique constraint, in this database's dialect."""
    table = _table(model)
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


class SqlInbox:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, changes: Sequence[Change], received_at: datetime) -> int:
        """Store changes; a repeated (source, event_id) is skipped. Returns how many were new."""
        if not changes:
            return 0
        rows = [
            {
                "source": c.source,
                "event_id": c.event_id,
                "domain": c.domain,
                "source_key": c.key,
                "op": c.op,
                "sequence": c.sequence,
                "changed_at": c.changed_at,
                "attributes": c.attributes,
                "run_id": c.run_id,
                "received_at": received_at,
                "status": "pending",
            }
            for c in changes
        ]
        if is_postgres(self.s):
            fresh = self._new_rows(rows)
            try:
                with self.s.begin_nested():
                    bulk_insert(self.s, _table(t.InboxRow), fresh)
                return len(fresh)
            except (IntegrityError, psycopg.IntegrityError):
                pass  # a concurrent request stored one of them first: take the careful path
        stmt = insert_ignoring(self.s, t.InboxRow).returning(_table(t.InboxRow).c.id)
        return len(self.s.execute(stmt, rows).all())

    def _new_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows whose (source, event_id) is neither stored nor repeated in the batch."""
        ib = _table(t.InboxRow)
        seen: set[tuple[str, str]] = set()
        by_source: dict[str, list[str]] = {}
        for r in rows:
            by_source.setdefault(r["source"], []).append(r["event_id"])
        for source, ids in by_source.items():
            for part in chunks(ids, 1000):
                stmt = select(ib.c.event_id).where(
                    one_of(self.s, ib.c.event_id, part), ib.c.source == source
                )
                seen.update((source, e) for e in self.s.scalars(stmt))
        fresh = []
        for r in rows:
            k = (r["source"], r["event_id"])
            if k not in seen:
                seen.add(k)
                fresh.append(r)
        return fresh

    def claim(self, limit: int) -> list[tuple[int, Change]]:
        ib = _table(t.InboxRow)
        stmt = select(ib).where(ib.c.status == "pending").order_by(ib.c.id).limit(limit)
        if is_postgres(self.s):
            stmt = stmt.with_for_update(skip_locked=True)
        return [
            (
                row.id,
                Change(
                    source=row.source,
                    domain=row.domain,
                    key=row.source_key,
                    op=row.op,
                    event_id=row.event_id,
                    attributes=row.attributes,
                    changed_at=row.changed_at,
                    sequence=row.sequence,
                    run_id=row.run_id,
                ),
            )
            for row in self.s.execute(stmt)
        ]

    def mark(self, statuses: Mapping[int, str], at: datetime) -> None:
        if not statuses:
            return
        ib = _table(t.InboxRow)
        by_status: dict[str, list[int]] = {}
        for inbox_id, status in statuses.items():
            by_status.setdefault(status, []).append(inbox_id)
        for status, ids in by_status.items():
            for part in chunks(ids, 1000):
                self.s.execute(
                    update(ib)
                    .where(one_of(self.s, ib.c.id, part))
                    .values(status=status, applied_at=at)
                )

    def pending_count(self) -> int:
        ib = _table(t.InboxRow)
        return len(self.s.execute(select(ib.c.id).where(ib.c.status == "pending")).all())


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
        stored=True,
    )


class SqlRecords:
    def __init__(self, session: Session) -> None:
        self.s = session

    def load(
        self, keys: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], SourceRecord]:
        sr = _table(t.SourceRecordRow)
        out: dict[tuple[str, str, str], SourceRecord] = {}
        for (source, domain), part in grouped(keys):
            stmt = select(sr).where(
                one_of(self.s, sr.c.source_key, part), sr.c.source == source, sr.c.domain == domain
            )
            for row in self.s.execute(stmt):
                out[(row.source, row.domain, row.source_key)] = _record(row)
        return out

    def linked_to(self, golden_ids: Iterable[str]) -> dict[str, list[SourceRecord]]:
        sr = _table(t.SourceRecordRow)
        out: dict[str, list[SourceRecord]] = {}
        for part in chunks(set(golden_ids)):
            stmt = select(sr).where(one_of(self.s, sr.c.golden_id, part)).order_by(sr.c.id)
            for row in self.s.execute(stmt):
                out.setdefault(row.golden_id, []).append(_record(row))
        return out

    def save(self, records: Sequence[SourceRecord], at: datetime) -> None:
        sr = _table(t.SourceRecordRow)
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
    )


class SqlGolden:
    def __init__(self, session: Session) -> None:
        self.s = session

    def referring_to(self, ids: Iterable[str]) -> set[str]:
        """A text search of the references: merges are rare, and a golden id (a UUID) cannot
        appear in the JSON by accident. One statement for all of a batch's merges."""
        gr = _table(t.GoldenRecordRow)
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        refs = cast(gr.c.references, String)
        stmt = select(gr.c.id).where(or_(*(refs.like(f"%{gid}%") for gid in wanted)))
        return set(self.s.scalars(stmt))

    def load(self, ids: Iterable[str], lock: bool = False) -> dict[str, GoldenRecord]:
        gr = _table(t.GoldenRecordRow)
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
        gr, gv = _table(t.GoldenRecordRow), _table(t.GoldenVersionRow)
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
        bk = _table(t.BlockingKeyRow)
        out: dict[str, set[str]] = {}
        for part in chunks(set(keys)):
            stmt = select(bk.c.key, bk.c.golden_id).where(
                bk.c.domain == domain, one_of(self.s, bk.c.key, part)
            )
            for key, gid in self.s.execute(stmt):
                out.setdefault(key, set()).add(gid)
        return out

    def replace(self, domain: str, keys: Mapping[str, set[str]]) -> None:
        """Make the index hold exactly ``keys`` for these golden records, writing only the
        difference: most updates change no key, and rewriting them all churned the index."""
        bk = _table(t.BlockingKeyRow)
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
        pr = _table(t.PendingReference)
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
        pr = _table(t.PendingReference)
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
            _table(t.OutboxRow),
            [
                {
                    "event_id": e["event"]["id"],
                    "domain": e["domain"],
                    "golden_id": e["golden_id"],
                    "version": e["version"],
                    "type": e["type"],
                    "payload": e["event"],
                    "created_at": e["at"],
                }
                for e in events
            ],
        )


class SqlCandidates:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        sr = _table(t.SourceRecordRow)
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
            insert(_table(t.MatchCandidate)),
            [
                {
                    "domain": r["domain"],
                    "source_record_id": ids[(r["domain"], *r["source_key"])],
                    "golden_id": r["golden_id"],
                    "probability": r["probability"],
                    "weights": r["weights"],
                    "rule": r["rule"],
                    "status": "pending",
                    "created_at": now,
                }
                for r in rows
            ],
        )


class SqlDeadLetters:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, inbox_id: int, change: Change, reason: str, at: datetime) -> None:
        payload = {
            "domain": change.domain,
            "key": change.key,
            "op": change.op,
            "sequence": change.sequence,
            "changed_at": change.changed_at.isoformat(),
            "attributes": change.attributes,
        }
        self.s.execute(
            insert(_table(t.DeadLetter)),
            [
                {
                    "inbox_id": inbox_id,
                    "source": change.source,
                    "event_id": change.event_id,
                    "payload": payload,
                    "reason": reason[:4000],
                    "created_at": at,
                }
            ],
        )

    def replay(self, ids: Sequence[int] | None, at: datetime) -> int:
        """Put the dead changes back in the inbox as pending, under their own event ids, so
        the worker applies them again after a fix; each dead letter remembers it was replayed."""
        dl, ib = _table(t.DeadLetter), _table(t.InboxRow)
        stmt = select(dl.c.id, dl.c.inbox_id).where(dl.c.replayed_at.is_(None))
        if ids is not None:
            stmt = stmt.where(dl.c.id.in_(list(ids)))
        rows = self.s.execute(stmt).all()
        for part in chunks([r.inbox_id for r in rows], 1000):
            self.s.execute(
                update(ib)
                .where(one_of(self.s, ib.c.id, part), ib.c.status == "dead")
                .values(status="pending", applied_at=None)
            )
        for part in chunks([r.id for r in rows], 1000):
            self.s.execute(update(dl).where(one_of(self.s, dl.c.id, part)).values(replayed_at=at))
        return len(rows)


HOT_TABLES = ("inbox", "source_record", "golden_record", "blocking_key", "pending_reference")


def analyze(session: Session) -> None:
    if is_postgres(session):
        session.execute(text(f"ANALYZE {', '.join(HOT_TABLES)}"))
    else:
        session.execute(text("ANALYZE"))


LOCK_SPACES = {"record": 1, "key": 2}


def advisory_locks(session: Session, namespace: str, names: Iterable[str]) -> None:
    """Transaction-level advisory locks on PostgreSQL, taken in sorted order so two workers
    can never wait on each other in a cycle (record locks are always taken before key locks).
    SQLite needs none: it has one writer at a time."""
    if not is_postgres(session):
        return
    ids = sorted({zlib.crc32(n.encode()) - 2**31 for n in names})
    for part in chunks(ids, 1000):
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock(:space, k) FROM unnest(CAST(:ids AS int[])) AS k"
                " ORDER BY k"
            ),
            {"space": LOCK_SPACES[namespace], "ids": part},
        )


def load_sources(session: Session) -> dict[str, SourceSpec]:
    return {
        row.name: SourceSpec(row.name, row.kind, row.rank)
        for row in session.execute(select(_table(t.SourceSystem)))
    }
