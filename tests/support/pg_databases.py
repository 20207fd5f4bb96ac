"""PostgreSQL databases for the tests, one per test, without paying for one each time.

A test gets a database no other test uses, at the newest schema and without rows. Making one
as a copy of a migrated template costs 0.2-0.4 s here (``CREATE DATABASE`` writes the whole
template, catalogs included, through the WAL and waits for the disk), and some 340 tests ask
for one. So a database a test has finished with is made clean again and handed to the next
test of the same process instead:

- every connection to it is ended, and it is renamed: a process the test left running cannot
  reconnect and write into the next test's data (the rename fails if one got back in first,
  and then the database is dropped as before);
- its schema must still be the template's (tables, columns, indexes, constraints, triggers
  and whether each is enabled, publications, replication slots, the Alembic revision); if the
  test changed any of that (the audit test disables the append-only trigger), it is dropped;
- then every row goes and every sequence starts again at 1, in one transaction.

Commits in these databases do not wait for the WAL to reach the disk
(``synchronous_commit = off``): the tests kill the hub's processes, never PostgreSQL, so
what every test reads is the same, and a thousand small commits stop waiting on a shared disk.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

FINGERPRINT = """
SELECT
  (SELECT md5(string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname))
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public'),
  (SELECT md5(string_agg(table_name || '.' || column_name || ':' || data_type || ':'
                         || is_nullable, ',' ORDER BY table_name, column_name))
     FROM information_schema.columns WHERE table_schema = 'public'),
  (SELECT count(*) FROM pg_namespace),
  (SELECT count(*) FROM pg_publication),
  (SELECT count(*) FROM pg_replication_slots WHERE database = current_database()),
  (SELECT md5(string_agg(tgname || ':' || tgenabled::text, ',' ORDER BY tgname))
     FROM pg_trigger),
  (SELECT md5(string_agg(conname || ':' || convalidated::text, ',' ORDER BY conname))
     FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = 'public'),
  (SELECT string_agg(version_num, ',') FROM alembic_version)
"""


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class Databases:
    """Databases on one server for one test process: ``take`` a clean copy of the migrated
    template, ``give_back`` when the test is done, ``close`` at the end of the session."""

    def __init__(self, server: str, template: str) -> None:
        self.server = server
        self.template = template
        self.spare: list[str] = []
        self.made: set[str] = set()  # every name this process gave a database, dropped at close
        self.expected = self._fingerprint(template)

    def url(self, name: str) -> str:
        return database_url(self.server, name)

    def take(self) -> str:
        if self.spare:
            return self.url(self.spare.pop())
        name = fresh_name()
        self.made.add(name)
        return create_database(self.server, name, self.template)

    def give_back(self, url: str) -> None:
        name = url.rpartition("/")[2]
        clean = self._reset(name)
        if clean is None:
            drop_database(self.server, name)
        else:
            self.spare.append(clean)

    def close(self) -> None:
        """Drop what is left, spare or not: a reset that failed midway leaves a database
        under its new name, which must not outlive the run."""
        self.spare.clear()
        for name in sorted(self.made):
            drop_database(self.server, name)
        self.made.clear()

    def _reset(self, name: str) -> str | None:
        """The database clean again under a new name, or None when it must be dropped."""
        new = fresh_name()
        self.made.add(new)
        with psycopg.connect(libpq(self.server), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            try:
                admin.execute(f'ALTER DATABASE "{name}" RENAME TO "{new}"')
            except psycopg.errors.ObjectInUse:  # someone connected again meanwhile
                return None
        self.made.discard(name)
        with psycopg.connect(libpq(self.url(new))) as conn:
            if self._read_fingerprint(conn) != self.expected:
                conn.rollback()
                drop_database(self.server, new)
                return None
            conn.execute("SET LOCAL session_replication_role = replica")  # no FK order
            for (table,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            ).fetchall():
                conn.execute(f'DELETE FROM "{table}"')
            for (seq,) in conn.execute(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
            ).fetchall():
                conn.execute("SELECT setval(%s, 1, false)", (f'"{seq}"',))
            conn.commit()
        return new

    def _fingerprint(self, name: str) -> tuple[Any, ...]:
        with psycopg.connect(libpq(self.url(name))) as conn:
            return self._read_fingerprint(conn)

    @staticmethod
    def _read_fingerprint(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
        row = conn.execute(FINGERPRINT).fetchone()
        assert row is not None
        return tuple(row)


def fresh_name() -> str:
    return f"concord_test_{uuid.uuid4().hex[:12]}"


def create_database(server: str, name: str, template: str | None = None) -> str:
    """A new database on ``server`` (empty, or a copy of ``template``); returns its URL."""
    with psycopg.connect(libpq(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    return database_url(server, name)


def database_url(server: str, name: str) -> str:
    """The URL of database ``name`` on the server ``server`` (a URL of any of its databases)."""
    return f"{server.rpartition('/')[0]}/{name}"


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
