"""SQL helpers shared by the repositories: chunking, set-based lookups, bulk inserts (COPY on
PostgreSQL), advisory locks and table statistics. They work on either database."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import orjson
import psycopg
from sqlalchemy import (
    JSON,
    Table,
    any_,
    bindparam,
    insert,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from hub.domain.errors import LockBusy
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


def table_of(model: type[t.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def insert_ignoring(session: Session, model: type[t.Base]) -> Any:
    """An INSERT that skips rows violating a unique constraint, in this database's dialect."""
    table = table_of(model)
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# match_candidate too: after a bulk load the steward queue's planner otherwise guesses badly
# (pages ~10x slower on PostgreSQL until autovacuum catches up).
HOT_TABLES = (
    "inbox",
    "source_record",
    "golden_record",
    "blocking_key",
    "pending_reference",
    "match_candidate",
)


def analyze(session: Session) -> None:
    if is_postgres(session):
        session.execute(text(f"ANALYZE {', '.join(HOT_TABLES)}"))
    else:
        session.execute(text("ANALYZE"))


LOCK_SPACES = {"record": 1, "key": 2, "login": 4}  # 3: the audit chain (access.py)


def advisory_locks(
    session: Session, namespace: str, names: Iterable[str], wait: bool = True
) -> None:
    """Transaction-level advisory locks on PostgreSQL, taken in sorted order so two workers
    can never wait on each other in a cycle (record locks are always taken before key locks).
    ``wait=False`` is for locks asked for out of that order: it takes what is free and raises
    ``LockBusy`` if any is held by another transaction, instead of waiting into a cycle.
    SQLite needs none: it has one writer at a time."""
    if not is_postgres(session):
        return
    ids = sorted({zlib.crc32(n.encode()) - 2**31 for n in names})
    call = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    for part in chunks(ids, 1000):
        taken = session.execute(
            text(
                f"SELECT {call}(:space, k)::text FROM unnest(CAST(:ids AS int[])) AS k ORDER BY k"
            ),
            {"space": LOCK_SPACES[namespace], "ids": part},
        ).scalars()
        if not wait and "false" in set(taken):
            raise LockBusy(f"a {namespace} lock is held by another transaction")


def is_transient(exc: BaseException) -> bool:
    """A store error that says nothing about the work: the same work may succeed if tried
    again (a deadlock victim, a serialization failure, a busy SQLite file, a lost
    connection)."""
    if isinstance(exc, LockBusy):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, psycopg.OperationalError)
