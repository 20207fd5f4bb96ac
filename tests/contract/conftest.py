"""The ``store`` fixture: every contract test runs on the in-memory fakes, on SQLite and on
PostgreSQL (issue 15, must-have 6), so the fakes the unit tests trust cannot drift from the
store the hub runs on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.support import Store, fake_store, sql_store


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "fake":
        yield fake_store()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'contract.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))  # a fresh database, dropped afterwards
    built, engine = sql_store(request.param, url)
    yield built
    engine.dispose()
