"""SQL helpers shared by the repositories: chunking, set-based lookups, bulk inserts (COPY on
PostgreSQL), advisory locks and table statistics. They work on either database."""

from __future__ import annotations

import functools
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    Connection,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.types import UserDefinedType

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
    """``column IN (values)`` with the values as one parameter, so the statement text is the
    same for every batch and is not re-compiled and re-parsed: ``= ANY(array)`` on
    PostgreSQL, a JSON array read by ``json_each`` on SQLite. An expanded ``IN`` list of a
    few hundred values cost more to render than to run (a sixth of an apply batch)."""
    postgres = is_postgres(session)
    as_text = array_literal(values) if postgres else orjson.dumps(list(values)).decode()
    if as_text is None:  # neither strings nor integers: psycopg makes the array
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return _member(column, bindparam(None, as_text, type_=_bound_type(column, postgres)), postgres)


def among(column: Any, name: str, postgres: bool) -> Any:
    """``one_of`` for a statement built once (``Built``): the values are bound at each
    execution as ``{name: listed(session, values)}``, and a statement run without them is
    refused, not run as a lookup of nothing."""
    return _member(column, bindparam(name, type_=_bound_type(column, postgres)), postgres)


def listed(session: Session, values: Iterable[str | int]) -> str:
    """Values of strings or integers as ``among`` takes them: PostgreSQL's array text, or a
    JSON array on SQLite. Anything else is refused on both, so a caller's mistake shows on
    SQLite too (its JSON would hold a bool, and match the row whose id is 1)."""
    values = list(values)
    as_text = array_literal(values)
    if as_text is None:
        raise TypeError("only strings and integers can be listed")
    return as_text if is_postgres(session) else orjson.dumps(values).decode()


def _bound_type(column: Any, postgres: bool) -> Any:
    return _array_text_of(column.type) if postgres else String()


def _member(column: Any, values: Any, postgres: bool) -> Any:
    if postgres:
        return column == any_(values)
    rows = func.json_each(values).table_valued("value")
    return column.in_(select(rows.c.value).scalar_subquery())


def array_literal(values: Iterable[Any]) -> str | None:
    """PostgreSQL's text form of an array of strings or integers (``{"a","b"}``), for the
    server to parse, or None for values of any other type.

    psycopg turns a list into an array in Python, about 1 µs a value: a batch's key and id
    lists of a few hundred values each made it 4% of an apply batch's time. Every element
    is quoted, so only a backslash and a double quote need escaping; a NUL cannot be in
    PostgreSQL text at all, and psycopg refuses one either way."""
    parts = []
    for v in values:
        if v.__class__ is str:
            if "\\" in v or '"' in v:
                v = v.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(v)
        elif v.__class__ is int:
            parts.append(str(v))
        else:
            return None
    return '{"' + '","'.join(parts) + '"}' if parts else "{}"


POSTGRES = postgresql.dialect()  # type: ignore[no-untyped-call]  # to compile types for it


class _ArrayText(UserDefinedType[Any]):
    """An array parameter sent as its text (``array_literal``) and typed by the statement's
    cast on the parameter itself, ``$1::VARCHAR[]``, so the server parses it once, when it
    binds. Cast in the statement (``CAST($1 AS VARCHAR[])``) the parse is an expression
    PostgreSQL does not fold (``array_in`` is only stable), and a sequential scan ran it for
    every row: 500 keys against 20,000 rows took 690 ms, not 2 ms, and on a young hub's
    small tables the applier fell seconds behind."""

    cache_ok = True
    render_bind_cast = True

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def get_col_spec(self, **kw: Any) -> str:
        return self.spec

    def bind_processor(self, dialect: Dialect) -> None:
        return None  # the text goes as it is


@functools.lru_cache(maxsize=256)  # bounded: an expression made per call brings a new type
def _array_text_of(item_type: Any) -> _ArrayText:
    """The array type of a column's values, made once per column type (a batch asks a
    dozen times). A string type loses its length: a cast to ``VARCHAR(36)[]`` cuts each
    value to 36 characters, and a longer value looked up then found the row named by its
    first 36."""
    if isinstance(item_type, String) and item_type.length is not None:
        item_type = String()
    return _ArrayText(POSTGRES.type_compiler_instance.process(ARRAY(item_type)))


class Built:
    """A statement built once for each dialect, its values bound by name when it runs.

    Building a statement (its clauses, their coercions) and keying it for the compiled
    cache cost more than running the small ones: about a fifth of a one-change apply turn
    went to statements built anew on every call (docs/architecture.md, "Where latency
    comes from"). A built statement keeps its cache key."""

    def __init__(self, build: Callable[[bool], Any]) -> None:
        self._build = build
        self._made: dict[bool, Any] = {}

    def __call__(self, db: Session | Connection) -> Any:
        postgres = is_postgres(db)
        made = self._made.get(postgres)
        if made is None:  # two threads may both build it: the same statement either way
            made = self._made[postgres] = self._build(postgres)
        return made


def table_of(model: type[t.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def insert_ignoring(db: Session | Connection, model: type[t.Base]) -> Any:
    """An INSERT that skips rows violating a unique constraint, in this database's dialect."""
    return _ignoring(is_postgres(db), model)


@functools.lru_cache(maxsize=64)  # built once a table and dialect: ingest asks every batch
def _ignoring(postgres: bool, model: type[t.Base]) -> Any:
    dialect_insert = postgresql.insert if postgres else sqlite.insert
    return dialect_insert(table_of(model)).on_conflict_do_nothing()


def is_postgres(db: Session | Connection) -> bool:
    bind = db if isinstance(db, Connection) else db.get_bind()
    return bind.dialect.name == "postgresql"


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


# The hot tables whose live rows are more than twice, or less than half, what the planner's
# statistics last counted (and by a thousand rows), or that were never analysed.
_STALE_STATISTICS = text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
    " WHERE s.relid = ANY(CAST(:tables AS regclass[])) AND (c.reltuples < 0"
    " OR s.n_live_tup > 2 * c.reltuples + 1000 OR s.n_live_tup < c.reltuples / 2 - 1000)"
    " ORDER BY s.relname"
)


def analyze(session: Session) -> list[str]:
    """Refresh the planner's statistics of the hot tables that grew or shrank enough to
    mislead it; returns their names. A table whose rows were only updated keeps its
    statistics: re-analysing all six took 0.4 s at 20k records, four times in a run of 20k
    updates of known records. SQLite still analyses the whole file (an embedded hub is
    small; nothing measured there asked for more)."""
    if not is_postgres(session):
        session.execute(text("ANALYZE"))
        return []
    stale = list(session.scalars(_STALE_STATISTICS, {"tables": list(HOT_TABLES)}))
    if stale:
        session.execute(text(f"ANALYZE {', '.join(stale)}"))
    return stale


# 3: the audit chain (access.py). The order: partition (appliers only), record, key, bkey
# (docs/architecture.md, "Locks")
LOCK_SPACES = {"record": 1, "key": 2, "login": 4, "bkey": 5, "partition": 6}


# Where each lock comes in the lock order; the outbox lock comes last.
LOCK_RANK = {"record": 1, "key": 2, "bkey": 3, "outbox": 4}


def held_rank(session: Session) -> int:
    """The latest place in the lock order this session's transaction has reached."""
    held = session.info.get("lock_rank")
    if held is None or held[0] is not session.get_transaction():
        return 0
    rank: int = held[1]
    return rank


def note_lock(session: Session, namespace: str) -> None:
    """Remember that this transaction holds a lock of ``namespace``'s rank."""
    rank = max(LOCK_RANK[namespace], held_rank(session))
    session.info["lock_rank"] = (session.get_transaction(), rank)


def _each_id(select_list: str) -> Any:
    """A lock statement over an array of lock ids, typed on the parameter (``_ArrayText``)."""
    ids = bindparam("ids", type_=_array_text_of(Integer()))
    return text(f"SELECT {select_list} FROM unnest(:ids) AS k ORDER BY k").bindparams(ids)


_LOCK = _each_id("pg_advisory_xact_lock(:space, k)::text")
_TRY_LOCK = _each_id("pg_try_advisory_xact_lock(:space, k)::text")
_TRY_EACH = _each_id("k, pg_try_advisory_xact_lock(:space, k)")


def advisory_locks(
    session: Session, namespace: str, names: Iterable[str], wait: bool = True
) -> None:
    """Transaction-level advisory locks on PostgreSQL, taken in sorted order so two workers
    can never wait on each other in a cycle (record locks before key locks, key locks before
    blocking-key locks).
    ``wait=False`` is for locks asked for out of that order: it takes what is free and raises
    ``LockBusy`` if any is held by another transaction, instead of waiting into a cycle.
    SQLite needs none: it has one writer at a time."""
    if not is_postgres(session):
        return
    ids = sorted({zlib.crc32(n.encode()) - 2**31 for n in names})
    if namespace in LOCK_RANK:
        # A transaction that already holds a later lock (the one-by-one fallback, whose
        # first change took the outbox lock before the second asks for its keys) must not
        # wait for an earlier one: that is a cycle waiting to happen.
        wait = wait and held_rank(session) <= LOCK_RANK[namespace]
        if ids:
            note_lock(session, namespace)
    for part in chunks(ids, 1000):
        taken = session.execute(
            _LOCK if wait else _TRY_LOCK,
            {"space": LOCK_SPACES[namespace], "ids": array_literal(part)},
        ).scalars()
        if not wait and "false" in set(taken):
            raise LockBusy(f"a {namespace} lock is held by another transaction")


def free_advisory_locks(session: Session, namespace: str, names: Iterable[str]) -> set[str]:
    """Take those of these transaction-level advisory locks that no other transaction holds,
    without waiting, and return their names (all of them on SQLite, which has one writer).
    Never waiting, it can take them in any order and never joins a cycle."""
    wanted = set(names)
    if not is_postgres(session) or not wanted:
        return wanted
    by_id: dict[int, list[str]] = {}
    for n in wanted:
        by_id.setdefault(zlib.crc32(n.encode()) - 2**31, []).append(n)
    taken: set[str] = set()
    for part in chunks(sorted(by_id), 1000):
        rows = session.execute(
            _TRY_EACH, {"space": LOCK_SPACES[namespace], "ids": array_literal(part)}
        )
        for k, got in rows:
            if got:
                taken.update(by_id[k])
    if taken and namespace in LOCK_RANK:
        note_lock(session, namespace)
    return taken


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
    return driver_error(exc, "OperationalError")


def driver_error(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is psycopg's error ``name``, without importing psycopg: a command on
    SQLite never loads it (0.1 s of every start), and an error of a module never imported
    cannot exist."""
    errors = sys.modules.get("psycopg.errors")
    return errors is not None and isinstance(exc, getattr(errors, name))
