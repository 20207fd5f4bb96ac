"""The feed under concurrent writers on PostgreSQL (docs/architecture.md, "Store").

A PostgreSQL sequence is not commit-ordered: a writer that takes seq 10 and commits after the
writer of seq 11 would be skipped by a reader whose cursor already passed 11. ``SqlOutbox.add``
takes an advisory lock so sequence numbers are handed out in commit order. These tests make
writers commit out of order on purpose and check that a polling reader never misses an event,
and that without the lock it does (so the tests would catch its removal).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.domain.commands import AcceptChanges, ApplyPending
from hub.domain.model import Change
from hub.store import queries, repositories
from hub.store.repositories import SqlOutbox
from hub.store.tables import OutboxRow
from hub.store.uow import session_factory
from tests.conftest import make_hub

pytestmark = pytest.mark.postgres

WRITERS = 6
PER_WRITER = 12
SLOW = "slow"  # threads whose name contains this sleep between the outbox insert and commit


@pytest.fixture
def pg_hub(pg_url: str) -> Iterator[Hub]:
    h = make_hub(pg_url)
    yield h
    h.close()


def accept(hub: Hub, n: int, prefix: str) -> None:
    now = datetime.now(UTC)
    changes = tuple(
        Change(
            source="crm",
            domain="client",
            key=f"{prefix}-{i}",
            op="upsert",
            event_id=f"{prefix}-{i}",
            attributes={"name": f"Client {prefix} {i}"},
            changed_at=now,
            sequence=1,
        )
        for i in range(n)
    )
    hub.bus.accept(AcceptChanges("crm", changes))


class _NoLock:
    """A session whose advisory-lock statements do nothing: the lock "removed"."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def execute(self, stmt: Any, *args: Any, **kwargs: Any) -> Any:
        if "pg_advisory_xact_lock" in str(stmt):
            return None
        return self._s.execute(stmt, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s, name)


def patch_outbox(
    monkeypatch: pytest.MonkeyPatch, *, lock: bool, after_insert: Callable[[], None]
) -> None:
    original = SqlOutbox.add

    def add(self: SqlOutbox, events: Sequence[dict[str, Any]]) -> None:
        target = self if lock else SqlOutbox(cast(Session, _NoLock(self.s)))
        original(target, events)
        if events:
            after_insert()

    monkeypatch.setattr(repositories.SqlOutbox, "add", add)


class Reader:
    """Polls the feed with a cursor, as a subscriber would, each poll a fresh transaction."""

    def __init__(self, hub: Hub, page: int = 5) -> None:
        self.factory = session_factory(hub.engine, readonly=True)
        self.page = page
        self.cursor = 0
        self.seen: list[int] = []
        self.event_ids: list[str] = []

    def poll(self) -> int:
        """Read pages until the feed is drained; return how many events were read."""
        read = 0
        while True:
            with self.factory() as s:
                rows = queries.feed(s, self.cursor, None, self.page)
            if not rows:
                return read
            for r in rows:
                assert r["seq"] > self.cursor, (r["seq"], self.cursor)
                self.cursor = r["seq"]
                self.seen.append(r["seq"])
                self.event_ids.append(r["event"]["id"])
            read += len(rows)


def all_outbox(hub: Hub) -> list[tuple[int, str]]:
    with hub.engine.connect() as conn:
        return [
            (seq, eid)
            for seq, eid in conn.execute(
                select(OutboxRow.seq, OutboxRow.event_id).order_by(OutboxRow.seq)
            )
        ]


def run_concurrently(hub: Hub, reader: Reader) -> dict[str, int]:
    """WRITERS threads drain the inbox (SKIP LOCKED claims) while ``reader`` polls.

    Returns how many changes each writer applied."""
    errors: list[BaseException] = []
    done = threading.Event()
    applied: dict[str, int] = {}

    def write() -> None:
        name = threading.current_thread().name
        applied[name] = 0
        try:
            while n := hub.bus.apply(ApplyPending(2)).applied:
                applied[name] += n
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    def read() -> None:
        try:
            while not done.is_set():
                reader.poll()
                time.sleep(0.001)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    writers = [
        threading.Thread(target=write, name=f"writer-{i}-{SLOW if i % 2 else 'fast'}")
        for i in range(WRITERS)
    ]
    polling = threading.Thread(target=read, name="reader")
    polling.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=30)
    done.set()
    polling.join(timeout=10)
    assert not errors, errors
    assert not any(w.is_alive() for w in writers)
    reader.poll()  # a last read after every writer committed
    return applied


def sleepy() -> None:
    if SLOW in threading.current_thread().name:
        time.sleep(random.uniform(0.005, 0.04))


def test_reader_never_misses_an_event_under_concurrent_writers(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    accept(pg_hub, WRITERS * PER_WRITER, "c")
    patch_outbox(monkeypatch, lock=True, after_insert=sleepy)
    reader = Reader(pg_hub)
    applied = run_concurrently(pg_hub, reader)
    assert sum(applied.values()) == WRITERS * PER_WRITER
    assert sum(1 for n in applied.values() if n) >= 3, applied  # writers really overlapped

    stored = all_outbox(pg_hub)
    assert len(stored) == WRITERS * PER_WRITER  # one created event per client
    assert reader.seen == [seq for seq, _ in stored]  # all of them, each once, in order
    assert reader.event_ids == [eid for _, eid in stored]
    assert all(a < b for a, b in zip(reader.seen, reader.seen[1:], strict=False))


@pytest.mark.parametrize("lock", [True, False], ids=["with-lock", "lock-removed"])
def test_a_late_commit_is_not_skipped(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch, lock: bool
) -> None:
    """Deterministic: A inserts its outbox row first and commits last; B in between.

    With the lock, B waits for A, so seq order is commit order and the reader misses nothing.
    With the lock removed, B takes a higher seq and commits first; the reader's cursor passes
    it, and A's row is skipped: the case this test must detect.
    """
    accept(pg_hub, 1, "a")
    accept(pg_hub, 1, "b")
    a_inserted, release_a = threading.Event(), threading.Event()

    def hold_a() -> None:
        if threading.current_thread().name == "A":
            a_inserted.set()
            release_a.wait(timeout=10)

    patch_outbox(monkeypatch, lock=lock, after_insert=hold_a)
    reports: dict[str, int] = {}

    def work() -> None:
        name = threading.current_thread().name
        reports[name] = pg_hub.bus.apply(ApplyPending(1)).applied

    a = threading.Thread(target=work, name="A")
    a.start()
    assert a_inserted.wait(timeout=10)
    b = threading.Thread(target=work, name="B")
    b.start()
    b.join(timeout=1.0)
    assert b.is_alive() == lock  # with the lock, B waits for A's commit

    reader = Reader(pg_hub)
    reader.poll()  # A is not committed yet
    release_a.set()
    a.join(timeout=10)
    b.join(timeout=10)
    assert reports == {"A": 1, "B": 1}
    reader.poll()

    stored = [seq for seq, _ in all_outbox(pg_hub)]
    assert len(stored) == 2
    if lock:
        assert reader.seen == stored
    else:
        assert reader.seen == stored[1:], "expected the late commit of A to be skipped"
