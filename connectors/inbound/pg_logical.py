"""PostgreSQL logical decoding: a source database's rows and changes into the hub's inbox.

How it keeps "no gap, no duplicate" between the snapshot and the stream:

1. The slot is created over a replication connection with ``EXPORT_SNAPSHOT``. PostgreSQL
   returns the slot's consistent point and the name of a snapshot taken exactly there.
2. The snapshot reads every mapped table in a REPEATABLE READ transaction that imports that
   snapshot (``SET TRANSACTION SNAPSHOT``): it sees precisely the transactions that committed
   before the consistent point, and the slot decodes precisely those that commit after it.
3. Streaming peeks at the slot (``pg_logical_slot_peek_binary_changes``), hands the changes to
   the bus (``AcceptChanges``, the same door as the HTTP API) and only after that commit
   advances the slot (``pg_replication_slot_advance``) past the last whole transaction. A crash
   between the two re-reads those transactions: their event ids come from their LSNs, so the
   inbox counts them as duplicates.

Each change's sequence is its transaction's commit LSN: the order in which the source decided
the row's versions. A transaction that began before the consistent point and committed after
it is not in the snapshot and is streamed with a commit LSN above the snapshot's, so it wins,
as it should. Several changes to one record inside one transaction are collapsed to the last
(they share the commit LSN; only the last is the row's committed state). A snapshot row's
sequence is the consistent point.

Truncate is ignored, with a warning: a source emptying a table for a reload must not delete
every golden contribution of that source. Tables in the publication that the mapping does not
name are skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from sqlalchemy.exc import DBAPIError

from connectors.inbound.mappings import Mappings, RowRejected, TableMapping
from connectors.inbound.pg_source import (
    SourceDatabaseError,
    SourceDatabaseUnreachable,
    check_source_database,
    slot_name,
    table_rows,
)
from connectors.inbound.pgoutput import (
    UNCHANGED,
    Begin,
    Commit,
    Parser,
    RowChange,
    Truncate,
    int_to_lsn,
    lsn_to_int,
)
from hub.domain.commands import AcceptChanges
from hub.domain.model import Change
from hub.services.handlers import Accepted
from hub.services.ports import SlotMemory

log = logging.getLogger("concord.pg_logical")

__all__ = ["PostgresConnector", "Progress", "SourceDatabaseError", "SourceDatabaseUnreachable"]

Accept = Callable[[AcceptChanges], Accepted]
OnInvalid = Literal["stop", "skip"]


@dataclass
class Progress:
    """What one run did, for the CLI, the tests and the benchmark."""

    snapshot_rows: int = 0
    streamed: int = 0
    accepted: int = 0
    duplicates: int = 0
    skipped: int = 0
    transactions: int = 0
    confirmed_lsn: str | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, result: Accepted) -> None:
        self.accepted += result.accepted
        self.duplicates += result.duplicates


@dataclass
class _Transaction:
    begin: Begin
    changes: dict[tuple[str, str], Change] = field(default_factory=dict)


class PostgresConnector:
    """Reads one source database through one slot and publication, as one source system.

    Args:
        dsn: the source database (libpq URL or key=value); the role needs REPLICATION.
        slot: the logical replication slot's name; created on the first run.
        publication: the publication naming the tables (``CREATE PUBLICATION ... FOR TABLE``).
        mappings: the source system's mappings; they name the tables that are read.
        accept: the bus's ``accept`` (or anything that stores changes durably and says so).
        store: where the hub remembers whether the snapshot finished.
        batch: changes per accepted batch (and roughly per slot read).
        on_invalid: ``stop`` on a row that breaks its mapping (the slot stays before it, so a
            fixed mapping reads it again), or ``skip`` it with a warning naming it.
        snapshot: read the tables when the slot is created; without it, start from now.
    """

    def __init__(
        self,
        dsn: str,
        slot: str,
        publication: str,
        mappings: Mappings,
        accept: Accept,
        store: SlotMemory,
        batch: int = 1000,
        on_invalid: OnInvalid = "stop",
        snapshot: bool = True,
    ) -> None:
        self.dsn, self.slot, self.publication = dsn, slot, publication
        self.mappings, self.accept, self.store = mappings, accept, store
        self.batch, self.on_invalid, self.snapshot = batch, on_invalid, snapshot
        self.parser = Parser()

    # -- start: slot, publication and snapshot ------------------------------------------------

    def _connect(self, **kw: Any) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.dsn, autocommit=True, **kw)
        except psycopg.Error as exc:
            raise SourceDatabaseUnreachable(
                f"cannot connect to the source database: {exc}"
            ) from exc

    def check_source(self, conn: psycopg.Connection[Any]) -> None:
        """Refuse to start on a source that cannot work, saying what to change."""
        check_source_database(conn, self.publication, self.mappings)

    def _slot_exists(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute(
            "SELECT plugin FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
        ).fetchone()
        if row is not None and row[0] != "pgoutput":
            raise SourceDatabaseError(f"slot {self.slot!r} uses {row[0]}, not pgoutput")
        return row is not None

    def start(self, progress: Progress) -> None:
        """Make sure the slot exists and its snapshot is in the inbox."""
        with self._connect() as conn:
            self.check_source(conn)
            state = self.store.get(self.mappings.source, self.slot)
            done = state is not None and state.snapshot_done_at is not None
            if not self._slot_exists(conn):
                if done:
                    progress.notes.append(
                        f"slot {self.slot} was gone (dropped, or lost with its server); "
                        "creating it again with a new snapshot"
                    )
            elif done:
                return
            elif state is None and not self.snapshot:
                self.store.begin(self.mappings.source, self.slot, None, done=True)
                return
            elif state is None:
                raise SourceDatabaseError(
                    f"slot {self.slot!r} exists but Concord never read a snapshot through "
                    f"it; drop it (SELECT pg_drop_replication_slot('{self.slot}')) to "
                    "start with a snapshot, or pass --no-snapshot to stream from it as is"
                )
            else:
                # A snapshot that died half-way: its consistent point is gone with its
                # connection. Start again; re-read rows are the same images (no-ops).
                progress.notes.append("the last snapshot did not finish; starting it again")
                conn.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))
        self._create_slot_and_snapshot(progress)

    def _create_slot_and_snapshot(self, progress: Progress) -> None:
        with self._connect(replication="database") as repl:
            create = sql.SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput {}").format(
                sql.Identifier(slot_name(self.slot)),
                sql.SQL("EXPORT_SNAPSHOT" if self.snapshot else "NOEXPORT_SNAPSHOT"),
            )
            row = repl.execute(create).fetchone()
            assert row is not None
            consistent = lsn_to_int(row[1])
            self.store.begin(self.mappings.source, self.slot, consistent, done=not self.snapshot)
            if not self.snapshot:
                return
            # The exported snapshot lives while this connection stays open and idle.
            rows = self._read_snapshot(row[2], consistent, progress)
            self.store.finish_snapshot(self.mappings.source, self.slot, rows)
            progress.snapshot_rows += rows
            progress.confirmed_lsn = int_to_lsn(consistent)
            log.info("snapshot of %d rows at %s", rows, row[1])

    def _read_snapshot(self, snapshot_name: str, consistent: int, progress: Progress) -> int:
        changed_at = datetime.now(UTC)
        total = 0
        with self._connect() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_name)))
            for n, mapping in enumerate(self.mappings.tables.values()):
                changes: list[Change] = []
                for row in table_rows(
                    conn, mapping, f"concord_snapshot_{n}", self.batch, self.mappings.path
                ):
                    key = "?"
                    try:
                        key = mapping.key_of(row)
                        event_id = f"snap:{consistent}:{mapping.table}:{key}"
                        change = mapping.to_change(
                            row, "upsert", event_id, consistent - 1, changed_at
                        )
                    except RowRejected as exc:
                        self._invalid(exc)
                        continue
                    changes.append(change)
                    if len(changes) >= self.batch:
                        total += self._accept(changes, progress)
                        changes = []
                total += self._accept(changes, progress)
        return total

    # -- streaming --------------------------------------------------------------------------

    def poll(
        self, conn: psycopg.Connection[Any], progress: Progress, upto: str | None = None
    ) -> int:
        """Read, accept and confirm whole transactions (committed before ``upto`` when
        given); how many messages were read."""
        rows = conn.execute(
            "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes("
            "%s, %s::pg_lsn, %s, 'proto_version', '1', 'publication_names', %s)",
            (self.slot, upto, self.batch, self.publication),
        ).fetchall()
        changes: list[Change] = []
        tx: _Transaction | None = None
        confirm: str | None = None
        for lsn, data in rows:
            message = self.parser.parse(bytes(data))
            if isinstance(message, Begin):
                tx = _Transaction(message)
            elif isinstance(message, RowChange) and tx is not None:
                self._collect(tx, message)
            elif isinstance(message, Truncate):
                names = ", ".join(r.table for r in message.relations)
                log.warning("ignoring TRUNCATE of %s: the hub deletes nothing for it", names)
                progress.notes.append(f"ignored TRUNCATE of {names}")
            elif isinstance(message, Commit) and tx is not None:
                changes.extend(tx.changes.values())
                progress.transactions += 1
                confirm, tx = lsn, None
        if confirm is None:
            return 0
        progress.streamed += len(changes)
        for start in range(0, len(changes), self.batch):
            self._accept(changes[start : start + self.batch], progress)
        # Only now that the inbox holds them may the source forget them.
        conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (self.slot, confirm))
        self.store.confirm(self.mappings.source, self.slot, lsn_to_int(confirm))
        progress.confirmed_lsn = confirm
        return len(rows)

    def _collect(self, tx: _Transaction, message: RowChange) -> None:
        mapping = self.mappings.find(message.relation.table)
        if mapping is None:
            return
        begin = tx.begin
        try:
            if message.kind == "delete" or (  # a key that moved deletes the old record
                message.kind == "update" and message.old and _key_moved(mapping, message)
            ):
                old = message.old or {}
                key = mapping.key_of(old)
                event_id = f"pg:{begin.final_lsn}:{begin.xid}:{mapping.table}:{key}:d"
                tx.changes.pop((mapping.table, key), None)  # keep the last, in order
                tx.changes[(mapping.table, key)] = mapping.to_change(
                    old, "delete", event_id, begin.final_lsn, begin.committed_at
                )
            if message.new is not None:
                row = _fill_unchanged(mapping, message)
                key = mapping.key_of(row)
                event_id = f"pg:{begin.final_lsn}:{begin.xid}:{mapping.table}:{key}:u"
                tx.changes.pop((mapping.table, key), None)  # keep the last, in order
                tx.changes[(mapping.table, key)] = mapping.to_change(
                    row, "upsert", event_id, begin.final_lsn, begin.committed_at
                )
        except RowRejected as exc:
            self._invalid(exc)

    def _invalid(self, exc: RowRejected) -> None:
        if self.on_invalid == "stop":
            raise exc
        log.warning("skipping a row that breaks its mapping: %s", exc)

    def _accept(self, changes: list[Change], progress: Progress | None = None) -> int:
        if not changes:
            return 0
        result = self.accept(AcceptChanges(self.mappings.source, tuple(changes)))
        if progress is not None:
            progress.add(result)
        return len(changes)

    def run(
        self, once: bool = False, idle: float = 1.0, stop: Callable[[], bool] = lambda: False
    ) -> Progress:
        """Snapshot if needed, then stream. With ``once``, stop after the changes committed
        before the run began, so a busy source cannot keep a drain going for ever.

        Streaming outlives a restart of the source or the hub database: a lost connection is
        retried with backoff (up to 30 s), from the slot's confirmed position. ``once``
        fails instead, so a test or a script sees the error.
        """
        progress = Progress()
        delay = 0.5
        while not stop():
            try:
                self.start(progress)
                self._stream(once, idle, stop, progress)
                return progress
            except (psycopg.OperationalError, SourceDatabaseUnreachable, DBAPIError) as exc:
                if once or (isinstance(exc, DBAPIError) and not exc.connection_invalidated):
                    raise
                log.warning("connection lost (%s); retrying in %.1f s", exc, delay)
                progress.notes.append(f"reconnected after: {str(exc).splitlines()[0]}")
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline and not stop():
                    time.sleep(0.05)
                delay = min(delay * 2, 30.0)
        return progress

    def _stream(
        self, once: bool, idle: float, stop: Callable[[], bool], progress: Progress
    ) -> None:
        with self._connect() as conn:
            upto = None
            if once:
                row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
                upto = row[0] if row else None
            while not stop():
                if self.poll(conn, progress, upto) == 0:
                    if once:
                        break
                    time.sleep(idle)


def _key_moved(mapping: TableMapping, message: RowChange) -> bool:
    old, new = message.old or {}, message.new or {}
    return any(c in old and old.get(c) != new.get(c) for c in mapping.key)


def _fill_unchanged(mapping: TableMapping, message: RowChange) -> dict[str, Any]:
    """The new row, with TOASTed values the update did not send taken from the old row."""
    row = dict(message.new or {})
    for column in mapping.columns_needed:
        if row.get(column) is UNCHANGED:
            old = (message.old or {}).get(column, UNCHANGED)
            if old is UNCHANGED:
                raise RowRejected(
                    mapping.source,
                    mapping.table,
                    None,
                    f"column {column}",
                    "a large (TOASTed) value the update left unchanged was not sent; "
                    f"ALTER TABLE {mapping.table} REPLICA IDENTITY FULL",
                )
            row[column] = old
    return row
