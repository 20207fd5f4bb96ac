"""The source database side of logical decoding: is it set up for the connector, and its
tables' rows read as text for a snapshot. No state of the hub here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from connectors.inbound.mappings import MappingError, Mappings, TableMapping
from connectors.inbound.pgoutput import text_value
from hub.domain.errors import ConcordError


class SourceDatabaseError(ConcordError):
    """The source database is not set up for the connector; the message says what to do."""


class SourceDatabaseUnreachable(SourceDatabaseError):
    """The source database did not answer; worth trying again."""


def check_source_database(
    conn: psycopg.Connection[Any], publication: str, mappings: Mappings
) -> None:
    """Refuse to start on a source that cannot work, saying what to change.

    Raises:
        SourceDatabaseError: naming the setting, the publication or the table at fault.
    """
    wal = conn.execute("SHOW wal_level").fetchone()
    if not wal or wal[0] != "logical":
        raise SourceDatabaseError(
            f"the source's wal_level is {wal[0] if wal else '?'}; logical decoding needs "
            "wal_level=logical (ALTER SYSTEM SET wal_level = logical; then restart)"
        )
    published = {
        f"{s}.{t}"
        for s, t in conn.execute(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
            (publication,),
        )
    }
    exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,))
    if not exists.fetchone():
        raise SourceDatabaseError(
            f"no publication {publication!r} in the source database "
            f"(CREATE PUBLICATION {publication} FOR TABLE ...)"
        )
    for table in mappings.tables:
        if table not in published:
            raise SourceDatabaseError(
                f"{mappings.path}: table {table} is mapped but not in publication "
                f"{publication!r} (ALTER PUBLICATION {publication} ADD TABLE {table})"
            )


def table_rows(
    conn: psycopg.Connection[Any], mapping: TableMapping, cursor: str, batch: int, path: str
) -> Iterator[dict[str, Any]]:
    """The mapped columns of every row of ``mapping``'s table, as text, through a named
    cursor (``batch`` rows a fetch), in the snapshot ``conn``'s transaction imported;
    a mapped column the table lacks is a ``MappingError`` naming the file ``path``."""
    schema, _, table = mapping.table.partition(".")
    types = dict(
        conn.execute(
            "SELECT a.attname, a.atttypid::int FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
            (f'"{schema}"."{table}"',),
        ).fetchall()
    )
    needed = mapping.columns_needed
    missing = [c for c in needed if c not in types]
    if missing:
        raise MappingError(
            f"{path}: tables.{mapping.table}: column {missing[0]!r} is not "
            f"a column of {mapping.table} in the source database"
        )
    query = sql.SQL("SELECT {} FROM {}.{}").format(
        sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in needed),
        sql.Identifier(schema),
        sql.Identifier(table),
    )
    with conn.cursor(name=cursor) as cur:
        cur.itersize = batch
        for values in cur.execute(query):
            yield {c: text_value(v, types[c]) for c, v in zip(needed, values, strict=True)}


def slot_name(name: str) -> str:
    """The slot's name, checked: it goes into a replication command as an identifier."""
    if not name.replace("_", "").isalnum() or not name.islower() or name[0].isdigit():
        raise SourceDatabaseError(
            f"slot name {name!r}: use lower-case letters, digits and underscores"
        )
    return name
