"""An onboarding commit fills the inbox neighbours by blocking keys, not in file order, and
still loads every row as the file says (hub/services/load_order.py); SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from hub.store import tables as t
from hub.store.uow import session_factory
from tests.conftest import Api, ChangeFactory
from tests.integration.test_onboarding import NORTHWIND, _csv, _run, _world

# a second firm named Acme, last in the file: its row goes in beside NW-2's ("acme" in GB)
ACME_CONSULTING = {"id": "NW-4", "company": "Acme Consulting Ltd", "website": "",
                   "city": "York", "country": "GB", "phone": ""}  # fmt: skip


def test_a_commit_applies_neighbours_together_and_loads_every_row(
    api: Api, change: ChangeFactory, tmp_path: Path
) -> None:
    _world(api, change)
    rows = [*NORTHWIND, ACME_CONSULTING]
    result = _run(api.hub, _csv(tmp_path / "nw.csv", rows))
    with session_factory(api.hub.engine)() as s:
        inbox = s.execute(
            select(t.InboxRow.source_key, t.InboxRow.status, t.InboxRow.attributes)
            .where(t.InboxRow.run_id == result.run_id)
            .order_by(t.InboxRow.id)
        ).all()
        loaded = {
            r.source_key: r.attributes
            for r in s.scalars(
                select(t.SourceRecordRow).where(t.SourceRecordRow.run_id == result.run_id)
            )
        }
    # first name token and country, then the file's order: acme|GB, acme|GB, globex|GB,
    # northwind|NO (the file said NW-1, NW-2, NW-3, NW-4)
    assert [k for k, _, _ in inbox] == ["NW-2", "NW-4", "NW-1", "NW-3"]
    assert {status for _, status, _ in inbox} == {"applied"}
    assert loaded.keys() == {r["id"] for r in rows}
    for row in rows:  # each as the file has it, whatever the order it went in
        assert loaded[row["id"]]["name"] == row["company"]
        assert inbox[[k for k, _, _ in inbox].index(row["id"])][2] == loaded[row["id"]]
