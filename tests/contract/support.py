"""The stores the contract tests run against, each behind the same small test-side surface.

A ``Store`` hands out units of work (the port the services use) and, for what the port writes
but never reads back (outbox rows, golden versions, dead letters, the audit log, inbox
statuses), a per-implementation "peek" at the *committed* state. The peeks are test support
only: the product gains no reader for the tests' sake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy.exc
from sqlalchemy import Engine, select

from hub.domain.model import Change, GoldenRecord, SourceRecord
from hub.domain.spec import SourceSpec
from hub.services.ports import UnitOfWork
from hub.store import tables as t
from hub.store.db import make_engine
from hub.store.sql import table_of
from hub.store.uow import SqlUnitOfWork, admin_session, session_factory
from tests.migrated import migrate
from tests.unit.fakes import FakeDatabase, FakeIntegrityError, FakeUnitOfWork

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

SOURCES = (
    SourceSpec("crm", "crm", 0),
    SourceSpec("northwind-crm", "crm", 1),
    SourceSpec("erp", "erp", 0),
)
"""Registered in every store before a test starts (the fake's constructor, the SQL table)."""

UNIQUE_VIOLATION: tuple[type[Exception], ...] = (
    FakeIntegrityError,
    sqlalchemy.exc.IntegrityError,
    psycopg.IntegrityError,  # COPY on PostgreSQL reports it from the driver, unwrapped
)
"""What a broken unique constraint raises in each store (the services never catch it; they rely
on the write failing, so a concurrent duplicate cannot slip in)."""


@dataclass
class Store:
    """One implementation of the storage port, plus peeks at what it committed."""

    name: str
    uow: Callable[[], UnitOfWork]
    outbox: Callable[[], list[dict[str, Any]]]
    versions: Callable[[str], list[dict[str, Any]]]
    dead_letters: Callable[[], list[dict[str, Any]]]
    audit: Callable[[], list[tuple[str, str, dict[str, Any]]]]
    inbox: Callable[[], dict[str, str]]


def fake_store() -> Store:
    db = FakeDatabase(SOURCES)

    def outbox() -> list[dict[str, Any]]:
        return [_outbox_row(r) for r in sorted(db.state.outbox, key=lambda r: r["seq"])]

    def versions(golden_id: str) -> list[dict[str, Any]]:
        return [_version_row(v) for v in db.versions_of(golden_id)]

    def dead_letters() -> list[dict[str, Any]]:
        return [_dead_row(d) for d in sorted(db.state.dead_letters, key=lambda d: d["id"])]

    return Store(
        name="fake",
        uow=lambda: FakeUnitOfWork(db),
        outbox=outbox,
        versions=versions,
        dead_letters=dead_letters,
        audit=lambda: list(db.audit),
        inbox=db.inbox_status,
    )


def sql_store(name: str, url: str) -> tuple[Store, Engine]:
    """A migrated database behind the SQL unit of work; the caller disposes of the engine."""
    migrate(url)
    engine = make_engine(url)
    with admin_session(engine) as s:
        for spec in SOURCES:
            s.add(
                t.SourceSystem(
                    name=spec.name, kind=spec.kind, rank=spec.rank, domains=[], created_at=T0
                )
            )
    factory = session_factory(engine)

    reader = engine.execution_options(readonly=True)  # a plain BEGIN: never waits on a writer

    def rows(model: type[t.Base], *where: Any, order: Any) -> list[dict[str, Any]]:
        table = table_of(model)
        with reader.connect() as conn:
            stmt = select(table).where(*where).order_by(order(table))
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def outbox() -> list[dict[str, Any]]:
        return [_outbox_row(r) for r in rows(t.OutboxRow, order=lambda tb: tb.c.seq)]

    def versions(golden_id: str) -> list[dict[str, Any]]:
        gv = table_of(t.GoldenVersionRow)
        found = rows(t.GoldenVersionRow, gv.c.golden_id == golden_id, order=lambda tb: tb.c.version)
        return [_version_row(v) for v in found]

    def dead_letters() -> list[dict[str, Any]]:
        return [_dead_row(d) for d in rows(t.DeadLetter, order=lambda tb: tb.c.id)]

    def audit() -> list[tuple[str, str, dict[str, Any]]]:
        found = rows(t.AuditLog, order=lambda tb: tb.c.id)
        return [(r["actor"], r["action"], r["detail"]) for r in found]

    def inbox() -> dict[str, str]:
        return {r["event_id"]: r["status"] for r in rows(t.InboxRow, order=lambda tb: tb.c.id)}

    store = Store(
        name=name,
        uow=lambda: SqlUnitOfWork(factory),
        outbox=outbox,
        versions=versions,
        dead_letters=dead_letters,
        audit=audit,
        inbox=inbox,
    )
    return store, engine


def _outbox_row(r: dict[str, Any]) -> dict[str, Any]:
    keep = ("event_id", "domain", "golden_id", "version", "type", "correlation_id")
    return {k: r[k] for k in keep} | {"payload": r["payload"]}


def _version_row(v: dict[str, Any]) -> dict[str, Any]:
    keep = ("version", "status", "attributes", "xref", "changed_fields", "cause")
    return {k: v[k] for k in keep}


def _dead_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": d["id"],
        "inbox_id": d["inbox_id"],
        "source": d["source"],
        "event_id": d["event_id"],
        "key": d["payload"]["key"],
        "reason": d["reason"],
        "replayed": d.get("replayed_at") is not None,
    }


# -- values to store ---------------------------------------------------------------------------


def change(
    key: str,
    seq: int,
    source: str = "crm",
    domain: str = "client",
    event_id: str | None = None,
    **attributes: Any,
) -> Change:
    return Change(
        source=source,
        domain=domain,
        key=key,
        op="upsert",
        event_id=event_id or f"{source}-{key}-{seq}",
        attributes=dict(attributes) or {"name": f"Client {key}"},
        changed_at=T0 + timedelta(seconds=seq),
        sequence=seq,
    )


def record(
    key: str,
    golden_id: str | None = None,
    source: str = "crm",
    domain: str = "client",
    **attributes: Any,
) -> SourceRecord:
    """A source record not yet stored (``save`` inserts it)."""
    return SourceRecord(
        source=source,
        domain=domain,
        key=key,
        attributes=dict(attributes) or {"name": f"Client {key}"},
        changed_at=T0,
        sequence=1,
        digest="d" * 32,
        golden_id=golden_id,
        link_rule="new" if golden_id else "",
    )


def golden(gid: str, domain: str = "client", version: int = 1, **attributes: Any) -> GoldenRecord:
    """A golden record as the applier hands it to ``save`` (version 1: a new one)."""
    return GoldenRecord(
        id=gid,
        domain=domain,
        version=version,
        status="active",
        attributes=dict(attributes) or {"name": f"Golden {gid}"},
        provenance={"name": {"source": "crm", "key": "k", "rule": "most_recent"}},
        references={},
        xref=[{"source": "crm", "key": "k"}],
    )


def gid(n: int) -> str:
    """A golden id shaped like the applier's (a UUID), sorting by ``n``."""
    return f"00000000-0000-4000-8000-{n:012d}"
