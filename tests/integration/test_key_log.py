"""The key-change log on a real database: a reader past its horizon learns every committed
change exactly when it is committed, whatever order transactions got their ids in; a writer
that rolled back leaves no hole; pruning never deletes what a reader has yet to read
(hub/store/key_log.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.services.key_ports import KeyChanges
from hub.store.key_log import changes_since, log_change, prune
from hub.store.tables import KeyChangeRow
from hub.store.uow import session_factory
from tests.conftest import make_hub


@pytest.fixture
def db(db_url: str) -> Iterator[Hub]:
    h = make_hub(db_url)
    yield h
    h.close()


def _session(hub: Hub) -> Session:
    return session_factory(hub.engine)()


def _read(hub: Hub, horizon: int | None, skip: tuple[int, ...] = ()) -> KeyChanges:
    with _session(hub) as s:
        return changes_since(s, horizon, skip)


def _commit(hub: Hub, *keys: str) -> int:
    with _session(hub) as s:
        writer = log_change(s, "client", keys)
        s.commit()
    return writer


def test_a_reader_learns_each_committed_change_once_past_its_horizon(db: Hub) -> None:
    start = _read(db, None)
    assert start.keys == {}
    mine = _commit(db, "k1", "k2")
    _commit(db, "k3")
    seen = _read(db, start.horizon, skip=(mine,))
    assert seen.keys == {"client": {"k3"}}  # its own change left out
    assert _read(db, start.horizon).keys == {"client": {"k1", "k2", "k3"}}


def test_a_rolled_back_writer_leaves_no_hole(db: Hub) -> None:
    start = _read(db, None)
    with _session(db) as s:
        log_change(s, "client", ["gone"])
        s.rollback()
    _commit(db, "k1")
    after = _read(db, start.horizon)
    assert after.keys == {"client": {"k1"}}
    later = _read(db, after.horizon)
    _commit(db, "k2")
    assert _read(db, later.horizon).keys.get("client", set()) >= {"k2"}
    assert "gone" not in _read(db, start.horizon).keys.get("client", set())


@pytest.mark.postgres
def test_a_change_committed_late_with_an_early_id_is_still_read(pg_url: str) -> None:
    """Writer 1 takes its transaction id first and commits last: a reader that looked in
    between, and saw writer 2's change, still reads writer 1's at its next look."""
    hub = make_hub(pg_url)
    try:
        start = _read(hub, None)
        slow = _session(hub)
        early = log_change(slow, "client", ["late"])
        late = _commit(hub, "quick")
        assert early < late
        between = _read(hub, start.horizon)
        assert between.keys == {"client": {"quick"}}
        assert between.horizon <= early  # the slow writer still runs: the horizon waits
        slow.commit()
        slow.close()
        assert "late" in _read(hub, between.horizon).keys["client"]
    finally:
        hub.close()


@pytest.mark.postgres
def test_pruning_spares_a_change_still_being_written(pg_url: str) -> None:
    hub = make_hub(pg_url)
    try:
        start = _read(hub, None)
        _commit(hub, "old")
        slow = _session(hub)
        log_change(slow, "client", ["late"])
        with _session(hub) as s:  # a mark, then a prune that may use it
            prune(s, timedelta(0))
            s.commit()
        with _session(hub) as s:
            # "old" goes too, unless another test's transaction on this shared server holds
            # the horizon back: then nothing does, which is as correct
            prune(s, timedelta(0))
            s.commit()
        slow.commit()
        slow.close()
        read = _read(hub, start.horizon).keys
        assert "late" in read["client"]  # spared: it was being written during the prunes
        assert read["client"] <= {"late", "old"}
    finally:
        hub.close()


def test_pruning_deletes_only_rows_older_than_a_mark_older_than_the_retention(
    sqlite_url: str,
) -> None:
    """On SQLite: on a shared PostgreSQL server any other transaction holds the horizon back,
    so how much a prune deletes there depends on what else runs."""
    hub = make_hub(sqlite_url)
    try:
        _commit(hub, "k1")
        with _session(hub) as s:
            assert prune(s, timedelta(hours=1)) == 0  # marks now; nothing is an hour old
            assert prune(s, timedelta(0)) == 1  # the mark just made is older than no time
            s.commit()
        with _session(hub) as s:
            assert s.execute(select(func.count()).select_from(KeyChangeRow)).scalar() == 0
    finally:
        hub.close()


def test_a_change_after_the_log_was_pruned_empty_is_read(db: Hub) -> None:
    """SQLite's horizon is a row id: ids must not start again once every row is gone."""
    start = _read(db, None)
    _commit(db, "k1")
    seen = _read(db, start.horizon)
    with _session(db) as s:
        prune(s, timedelta(0))
        prune(s, timedelta(0))
        s.commit()
    _commit(db, "k2")
    assert "k2" in _read(db, seen.horizon).keys.get("client", set())
