"""Steward decisions of issue 16 racing an apply batch on PostgreSQL: the decision takes the
record lock first (the apply path's order), so neither writes over the other.

The batch changes the incoming record; while it holds the record (in ``SqlRecords.save``) a
steward decides. Without the record lock, the decision moved the record and committed, and
the batch then wrote back its copy with the old golden id: the record fell off the golden
record the steward chose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.domain.commands import DecideCluster, UndoDecision
from hub.store.repositories import SqlRecords
from tests.conftest import make_hub
from tests.integration.test_steward_clusters import two_candidates
from tests.support.races import when_batch_reaches
from tests.support.steward import SECRET, WEAK, Web, add_source, add_stewards

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_web(pg_url: str) -> Iterator[Web]:
    hub = make_hub(pg_url, session_secret=SECRET)
    add_stewards(hub)
    keys = {n: add_source(hub, n, ["client"]) for n in ("crm", "northwind-crm", "erp")}
    client = TestClient(create_app(hub, run_worker=False), raise_server_exceptions=False)
    yield Web(hub, client, keys)
    hub.close()


def race(web: Web, monkeypatch: pytest.MonkeyPatch, decide: Callable[[], Any]) -> list[Any]:
    """Apply an update of NW-3 and run ``decide`` in another thread while the batch saves it;
    returns what ``decide`` returned or raised."""
    r = web.client.post(
        "/api/v1/changes",
        json={
            "changes": [{"domain": "client", "key": "NW-3", "attributes": {**WEAK, "city": "York"}}]
        },
        headers={"Authorization": f"Bearer {web.keys['northwind-crm']}"},
    )
    assert r.status_code == 202, r.text
    deciding = when_batch_reaches(  # without the record lock it commits then
        monkeypatch, SqlRecords, "save", decide
    )
    web.hub.bus.drain()
    deciding.join()
    deciding.restore()
    assert deciding.ran
    return deciding.returned + deciding.errors


def test_picking_one_during_an_apply_batch_keeps_both(
    pg_web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, erp, ids = two_candidates(pg_web)
    chosen = next(c.id for c in pg_web.candidates() if c.golden_id == erp)
    [result] = race(
        pg_web,
        monkeypatch,
        lambda: pg_web.hub.bus.handle(DecideCluster(tuple(ids), chosen, "same client", "ann")),
    )
    statuses = {c.id: c.status for c in pg_web.candidates() if c.id in ids}
    assert not isinstance(result, BaseException), result
    assert statuses[chosen] == "merged" and set(statuses.values()) == {"merged", "rejected"}
    assert pg_web.golden_of("northwind-crm", "NW-3") == erp  # not written back off it
    assert record_of(pg_web, "NW-3")["city"] == "York"  # nor the batch's change lost


def record_of(web: Web, key: str) -> dict[str, Any]:
    from sqlalchemy import select

    from hub.store.tables import SourceRecordRow
    from hub.store.uow import admin_session

    with admin_session(web.hub.engine) as s:
        row = s.scalars(select(SourceRecordRow).where(SourceRecordRow.source_key == key)).one()
        return dict(row.attributes)


def test_undo_of_a_merge_during_an_apply_batch_keeps_both(
    pg_web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, erp, ids = two_candidates(pg_web)
    chosen = next(c.id for c in pg_web.candidates() if c.golden_id == erp)
    pg_web.hub.bus.handle(DecideCluster(tuple(ids), chosen, "same client", "ann"))
    assert pg_web.golden_of("northwind-crm", "NW-3") == erp
    [result] = race(
        pg_web, monkeypatch, lambda: pg_web.hub.bus.handle(UndoDecision(tuple(ids), "ann"))
    )
    assert not isinstance(result, BaseException), result
    assert pg_web.golden_of("northwind-crm", "NW-3") == result["golden_id"] != erp
    assert record_of(pg_web, "NW-3")["city"] == "York"
    statuses = {c.id: c.status for c in pg_web.candidates() if c.id in ids}
    assert statuses[chosen] == "undone" and "merged" not in statuses.values()
