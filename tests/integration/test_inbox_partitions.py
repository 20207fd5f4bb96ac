"""Appliers split the inbox by partition on PostgreSQL (issue 14, must-have 2).

Each change is stored with a hash of its source record; a claim takes whole partitions under
advisory locks held to its commit, never waiting for one. So two appliers never hold one
record's changes at once, and neither waits for the other (docs/architecture.md, "Appliers
side by side"). Record locks still guard every record: partitions only keep appliers from
meeting on them.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from hub.bootstrap import Hub
from hub.domain.commands import AcceptChanges
from hub.domain.model import Change
from hub.store import inbox_partitions as inbox
from hub.store.inbox_partitions import PARTITIONS, partition_of
from hub.store.sql import advisory_locks
from hub.store.tables import InboxRow, SourceRecordRow
from hub.store.uow import SqlUnitOfWork, session_factory
from tests.conftest import crm_client_change
from tests.integration.test_merge_race import _register_crm, pg_hub  # noqa: F401

pytestmark = pytest.mark.postgres

MIGRATION = Path(__file__).parents[2] / "migrations" / "versions" / "0020_inbox_partitions.py"


def _accept(hub: Hub, changes: list[Change]) -> None:
    hub.bus.accept(AcceptChanges("crm", tuple(changes)))


def _stored(hub: Hub) -> list[tuple[str, int]]:
    with session_factory(hub.engine)() as s:
        return [
            (k, p)
            for k, p in s.execute(select(InboxRow.source_key, InboxRow.partition).order_by("id"))
        ]


def test_the_migration_and_the_inbox_agree_on_each_record_s_partition() -> None:
    """The migration gives pending rows their partitions with its own copy of the rule: a
    rule changed in one place only would put a record's old and new changes apart."""
    spec = importlib.util.spec_from_file_location("m0020", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    for i in range(500):
        key = ("crm", "client", f"C-{i}") if i % 2 else ("erp", "project", f"{i}é")
        assert migration._partition(*key) == partition_of(*key)
    assert migration._PARTITIONS == PARTITIONS


def test_every_change_of_a_record_is_stored_in_its_record_s_partition(pg_hub: Hub) -> None:  # noqa: F811
    _register_crm(pg_hub)
    _accept(
        pg_hub,
        [crm_client_change(f"C-{i}", s, name=f"Client {i}") for s in (1, 2) for i in range(200)],
    )
    stored = _stored(pg_hub)
    assert len(stored) == 400
    by_key: dict[str, set[int]] = {}
    for key, p in stored:
        by_key.setdefault(key, set()).add(p)
    assert all(ps == {partition_of("crm", "client", k)} for k, ps in by_key.items())
    # a hash spreads 200 records over the partitions, so appliers find free ones
    assert len({p for ps in by_key.values() for p in ps}) >= PARTITIONS * 3 // 4


def _present(hub: Hub, monkeypatch: pytest.MonkeyPatch, *appliers: str) -> None:
    """Appliers that have claimed before (a claim records its applier as seen), and whose
    counts of the others are not a second old."""
    for name in appliers:
        with SqlUnitOfWork(session_factory(hub.engine)) as uow:
            uow.inbox.claim(1, name)
            uow.commit()
    monkeypatch.setattr(inbox, "_SEEN", {})


@pytest.fixture
def two_uows(pg_hub: Hub) -> Iterator[tuple[SqlUnitOfWork, SqlUnitOfWork]]:  # noqa: F811
    factory = session_factory(pg_hub.engine)
    first, second = SqlUnitOfWork(factory), SqlUnitOfWork(factory)
    with first, second:
        yield first, second


def test_two_claims_at_once_never_share_a_record(
    pg_hub: Hub,  # noqa: F811
    two_uows: tuple[SqlUnitOfWork, SqlUnitOfWork],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The measured cost before partitions: two appliers claimed interleaved rows, met on
    the same records, and left a tenth of their claims pending for a later turn. Two
    appliers that know of each other take half the partitions each."""
    _register_crm(pg_hub)
    changes = [crm_client_change(f"C-{i}", s, name="x") for s in (1, 2, 3) for i in range(60)]
    _accept(pg_hub, changes)
    _present(pg_hub, monkeypatch, "a", "b")
    first, second = two_uows
    a, b = first.inbox.claim(100, "a"), second.inbox.claim(100, "b")
    assert a and b
    keys_a, keys_b = {c.key for _, c in a}, {c.key for _, c in b}
    assert not keys_a & keys_b
    parts_a = {partition_of("crm", "client", k) for k in keys_a}
    parts_b = {partition_of("crm", "client", k) for k in keys_b}
    assert not parts_a & parts_b
    assert len(parts_a) <= PARTITIONS // 2 and len(parts_b) <= PARTITIONS // 2
    for claimed in (a, b):  # each holds a record's oldest changes, in order
        seqs: dict[str, list[int | None]] = {}
        for _, c in claimed:
            seqs.setdefault(c.key, []).append(c.sequence)
        assert all(s == [1, 2, 3][: len(s)] for s in seqs.values()), seqs
        assert [i for i, _ in claimed] == sorted(i for i, _ in claimed)
    # the first claim took the oldest change of all
    assert a[0][1].key == "C-0" and a[0][1].sequence == 1


def test_an_applier_alone_takes_the_oldest_rows_as_they_arrived(
    pg_hub: Hub,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One applier applies in arrival order, as before partitions: an end state that hangs on
    the order of two records' changes (a delete, then a near-duplicate) stays the same."""
    _register_crm(pg_hub)
    _accept(pg_hub, [crm_client_change(f"C-{i}", s, name="x") for s in (1, 2) for i in range(300)])
    _present(pg_hub, monkeypatch, "alone")
    with SqlUnitOfWork(session_factory(pg_hub.engine)) as uow:
        claimed = uow.inbox.claim(250, "alone")
    assert [(c.key, c.sequence) for _, c in claimed] == [(f"C-{i}", 1) for i in range(250)]


def test_an_applier_whose_partitions_are_all_held_takes_nothing_and_says_so(
    pg_hub: Hub,  # noqa: F811
    two_uows: tuple[SqlUnitOfWork, SqlUnitOfWork],
) -> None:
    _register_crm(pg_hub)
    _accept(pg_hub, [crm_client_change(f"C-{i}", 1, name="x") for i in range(20)])
    first, second = two_uows
    assert len(first.inbox.claim(100, "a")) == 20
    assert second.inbox.claim(100, "b") == []
    assert second.inbox.busy_at_claim > 0


def test_a_claim_asks_only_for_the_partitions_its_batch_needs(
    pg_hub: Hub,  # noqa: F811
    two_uows: tuple[SqlUnitOfWork, SqlUnitOfWork],
) -> None:
    """A partition held and left unclaimed would idle every other applier: a claim of 5
    rows holds the partitions of those 5 rows' records (their oldest rows, whichever record
    they are of), and the rest stay free."""
    _register_crm(pg_hub)
    keys = [f"C-{i}" for i in range(40)]
    _accept(pg_hub, [crm_client_change(k, 1, name="x") for k in keys])
    first, second = two_uows
    a = first.inbox.claim(5)
    assert len(a) == 5 and a[0][1].key == "C-0"
    held = {partition_of("crm", "client", c.key) for _, c in a}
    # with these keys C-0's partition holds fewer than 5 of them
    assert len(held) > 1
    b = second.inbox.claim(100)
    rest = {k for k in keys if partition_of("crm", "client", k) not in held}
    assert {c.key for _, c in b} == rest


def test_drain_waits_for_a_partition_another_applier_holds(pg_hub: Hub) -> None:  # noqa: F811
    """An empty turn because another applier holds the only partition with work is not an
    empty inbox: ``drain`` (and an onboarding run's apply) looks again until it is."""
    _register_crm(pg_hub)
    _accept(pg_hub, [crm_client_change("A-1", 1, name="Acme Ltd")])
    other = session_factory(pg_hub.engine)()
    advisory_locks(other, "partition", [str(partition_of("crm", "client", "A-1"))])
    release = threading.Timer(1.0, lambda: (other.rollback(), other.close()))
    release.start()
    report = pg_hub.bus.drain()
    release.join()
    assert report.applied == 1
    with session_factory(pg_hub.engine)() as s:
        assert s.scalars(select(SourceRecordRow.source_key)).all() == ["A-1"]


def test_an_applier_counts_the_others_while_they_are_connected(
    pg_hub: Hub,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another applier that claimed lately halves this one's share of the partitions; once
    its connections are gone (killed, stopped) this one is alone again at once, and takes
    the rows in arrival order: a restarted applier must not wait out the other's last
    claim."""
    _register_crm(pg_hub)
    _accept(pg_hub, [crm_client_change(f"C-{i}", 1, name="x") for i in range(300)])
    other = create_engine(pg_hub.settings.database_url)
    try:
        with SqlUnitOfWork(session_factory(other)) as uow:
            uow.inbox.claim(1, "other")
            uow.commit()
        monkeypatch.setattr(inbox, "_SEEN", {})
        with SqlUnitOfWork(session_factory(pg_hub.engine)) as uow:
            shared = uow.inbox.claim(250, "me")
        parts = {partition_of("crm", "client", c.key) for _, c in shared}
        assert len(parts) == PARTITIONS // 2, len(parts)
    finally:
        other.dispose()  # its connections close, as a killed process's do
    monkeypatch.setattr(inbox, "_SEEN", {})
    with SqlUnitOfWork(session_factory(pg_hub.engine)) as uow:
        alone = uow.inbox.claim(250, "me")
    assert [c.key for _, c in alone] == [f"C-{i}" for i in range(250)]
