"""The PostgreSQL logical decoding connector against a real server with wal_level=logical."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from connectors.inbound.mappings import Mappings, RowRejected, load_mappings
from connectors.inbound.pg_logical import PostgresConnector, Progress, SourceDatabaseError
from hub.bootstrap import Hub
from hub.domain.commands import AcceptChanges
from hub.services.handlers import Accepted
from hub.store.cdc_slots import SlotStore
from hub.store.tables import InboxRow
from tests.conftest import Api
from tests.integration.pg_source import source_db, source_server

__all__ = ["source_db", "source_server"]  # fixtures, imported to be found

MAPPING = "examples/mappings/psa-postgres.yaml"


@pytest.fixture
def mappings(hub: Hub) -> Mappings:
    return load_mappings(MAPPING, hub.config)


def connector(
    hub: Hub, source_db: str, mappings: Mappings, slot: str, **kw: Any
) -> PostgresConnector:
    accept = kw.pop("accept", hub.bus.accept)
    return PostgresConnector(
        source_db, slot, "concord", mappings, accept, SlotStore(hub.engine), **kw
    )


def new_slot() -> str:
    return f"concord_{uuid.uuid4().hex[:10]}"


def sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)  # type: ignore[arg-type]


def inbox(hub: Hub) -> list[tuple[str, str, str]]:
    with hub.engine.connect() as conn:
        rows = conn.execute(
            select(InboxRow.domain, InboxRow.source_key, InboxRow.op).order_by(InboxRow.id)
        ).all()
    return [(d, k, o) for d, k, o in rows]


def test_snapshot_then_stream_into_golden_records(
    api: Api, source_db: str, mappings: Mappings
) -> None:
    sql(
        source_db,
        "INSERT INTO clients VALUES (1, ' Acme Ltd ', 'https://ACME.example', 'gb')",
        "INSERT INTO employees VALUES (5, 'Ada', 'Byron', 'ADA@acme.example', "
        "'{python,\"data modelling\"}', NULL)",
    )
    slot = new_slot()
    first = connector(api.hub, source_db, mappings, slot).run(once=True)
    assert (first.snapshot_rows, first.streamed, first.accepted) == (2, 0, 2)

    sql(
        source_db,
        "INSERT INTO projects VALUES (9, 'prj-9', 'Migration', '2026-02-01', 125000.50, true, "
        "'A', 1, 5)",
        "UPDATE clients SET name = 'Acme Limited' WHERE id = 1",
        "INSERT INTO clients VALUES (2, 'Gone Co', NULL, 'FR')",
        "DELETE FROM clients WHERE id = 2",
    )
    second = connector(api.hub, source_db, mappings, slot).run(once=True)
    assert second.snapshot_rows == 0
    assert second.transactions == 4
    assert second.accepted == 4  # project, client 1, client 2 upsert, client 2 delete
    api.apply()

    client = api.golden_of("psa", "client", "1")
    assert client["attributes"]["name"] == "Acme Limited"  # type: ignore[index]
    assert client["attributes"]["website"] == "https://acme.example"  # type: ignore[index]
    assert client["attributes"]["country"] == "GB"  # type: ignore[index]
    person = api.golden_of("psa", "resource", "5")
    assert person["attributes"]["skills"] == ["data modelling", "python"] or person["attributes"][
        "skills"
    ] == ["python", "data modelling"]  # type: ignore[index]
    project = api.golden_of("psa", "project", "9")
    attrs = project["attributes"]
    assert attrs["code"] == "PRJ-9"  # type: ignore[index]
    assert attrs["start_date"] == "2026-02-01"  # type: ignore[index]
    assert attrs["contract_value"] == 125000.5  # type: ignore[index]
    assert attrs["billable"] is True  # type: ignore[index]
    assert attrs["status"] == "active"  # type: ignore[index]
    assert project["references"]["client"] == client["id"]  # type: ignore[index]
    assert ("client", "2", "delete") in inbox(api.hub)


def test_no_gap_and_no_duplicate_while_the_source_is_written(
    hub: Hub, source_db: str, mappings: Mappings
) -> None:
    """Rows inserted before, during and after the snapshot each arrive exactly once."""
    sql(source_db, "INSERT INTO clients SELECT g, 'c' || g FROM generate_series(1, 300) g")
    started = threading.Event()
    slot = new_slot()
    last = [300]

    def writer() -> None:
        """Writes before the slot exists, while it is made and snapshotted, and 300 rows after."""
        after_slot = None
        with psycopg.connect(source_db, autocommit=True) as conn:
            for n in range(301, 20_000):
                conn.execute("INSERT INTO clients VALUES (%s, %s)", (n, f"c{n}"))
                last[0] = n
                started.set()
                if after_slot is None and n % 10 == 0:
                    found = conn.execute(
                        "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)
                    ).fetchone()
                    after_slot = n + 300 if found else None
                if after_slot is not None and n >= after_slot:
                    return

    thread = threading.Thread(target=writer)
    thread.start()
    started.wait(10)
    try:
        first = connector(hub, source_db, mappings, slot, batch=50).run(once=True)
    finally:
        thread.join()
    rest = connector(hub, source_db, mappings, slot, batch=50).run(once=True)
    assert first.snapshot_rows > 300  # the writer was busy before the slot...
    assert first.streamed + rest.streamed > 0  # ...and after it
    keys = [k for d, k, _ in inbox(hub) if d == "client"]
    assert sorted(map(int, keys)) == list(range(1, last[0] + 1))


def test_a_crash_before_the_slot_is_confirmed_rereads_as_duplicates(
    hub: Hub, source_db: str, mappings: Mappings
) -> None:
    slot = new_slot()
    connector(hub, source_db, mappings, slot).run(once=True)
    sql(source_db, "INSERT INTO clients VALUES (1, 'One')", "INSERT INTO clients VALUES (2, 'Two')")

    def accept_then_crash(cmd: AcceptChanges) -> Accepted:
        hub.bus.accept(cmd)
        raise RuntimeError("killed after the inbox commit, before the slot advanced")

    with pytest.raises(RuntimeError, match="killed"):
        connector(hub, source_db, mappings, slot, accept=accept_then_crash).run(once=True)
    again = connector(hub, source_db, mappings, slot).run(once=True)
    assert (again.streamed, again.accepted, again.duplicates) == (2, 0, 2)
    assert len(inbox(hub)) == 2
    assert connector(hub, source_db, mappings, slot).run(once=True).streamed == 0


def test_a_snapshot_that_died_half_way_is_read_again(
    hub: Hub, source_db: str, mappings: Mappings
) -> None:
    sql(source_db, "INSERT INTO clients SELECT g, 'c' || g FROM generate_series(1, 30) g")
    calls = [0]

    def die_on_second_batch(cmd: AcceptChanges) -> Accepted:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("killed mid-snapshot")
        return hub.bus.accept(cmd)

    slot = new_slot()
    with pytest.raises(RuntimeError, match="mid-snapshot"):
        connector(hub, source_db, mappings, slot, batch=10, accept=die_on_second_batch).run(
            once=True
        )
    assert SlotStore(hub.engine).get("psa", slot).snapshot_done_at is None  # type: ignore[union-attr]
    rerun = connector(hub, source_db, mappings, slot, batch=10).run(once=True)
    assert rerun.snapshot_rows == 30
    assert "did not finish" in rerun.notes[0]
    with hub.engine.connect() as conn:
        keys = conn.execute(select(func.count(func.distinct(InboxRow.source_key)))).scalar_one()
    assert keys == 30


def test_a_key_change_deletes_the_old_record_and_several_changes_in_one_transaction_collapse(
    hub: Hub, source_db: str, mappings: Mappings
) -> None:
    slot = new_slot()
    connector(hub, source_db, mappings, slot).run(once=True)
    with psycopg.connect(source_db) as conn:
        conn.execute("INSERT INTO clients VALUES (1, 'a')")
        conn.execute("UPDATE clients SET name = 'b' WHERE id = 1")
        conn.execute("UPDATE clients SET name = 'c' WHERE id = 1")
    sql(source_db, "UPDATE clients SET id = 7 WHERE id = 1")
    progress = connector(hub, source_db, mappings, slot).run(once=True)
    assert progress.transactions == 2
    assert inbox(hub) == [
        ("client", "1", "upsert"),
        ("client", "1", "delete"),
        ("client", "7", "upsert"),
    ]
    hub.bus.drain()


def test_truncate_is_ignored_with_a_note(hub: Hub, source_db: str, mappings: Mappings) -> None:
    sql(source_db, "INSERT INTO clients VALUES (1, 'One')")
    slot = new_slot()
    connector(hub, source_db, mappings, slot).run(once=True)
    sql(source_db, "TRUNCATE clients")
    progress = connector(hub, source_db, mappings, slot).run(once=True)
    assert progress.accepted == 0
    assert progress.notes == ["ignored TRUNCATE of public.clients"]


def test_a_bad_row_stops_the_connector_before_the_slot_moves_or_is_skipped(
    hub: Hub, source_db: str, mappings: Mappings
) -> None:
    slot = new_slot()
    connector(hub, source_db, mappings, slot).run(once=True)
    sql(
        source_db,
        "INSERT INTO projects VALUES (1, 'P1', 'x', NULL, NULL, NULL, 'Z', 3, NULL)",
        "INSERT INTO clients VALUES (3, 'Three')",
    )
    with pytest.raises(RowRejected) as info:
        connector(hub, source_db, mappings, slot).run(once=True)
    assert str(info.value).startswith("psa public.projects key '1': column state (status)")
    assert inbox(hub) == []  # nothing of the read was accepted; the slot did not move
    skipped = connector(hub, source_db, mappings, slot, on_invalid="skip").run(once=True)
    assert (skipped.streamed, skipped.accepted) == (1, 1)
    assert inbox(hub) == [("client", "3", "upsert")]


def test_a_source_that_cannot_work_is_refused_with_what_to_do(
    hub: Hub, source_db: str, mappings: Mappings
) -> None:
    sql(source_db, "ALTER PUBLICATION concord DROP TABLE projects")
    with pytest.raises(SourceDatabaseError, match=r"public\.projects is mapped but not in"):
        connector(hub, source_db, mappings, new_slot()).run(once=True)
    sql(source_db, "ALTER PUBLICATION concord ADD TABLE projects")
    slot = new_slot()
    sql(source_db, f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')")
    with pytest.raises(SourceDatabaseError, match="never read a snapshot through it"):
        connector(hub, source_db, mappings, slot).run(once=True)
    assert connector(hub, source_db, mappings, slot, snapshot=False).run(once=True) == Progress()


def test_the_cli_drains_once(
    hub: Hub, source_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from hub.cli import app
    from hub.store import access
    from hub.store.uow import admin_session

    monkeypatch.setenv("CONCORD_DATABASE_URL", str(hub.engine.url.render_as_string(False)))
    args = ["connect", "postgres", "--dsn", source_db, "--slot", new_slot(),
            "--publication", "concord", "--mapping", MAPPING, "--once"]  # fmt: skip
    unknown = CliRunner().invoke(app, args)
    assert unknown.exit_code == 1
    assert "source 'psa' is not registered" in unknown.output
    with admin_session(hub.engine) as s:
        access.add_source(s, "psa", ["client", "project", "resource"], None, None, {"client",
                          "project", "resource"})  # fmt: skip
    sql(source_db, "INSERT INTO clients VALUES (1, 'One')")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "snapshot rows 1" in result.output
    status = CliRunner().invoke(app, ["connect", "status"])
    assert "psa" in status.output
    bad = CliRunner().invoke(app, [*args[:-3], "--mapping", MAPPING, "--source", "crm"])
    assert bad.exit_code == 1
    assert "maps source 'psa', not 'crm'" in bad.output


def test_a_lost_slot_is_created_again_with_a_new_snapshot(
    hub: Hub, source_db: str, mappings: Mappings
) -> None:
    sql(source_db, "INSERT INTO clients VALUES (1, 'One')")
    slot = new_slot()
    connector(hub, source_db, mappings, slot).run(once=True)
    sql(source_db, f"SELECT pg_drop_replication_slot('{slot}')", "UPDATE clients SET name = 'Uno'")
    again = connector(hub, source_db, mappings, slot).run(once=True)
    assert "was gone" in again.notes[0]
    assert again.snapshot_rows == 1
    hub.bus.drain()
    with hub.engine.connect() as conn:
        images = conn.execute(select(InboxRow.attributes).order_by(InboxRow.id)).scalars().all()
    assert [i["name"] for i in images] == ["One", "Uno"]


def test_streaming_survives_a_lost_source_connection(
    hub: Hub, source_db: str, mappings: Mappings
) -> None:
    done = threading.Event()
    result: list[Progress] = []
    slot = new_slot()
    conn = connector(hub, source_db, mappings, slot)
    thread = threading.Thread(
        target=lambda: result.append(conn.run(idle=0.05, stop=done.is_set)), daemon=True
    )
    thread.start()

    def wait_for_inbox(n: int) -> None:
        for _ in range(600):  # a deadline for a failure, not a measure of speed
            if len(inbox(hub)) >= n or not thread.is_alive():
                return
            threading.Event().wait(0.05)

    try:
        for _ in range(600):  # until the snapshot is done, so row 1 comes through the stream
            state = SlotStore(hub.engine).get("psa", slot)
            if (state and state.snapshot_done_at) or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        sql(source_db, "INSERT INTO clients VALUES (1, 'One')")
        wait_for_inbox(1)
        sql(
            source_db,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            "INSERT INTO clients VALUES (2, 'Two')",
        )
        wait_for_inbox(2)
    finally:
        done.set()
        thread.join(30)
    assert [k for _, k, _ in inbox(hub)] == ["1", "2"]
    assert any(n.startswith("reconnected after") for n in result[0].notes), result[0]


def test_booleans_read_in_the_snapshot_keep_their_value(
    api: Api, source_db: str, mappings: Mappings
) -> None:
    """A snapshot reads columns as ``::text``, which spells booleans ``true``/``false``, while
    the stream spells them ``t``/``f``: both must arrive as the same Python value."""
    sql(
        source_db,
        "INSERT INTO clients VALUES (1, 'Acme Ltd', NULL, 'GB')",
        "INSERT INTO projects VALUES (7, 'prj-7', 'Audit', '2026-01-01', 10, true, 'A', 1, NULL)",
        "INSERT INTO projects VALUES (8, 'prj-8', 'Tax', '2026-01-01', 10, false, 'A', 1, NULL)",
    )
    progress = connector(api.hub, source_db, mappings, new_slot()).run(once=True)
    assert progress.snapshot_rows == 3
    api.apply()
    assert api.golden_of("psa", "project", "7")["attributes"]["billable"] is True  # type: ignore[index]
    assert api.golden_of("psa", "project", "8")["attributes"]["billable"] is False  # type: ignore[index]
