"""Engines for both run modes.

SQLite (embedded): WAL so readers never wait for the worker, a busy timeout so the API and the
CLI can share the file, and ``BEGIN IMMEDIATE`` for writing transactions, because a deferred
transaction that later needs the write lock fails with "database is locked" instead of waiting.
A process's own writers of a file queue for that lock in order (``hub.store.sqlite_gate``).
"""

from __future__ import annotations

import os
import sqlite3
import sys
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError

from hub.store.sqlite_gate import TIMEOUT, GatedConnection, enter_gate, gate_of, let_go

__all__ = ["Engine", "is_sqlite", "make_engine", "sqlite_file"]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_file(url: str) -> str | None:
    """The database file of an SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return None if parsed.database == ":memory:" else parsed.database


def application_name() -> str:
    """What ``pg_stat_activity`` shows for our connections: the command and its process id,
    so an operator (or the chaos checker) can tell which process holds a lock."""
    command = " ".join(a for a in sys.argv[1:3] if not a.startswith("-"))
    return f"concord[{os.getpid()}] {command}"[:63]


def _json(value: Any) -> str:
    # orjson is ~5x faster than json.dumps, and a batch serialises thousands of documents.
    return orjson.dumps(value, default=str).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("json_serializer", _json)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if not is_sqlite(url):
        options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 8, "max_overflow": 8}
        if "application_name" not in make_url(url).query:  # an operator's own name wins
            options["connect_args"] = {"application_name": application_name()}
        options.update(kwargs)
        return create_engine(url, **options)
    if ":memory:" in url or url.rstrip("/") == "sqlite:":
        for option in ("pool_size", "max_overflow", "pool_timeout"):
            kwargs.pop(option, None)  # one shared connection: no pool to size
    path = sqlite_file(url)
    connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": TIMEOUT}
    if path is not None:  # a file: its writers in this process queue at its gate
        connect_args["factory"] = GatedConnection
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(TIMEOUT * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
        if path is not None and isinstance(dbapi_conn, GatedConnection):
            dbapi_conn.gate = gate_of(path)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get("readonly", False)
        if readonly:
            conn.exec_driver_sql("BEGIN")
            return
        raw = conn.connection.dbapi_connection
        if not enter_gate(raw):  # as SQLite itself says it, so callers retry as they did
            locked = sqlite3.OperationalError("database is locked")
            raise OperationalError("BEGIN IMMEDIATE", None, locked)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            let_go(raw)
            raise

    return engine
