"""Shared fixtures: a fresh database per test on SQLite, and on a real PostgreSQL.

PostgreSQL comes from ``CONCORD_TEST_DATABASE_URL`` when set (a server URL; each test run
creates and drops its own database on it), else the local server at 127.0.0.1:5432, else
testcontainers where Docker runs, else the PostgreSQL tests skip with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.bootstrap import Hub, bootstrap
from hub.config import Settings, load_config
from hub.domain.model import Change
from hub.runtime import memory
from hub.store import access
from hub.store.migrate import upgrade
from hub.store.uow import admin_session
from tests.migrated import migrate
from tests.support.kafka import kafka_broker  # noqa: F401  (the session's Kafka-protocol broker)
from tests.support.pg_databases import Databases, create_database, drop_database, fresh_name
from tests.support.workers import usable_cores, worker_count

# The tests' webhook receivers listen on 127.0.0.1, which a hub refuses by default (issue 19,
# item 14); hubs and `concord serve` processes started by the tests inherit this. The tests of
# the refusal build their hub with webhook_allow_private="".
os.environ.setdefault("CONCORD_WEBHOOK_ALLOW_PRIVATE", "1")

LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Each worker settles its collector as a long-running hub process does
    (hub/runtime/memory.py): what collection built lives as long as the run, and the default
    collector took a quarter of the suite's CPU. The commands the tests run in process then
    leave it as it is."""
    memory.settle()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (the default in pyproject.toml): tests/support/workers.py says why."""
    return worker_count(usable_cores())


def _server_url() -> tuple[str | None, str]:
    url = os.environ.get("CONCORD_TEST_DATABASE_URL")
    if url:
        return url, "CONCORD_TEST_DATABASE_URL"
    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3):
            return LOCAL_PG, "local server"
    except psycopg.Error as exc:
        local_error = str(exc).strip()
    try:
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]
    except ImportError:
        return None, f"no PostgreSQL: local server unreachable ({local_error}); no testcontainers"
    try:  # pragma: no cover - only where Docker runs
        container = PostgresContainer("postgres:16")
        container.start()
        url = container.get_connection_url().replace("psycopg2", "psycopg")
        return url, "testcontainers"
    except Exception as exc:  # pragma: no cover
        return None, f"no PostgreSQL: local server unreachable, testcontainers failed: {exc}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    url, why = _server_url()
    if url is None:
        if os.environ.get("CONCORD_REQUIRE_POSTGRES"):
            pytest.fail(why)
        pytest.skip(why)
    return url


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """This test process's database migrated once, for ``pg_url`` to copy: running the Alembic
    history costs about a second a database, ``CREATE DATABASE ... TEMPLATE`` a fraction.
    Made by this process and dropped when it ends, so no test relies on another run's."""
    name = f"concord_template_{uuid.uuid4().hex[:12]}"
    try:
        upgrade(create_database(pg_server, name))  # NullPool: no connection stays
        yield name
    finally:
        drop_database(pg_server, name)


@pytest.fixture(scope="session")
def pg_databases(pg_server: str, pg_template: str) -> Iterator[Databases]:
    dbs = Databases(pg_server, pg_template)
    yield dbs
    dbs.close()


@pytest.fixture
def pg_url(pg_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database for this test alone: at the newest schema without rows (every hub migrates
    first anyway; tests/support/pg_databases.py says how it is made cheaply), or empty for a
    test marked ``empty_database`` (migrations, a command run before ``migrate``)."""
    if request.node.get_closest_marker("empty_database") is not None:
        name = fresh_name()
        yield create_database(pg_server, name)
        drop_database(pg_server, name)
        return
    dbs: Databases = request.getfixturevalue("pg_databases")
    url = dbs.take()
    yield url
    dbs.give_back(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'concord.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


CONTACT_KEYS = """
domains:
  client:
    keys:
      website: [[website, website]]
  resource:
    keys:
      email: [[email, email]]
"""
"""A firm's concord.yaml that declares a website and an e-mail as identity (the defaults do
not: they are evidence). The tests of key mechanics (a record bridging two keys, keys that
reach two golden records, two workers racing on one key) were written with these keys; they
run with this overlay, which is also how a firm keeps the old behaviour."""


def make_hub(url: str, contact_keys: bool = False, **settings: object) -> Hub:
    config = load_config(text=CONTACT_KEYS) if contact_keys else None
    hub = bootstrap(Settings(database_url=url, **settings), config=config)  # type: ignore[arg-type]
    migrate(url)  # SQLite: a copy of a file migrated once per process (tests/migrated.py)
    return hub


@pytest.fixture
def hub(db_url: str, request: pytest.FixtureRequest) -> Iterator[Hub]:
    h = make_hub(db_url, contact_keys=request.node.get_closest_marker("contact_keys") is not None)
    yield h
    h.close()


SOURCE_DOMAINS = {
    "crm": ["client", "project"],
    "erp": ["client", "project", "resource"],
    "psa": ["client", "project", "resource"],
    "hr": ["resource"],
    "time": ["resource"],
}


@pytest.fixture
def keys(hub: Hub) -> dict[str, str]:
    """One source key per demo system, plus a subscriber and an admin key."""
    out: dict[str, str] = {}
    with admin_session(hub.engine) as s:
        for name, domains in SOURCE_DOMAINS.items():
            out[name] = access.add_source(s, name, domains, None, None, set(hub.config.domains))
        out["reader"] = access.create_key(s, "reader", "subscriber")
        out["admin"] = access.create_key(s, "ops", "admin")
    return out


class Api:
    """A test client that speaks as one source or another, and applies the inbox on demand."""

    def __init__(self, hub: Hub, keys: dict[str, str]) -> None:
        self.hub = hub
        self.keys = keys
        self.client = TestClient(create_app(hub, run_worker=False))

    def post(self, source: str, *changes: dict[str, object]) -> object:
        return self.client.post(
            "/api/v1/changes", json={"changes": list(changes)}, headers=self.auth(source)
        )

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, path: str, who: str = "reader") -> object:
        return self.client.get(path, headers=self.auth(who))

    def apply(self) -> object:
        return self.hub.bus.drain()

    def golden_of(self, source: str, domain: str, key: str) -> dict[str, object]:
        r = self.client.get(f"/api/v1/xref/{source}/{domain}/{key}", headers=self.auth("reader"))
        assert r.status_code == 200, r.text
        gid = r.json()["golden_id"]
        g = self.client.get(f"/api/v1/golden/{domain}/{gid}", headers=self.auth("reader"))
        assert g.status_code == 200, g.text
        body: dict[str, object] = g.json()
        return body


@pytest.fixture
def api(hub: Hub, keys: dict[str, str]) -> Api:
    return Api(hub, keys)


ChangeFactory = Callable[..., dict[str, object]]


@pytest.fixture
def change() -> ChangeFactory:
    def make(
        domain: str, key: str, seq: int | None = None, op: str = "upsert", **attributes: object
    ) -> dict[str, object]:
        c: dict[str, object] = {"domain": domain, "key": key, "op": op, "attributes": attributes}
        if seq is not None:
            c["sequence"] = seq
        return c

    return make


@pytest.fixture(autouse=True)
def _no_silent_batch_split(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """A batch that fails whole is applied change by change, which can hide a bug behind a
    correct end state. Fail any test where that happens unless it says it expects it."""
    yield
    if request.node.get_closest_marker("batch_failure_expected"):
        return
    split = [r for r in caplog.get_records("call") if "applying one by one" in r.getMessage()]
    assert not split, f"a batch failed and was split: {split[0].getMessage()}"


def crm_client_change(key: str, seq: int, **attrs: object) -> Change:
    """A CRM client change as the bus takes it (event id and time follow the sequence), for
    tests that drive the bus directly rather than over HTTP."""
    return Change(
        source="crm",
        domain="client",
        key=key,
        op="upsert",
        event_id=f"{key}-{seq}",
        attributes=dict(attrs),
        changed_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq),
        sequence=seq,
    )
