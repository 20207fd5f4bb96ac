"""Updating many rows by their keys: on PostgreSQL one statement for the whole set.

An apply batch writes back hundreds of golden records and source records, each a row of
JSON documents. As an ``executemany`` every row was a statement of its own, and every
document of every row went through its own bind processing and dumper: the client side of
updating 500 golden records cost 16-27 ms of CPU, on a path that is bound by the applier's
CPU. Sent as one JSON document that ``jsonb_to_recordset`` unpacks on the server, the same
update costs 4-7 ms of client CPU and no more wall time (docs/architecture.md, "Where
latency comes from"). SQLite runs the ``executemany``: it has no round trips to save.

What the server stores is what the ``executemany`` stored: each value is typed by its
column's type (a value too long for its column is refused, as it was), a timestamp is sent
with its zone (a naive one is UTC, as ``UtcDateTime`` stores it), and a JSON ``null``
becomes SQL ``NULL``, which reads back as ``None`` either way. A plain ``JSON`` column
(``golden_record.compared``) receives its document by way of ``jsonb``, so its text is
normalised (key order, number spelling); it reads back equal.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table, Text, and_, bindparam, cast, column, func, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator, TypeEngine

from hub.store.sql import POSTGRES, is_postgres

_ROWS = "rows"


def update_rows(
    session: Session, table: Table, keys: tuple[str, ...], rows: Sequence[dict[str, Any]]
) -> None:
    """Set each row's columns on the stored row its ``keys`` columns name; every row has the
    same columns, the keys among them. Of two rows with the same keys the last one is
    stored, as it was when each row was a statement of its own."""
    if not rows:
        return
    columns = tuple(rows[0])
    if not is_postgres(session):
        session.execute(
            _each(table, keys, columns), [{"_" + c: row[c] for c in columns} for row in rows]
        )
        return
    last = {tuple(row[k] for k in keys): row for row in rows}
    decorated = _decorated(table, columns)
    if decorated:  # what the executemany's bind processing did (a naive time is UTC)
        last = {
            k: row | {c: t.process_bind_param(row[c], POSTGRES) for c, t in decorated}
            for k, row in last.items()
        }
    document = orjson.dumps(list(last.values()), default=str).decode()
    session.execute(_at_once(table, keys, columns), {_ROWS: document})


@functools.lru_cache(maxsize=32)
def _decorated(table: Table, columns: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """The columns whose type processes a value before it is bound (``UtcDateTime``)."""
    return tuple(
        (c, table.c[c].type) for c in columns if isinstance(table.c[c].type, TypeDecorator)
    )


@functools.lru_cache(maxsize=32)  # built once a table and shape: an applier asks every batch
def _at_once(table: Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    given = (
        func.jsonb_to_recordset(cast(bindparam(_ROWS, type_=Text()), JSONB))
        .table_valued(*(column(c, _pg_type(table.c[c].type)) for c in columns))
        .render_derived(name="given", with_types=True)
    )
    return (
        update(table)
        .where(and_(*(table.c[k] == given.c[k] for k in keys)))
        .values({c: given.c[c] for c in columns if c not in keys})
    )


@functools.lru_cache(maxsize=32)
def _each(table: Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    return (
        update(table)
        .where(and_(*(table.c[k] == bindparam("_" + k) for k in keys)))
        .values({c: bindparam("_" + c) for c in columns if c not in keys})
    )


def _pg_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type a value is read as from the document: its column's on PostgreSQL (a
    variant's PostgreSQL type, a decorator's underlying type), so the value is checked as
    the column checks it: a string too long for a ``VARCHAR(36)`` is refused, not cut."""
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return type_.dialect_impl(POSTGRES)
