"""The test databases' pool (tests/support/pg_databases.py) hands every test a database no
earlier test can still reach, at the template's schema and without rows: the whole suite's
isolation on PostgreSQL rests on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.support.pg_databases import Databases, libpq

pytestmark = pytest.mark.postgres


def _rows(url: str) -> tuple[int, int]:
    with psycopg.connect(libpq(url)) as conn:
        count = conn.execute("SELECT count(*) FROM steward_comment").fetchone()
        nextval = conn.execute(
            "SELECT nextval(pg_get_serial_sequence('steward_comment', 'id'))"
        ).fetchone()
    assert count is not None and nextval is not None
    return int(count[0]), int(nextval[0])


def _comment(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO steward_comment (kind, target, author, text, created_at) "
        "VALUES ('golden', 'g', 'ann', 'x', now())"
    )


@pytest.fixture
def pool(pg_server: str, pg_template: str) -> Iterator[Databases]:
    """A pool of its own, apart from the one the suite's tests run on."""
    dbs = Databases(pg_server, pg_template)
    yield dbs
    dbs.close()


def test_a_database_given_back_comes_again_renamed_empty_and_out_of_reach(
    pool: Databases,
) -> None:
    first = pool.take()
    left_open = psycopg.connect(libpq(first), autocommit=True)
    for _ in range(3):
        _comment(left_open)
    pool.give_back(first)
    second = pool.take()
    assert second != first  # renamed: what still knows the old name cannot reconnect
    with pytest.raises(psycopg.OperationalError):
        _comment(left_open)  # its connection was ended
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(libpq(first))
    assert _rows(second) == (0, 1)  # no row, and ids start again at 1


def test_a_database_whose_schema_a_test_changed_is_dropped_not_reused(
    pool: Databases, pg_server: str
) -> None:
    url = pool.take()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("ALTER TABLE steward_comment ADD COLUMN extra text")
    pool.give_back(url)
    assert pool.spare == []
    url = pool.take()  # a trigger turned off counts too (the audit test does that)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    pool.give_back(url)
    assert pool.spare == []
    with psycopg.connect(libpq(pg_server), autocommit=True) as admin:
        left = admin.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (url.rpartition("/")[2],)
        ).fetchone()
    assert left == (0,)
