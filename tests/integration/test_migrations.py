"""The Alembic history: up, down to nothing, up again, and in step with the ORM models."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, create_engine, inspect

from hub.store.migrate import downgrade, upgrade
from hub.store.tables import Base

pytestmark = pytest.mark.empty_database  # on PostgreSQL; SQLite files start empty anyway


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _diff(url: str, metadata: MetaData = Base.metadata) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": False}
            )
            return list(compare_metadata(ctx, metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    upgrade(db_url)
    expected = set(Base.metadata.tables)
    assert expected <= _tables(db_url)

    downgrade(db_url)
    assert _tables(db_url) == {"alembic_version"}

    upgrade(db_url)
    assert _tables(db_url) == expected | {"alembic_version"}


def test_models_match_migrated_schema(db_url: str) -> None:
    """A model change without a migration makes this fail (autogenerate finds a diff)."""
    upgrade(db_url)
    assert _diff(db_url) == []


def test_downgrade_then_upgrade_schema_still_matches(db_url: str) -> None:
    upgrade(db_url)
    downgrade(db_url)
    upgrade(db_url)
    assert _diff(db_url) == []


def test_compare_detects_a_model_without_migration(db_url: str) -> None:
    """The guard itself works: a column the migrations do not create shows up as a diff."""
    upgrade(db_url)
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    metadata.tables["outbox"].append_column(Column("not_migrated", String(10)))
    diff = _diff(db_url, metadata)
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "outbox", "not_migrated")], (
        diff
    )


def test_0019_indexes_the_audit_entries_written_before_it(db_url: str) -> None:
    """The trail's index of audit entries by golden id (issue 16, must-have 4) is filled for
    the entries the log held before the revision, ids nested or inside a sentence too."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from hub.store.tables import AuditGolden, AuditLog

    upgrade(db_url)
    downgrade(db_url, "0018")
    a, b = "0b6f7f5e-3c1a-4d2b-9a55-1f2e3d4c5b6a", "9e8d7c6b-5a49-4c3b-8a2f-1e0d9c8b7a65"
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            entries = [
                {"golden.split": {"before": a, "after": b, "reason": "two firms"}},
                {"golden.merge": {"merged": [{"golden_id": a}], "note": f"into {b}"}},
                {"source.add": {"name": "crm"}},
            ]
            for n, entry in enumerate(entries):
                [(action, detail)] = entry.items()
                conn.execute(
                    insert(AuditLog.__table__).values(
                        at=datetime.now(UTC), actor="ann", action=action, detail=detail,
                        prev_hash=str(n), hash=str(n + 1),
                    )
                )  # fmt: skip
        upgrade(db_url)
        with engine.connect() as conn:
            rows = conn.execute(select(AuditGolden.golden_id, AuditGolden.audit_id)).all()
            ids = dict(conn.execute(select(AuditLog.action, AuditLog.id)).all())
    finally:
        engine.dispose()
    assert sorted(rows) == sorted(
        [(a, ids["golden.split"]), (b, ids["golden.split"]), (a, ids["golden.merge"]),
         (b, ids["golden.merge"])]
    )  # fmt: skip


def test_0020_gives_pending_inbox_rows_their_partitions(db_url: str) -> None:
    """Rows waiting when the hub is upgraded get their records' partitions (issue 14,
    must-have 2), so a record's waiting and new changes are claimed together; rows already
    applied keep 0."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from hub.store.inbox_partitions import partition_of

    upgrade(db_url)
    downgrade(db_url, "0019")
    engine = create_engine(db_url)
    keys = [f"C-{i}" for i in range(1500)]  # more than the revision's pages of 1,000
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO inbox (source, event_id, domain, source_key, op, changed_at,"
                    " attributes, received_at, status) VALUES (:s, :e, 'client', :k, 'upsert',"
                    " :t, '{}', :t, :status)"
                ),
                [
                    {"s": "crm", "e": k, "k": k, "t": datetime.now(UTC),
                     "status": "applied" if i % 3 == 0 else "pending"}
                    for i, k in enumerate(keys)
                ],
            )  # fmt: skip
        upgrade(db_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT source_key, status, partition FROM inbox")).all()
    finally:
        engine.dispose()
    assert len(rows) == len(keys)
    for key, status, part in rows:
        assert part == (partition_of("crm", "client", key) if status == "pending" else 0), key
