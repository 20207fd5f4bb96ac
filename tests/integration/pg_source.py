"""A source PostgreSQL database with wal_level=logical for the logical decoding tests.

A throwaway cluster the tests start themselves (initdb + pg_ctl on a free port in a temporary
directory); the shared test server only where initdb is missing, and then only if it already
has wal_level=logical (.ci/run makes sure of it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.pg_cluster import ClusterUnavailable, ThrowawayCluster

SCHEMA = """
CREATE TABLE clients (id int PRIMARY KEY, name text, website text, country text);
CREATE TABLE employees (
    id int PRIMARY KEY, first_name text, last_name text, email text, skills text[],
    manager_id int
);
CREATE TABLE projects (
    id int PRIMARY KEY, code text, title text, starts date, budget numeric(12, 2),
    billable boolean, state char(1), client_id int, manager_id int
);
CREATE PUBLICATION concord FOR TABLE clients, employees, projects;
"""


@pytest.fixture(scope="session")
def source_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server URL (libpq form) whose wal_level is logical."""
    try:
        cluster = ThrowawayCluster().start()
    except ClusterUnavailable as exc:
        shared = str(request.getfixturevalue("pg_server")).replace("+psycopg", "")
        with psycopg.connect(shared) as conn:
            row = conn.execute("SHOW wal_level").fetchone()
        if not row or row[0] != "logical":
            why = f"no throwaway cluster ({exc}) and the shared server is not wal_level=logical"
            if os.environ.get("CONCORD_REQUIRE_POSTGRES"):
                pytest.fail(why)
            pytest.skip(why)
        yield shared
        return
    try:
        yield cluster.url()
    finally:
        cluster.stop()


@pytest.fixture
def source_db(source_server: str) -> Iterator[str]:
    """A fresh source database with the PSA's tables and a publication; dropped afterwards
    with every slot on it."""
    name = f"concord_src_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(source_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = source_server.rpartition("/")[0] + f"/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
    yield url
    with psycopg.connect(source_server, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = %s",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
