"""Table statistics on PostgreSQL: a refresh analyses the hot tables that grew past what the
planner last counted, and leaves alone those whose rows were only updated (hub/store/sql.py,
``analyze``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from hub.bootstrap import Hub
from hub.domain.model import Change
from hub.store.inbox import SqlInbox
from hub.store.sql import HOT_TABLES, analyze
from hub.store.uow import session_factory
from tests.conftest import make_hub


@pytest.fixture
def pg(pg_url: str) -> Iterator[Hub]:
    h = make_hub(pg_url)
    with session_factory(h.engine)() as s:  # its own analyses would race the test's
        s.execute(text("ALTER TABLE inbox SET (autovacuum_enabled = false)"))
        # the test's starting point: statistics that count what is there (a worker's
        # database is emptied between tests, so a table may hold statistics of rows gone)
        s.execute(text(f"ANALYZE {', '.join(HOT_TABLES)}"))
        s.commit()
    yield h
    h.close()


def _stored(hub: Hub, n: int, start: int = 0) -> None:
    at = datetime(2026, 12, 5, tzinfo=UTC)
    changes = [
        Change("crm", "client", f"C{i}", "upsert", f"e{i}", {"name": f"Firm {i}"}, at)
        for i in range(start, start + n)
    ]
    with session_factory(hub.engine)() as s:
        SqlInbox(s).add(changes, at)
        s.execute(text("SELECT pg_stat_force_next_flush()"))  # the counts, now, not in a second
        s.commit()


def _refresh(hub: Hub) -> list[str]:
    with session_factory(hub.engine)() as s:
        grown = analyze(s)
        s.commit()
    return grown


def test_a_refresh_analyses_the_tables_that_grew_and_only_those(pg: Hub) -> None:
    assert _refresh(pg) == []  # nothing changed since the statistics were taken
    _stored(pg, 1500)
    assert _refresh(pg) == ["inbox"]
    with session_factory(pg.engine)() as s:
        s.execute(text("UPDATE inbox SET status = 'applied'"))
        s.execute(text("SELECT pg_stat_force_next_flush()"))
        s.commit()
    assert _refresh(pg) == []  # the same rows, updated: the statistics still count them
    _stored(pg, 1200, start=1500)
    assert _refresh(pg) == []  # 2,700 rows against 1,500 counted: not enough to mislead
    _stored(pg, 3000, start=2700)
    assert _refresh(pg) == ["inbox"]
