"""When the chaos checker's inbox stops draining, its report must say who holds what: a
stall that only says "687 changes pending" cannot be diagnosed after the run (PostgreSQL)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from bench.chaos_checks import stall_report
from hub.bootstrap import Hub
from hub.domain.commands import AcceptChanges
from hub.store.db import make_engine
from hub.store.sql import advisory_locks
from hub.store.uow import session_factory
from tests.conftest import crm_client_change
from tests.integration.test_merge_race import _register_crm, pg_hub  # noqa: F401

pytestmark = pytest.mark.postgres


def test_the_stall_report_names_the_session_its_lock_and_the_pending_record(
    pg_hub: Hub,  # noqa: F811
) -> None:
    _register_crm(pg_hub)
    pg_hub.bus.accept(AcceptChanges("crm", (crm_client_change("CRM-7", 1, name="Acme"),)))
    holder = session_factory(pg_hub.engine)()
    try:
        advisory_locks(holder, "record", ["crm\x00client\x00CRM-7"])
        holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
        lines = stall_report(pg_hub.engine, {os.getpid(): "the test"})
    finally:
        holder.rollback()
        holder.close()
    mine = [line for line in lines if line.startswith(f"session {holder_pid} ")]
    assert any("(the test): idle in transaction" in line for line in mine), lines
    assert f"session {holder_pid} holds 1 advisory locks" in lines, lines
    assert "pending: 1 changes of crm/CRM-7, the first inbox row 1" in lines, lines


def test_connections_carry_the_process_unless_the_url_names_itself(pg_server: str) -> None:
    base = pg_server.rpartition("/")[0] + "/postgres"
    for url, expected in (
        (base, f"concord[{os.getpid()}]"),
        (f"{base}?application_name=ops", "ops"),
    ):
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                name = conn.exec_driver_sql("SHOW application_name").scalar_one()
        finally:
            engine.dispose()
        assert str(name).startswith(expected)
