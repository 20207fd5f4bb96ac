"""The SQLite writer gate: a process's writers of one file take SQLite's write lock in the
order they asked, each the moment the one before ends, however it ends; a writer that waits
too long gets SQLite's own "database is locked"."""

from __future__ import annotations

import signal
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from hub.store.db import make_engine
from hub.store.sql import is_transient
from hub.store.sqlite_gate import GatedConnection, WriterGate, gate_of


def _queue_behind(gate: WriterGate, names: list[str], order: list[str]) -> list[threading.Thread]:
    """Threads that enter ``gate`` one after another (each waiting before the next starts),
    note their turn and leave."""
    threads = []
    for name in names:

        def run(name: str = name) -> None:
            assert gate.enter(5)
            order.append(name)
            gate.leave()

        th = threading.Thread(target=run)
        th.start()
        while len(gate._waiting) < len(threads) + 1:  # it is queued before the next comes
            threading.Event().wait(0.001)
        threads.append(th)
    return threads


def test_the_gate_goes_to_its_writers_in_the_order_they_came() -> None:
    gate = WriterGate()
    assert gate.enter()
    order: list[str] = []
    threads = _queue_behind(gate, ["b", "c", "d"], order)
    gate.leave()
    for th in threads:
        th.join(5)
    assert order == ["b", "c", "d"]
    assert gate.enter(0)  # free again once the last left
    gate.leave()


def test_a_writer_that_leaves_and_comes_back_queues_behind_those_waiting() -> None:
    gate = WriterGate()
    assert gate.enter()
    order: list[str] = []
    threads = _queue_behind(gate, ["waiting"], order)
    gate.leave()
    assert gate.enter(5)  # handed over to the waiter first: this one comes after it
    order.append("back")
    gate.leave()
    threads[0].join(5)
    assert order == ["waiting", "back"]


def test_a_writer_that_waits_too_long_gives_up_and_is_skipped() -> None:
    gate = WriterGate()
    assert gate.enter()
    assert not gate.enter(0.01)
    assert not gate._waiting  # no longer queued: the next release does not wait for it
    gate.leave()
    assert gate.enter(0)
    gate.leave()


def _engine(tmp_path: Path) -> tuple[Engine, str]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    return engine, str(tmp_path / "hub.db")


def test_a_transaction_lets_the_next_writer_in_however_it_ends(tmp_path: Path) -> None:
    engine, path = _engine(tmp_path)
    gate = gate_of(path)
    with engine.connect() as conn:  # a commit
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert gate._held
        conn.commit()
        assert not gate._held
    with engine.connect() as conn:  # a rollback
        conn.execute(text("INSERT INTO t VALUES (2)"))
        conn.rollback()
        assert not gate._held
    with pytest.raises(ZeroDivisionError), engine.begin() as conn:  # an error inside
        conn.execute(text("INSERT INTO t VALUES (3)"))
        raise ZeroDivisionError
    assert not gate._held
    with engine.connect() as conn:  # a connection given back to the pool mid-transaction
        conn.execute(text("INSERT INTO t VALUES (4)"))
    assert not gate._held
    with engine.execution_options(readonly=True).connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalars().all() == [1]
        assert not gate._held  # a read takes no write lock, and no gate


def test_two_engines_on_one_file_share_its_gate_and_a_memory_database_has_none(
    tmp_path: Path,
) -> None:
    first, path = _engine(tmp_path)
    second = make_engine(f"sqlite:///{path}")
    with first.connect() as a, second.connect() as b:
        raw_a, raw_b = a.connection.dbapi_connection, b.connection.dbapi_connection
        assert isinstance(raw_a, GatedConnection) and isinstance(raw_b, GatedConnection)
        assert raw_a.gate is raw_b.gate is gate_of(path)
    memory = make_engine("sqlite://")
    with memory.connect() as conn:
        assert not isinstance(conn.connection.dbapi_connection, GatedConnection)


def test_a_writer_kept_waiting_too_long_gets_database_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, path = _engine(tmp_path)
    gate = gate_of(path)
    assert gate.enter()  # another writer of this process holds it
    try:
        monkeypatch.setattr(gate, "enter", lambda timeout=0.0: WriterGate.enter(gate, 0.01))
        locked = pytest.raises(OperationalError, match="database is locked")
        with locked as raised, engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        assert is_transient(raised.value)  # retried and answered 503, as SQLite's own was
    finally:
        gate.leave()
    with engine.begin() as conn:  # and the gate is whole: the next writer goes in
        conn.execute(text("INSERT INTO t VALUES (2)"))
    assert sqlite3.connect(path).execute("SELECT n FROM t").fetchall() == [(2,)]


def test_a_writer_interrupted_while_it_waits_does_not_take_the_gate_with_it() -> None:
    """Ctrl-C (or a signal handler's exception) while waiting: the gate goes past it, not
    to a turn nobody will ever let go."""
    gate = WriterGate()
    assert gate.enter()

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(KeyboardInterrupt):
            gate.enter(5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not gate._waiting
    gate.leave()
    assert gate.enter(0)  # free: nobody holds it
    gate.leave()
