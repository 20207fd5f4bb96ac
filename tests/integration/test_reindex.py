"""`concord match reindex` rebuilds the key index after an upgrade: golden records written
before value keys existed get them (and with them generic values), without new versions."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from hub.cli import app
from hub.store.tables import BlockingKeyRow, GoldenVersionRow
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory

GROUP = {"website": "https://www.northgate-group.com", "phone": "+44 20 7946 0100"}


def _keys(api: Api, like: str) -> int:
    with admin_session(api.hub.engine) as s:
        return int(s.scalar(select(func.count()).where(BlockingKeyRow.key.like(like))) or 0)


def test_reindex_restores_the_value_keys_of_an_old_index(
    api: Api, change: ChangeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n, name in enumerate(["Holdings", "Logistics", "Energy"]):
        api.post("crm", change("client", f"C-{n}", 1, name=f"Northgate {name}", **GROUP))
    api.apply()
    assert _keys(api, "v:website:%") == 3
    with admin_session(api.hub.engine) as s:  # the index as the previous release wrote it
        s.execute(delete(BlockingKeyRow).where(BlockingKeyRow.key.like("v:%")))
        versions = s.scalar(select(func.count()).select_from(GoldenVersionRow))
    assert _keys(api, "v:%") == 0

    monkeypatch.setenv("CONCORD_DATABASE_URL", api.hub.settings.database_url)
    r = CliRunner().invoke(app, ["match", "reindex", "--domain", "client", "--batch", "2"])
    assert r.exit_code == 0, r.output
    assert "reindexed 3 active client golden records" in r.output
    assert _keys(api, "v:website:northgate-group.com") == 3
    assert _keys(api, "v:*") == 3
    with admin_session(api.hub.engine) as s:
        assert s.scalar(select(func.count()).select_from(GoldenVersionRow)) == versions

    r = CliRunner().invoke(app, ["match", "reindex", "--domain", "nope"])
    assert r.exit_code == 2 and "unknown domain" in r.output
