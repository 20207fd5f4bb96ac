"""The key cache beside other writers, on a real database (hub/services/key_cache.py).

Two appliers that take turns on one inbox, each with its own key cache, link the benchmark's
mixed data (new clients, ERP copies linked by tax id, misspelt names the matcher scores)
exactly as appliers without a cache do: each sees the golden records the other created under
its cached keys. And on PostgreSQL, a key another applier adds while a batch runs (after it
looked the key up) is read again by that applier's next batch, not answered from what the
batch read before."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bench.ingest import as_change, build_batches
from hub.bootstrap import Hub
from hub.domain.commands import AcceptChanges
from hub.services.key_cache import KeyCache
from hub.store import access
from hub.store.tables import MatchCandidate, SourceRecordRow
from hub.store.uow import SqlUnitOfWork, admin_session, session_factory
from tests.conftest import make_hub
from tests.support.pg_databases import Databases


def _bench_data() -> list[tuple[str, list[dict[str, Any]]]]:
    return [(src, json.loads(body)["changes"]) for src, body in build_batches(1200, 60, seed=7)]


def _neighbours() -> list[tuple[str, list[dict[str, Any]]]]:
    """Per town: applier 1 links a firm; applier 2 a different firm under all the same
    blocking keys (first word, town, postcode); applier 1 then a copy of the second firm,
    without a tax id, that reaches it only through those keys, which applier 1 has cached
    since its first turn."""
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for i, (town, postcode) in enumerate([("Leeds", "LS1 4AB"), ("York", "YO1 7HH")]):
        place = {"city": town, "postcode": postcode, "country": "GB"}
        firms = [
            ("crm", f"X-{i}", {"name": "Acme Consulting Ltd", "tax_id": f"GB1{i}1", **place}),
            ("crm", f"Y-{i}", {"name": "Acme Logistics plc", "tax_id": f"GB2{i}2", **place}),
            ("erp", f"Z-{i}", {"name": "Acme Logistics", **place}),
        ]
        turns += [(src, [{"key": k, "sequence": 1, "attributes": a}]) for src, k, a in firms]
    return turns


Links = tuple[set[frozenset[tuple[str, str]]], int]


def _links(
    url: str, data: list[tuple[str, list[dict[str, Any]]]], key_cache: int, appliers: int = 2
) -> Links:
    """``data`` applied batch by batch, the appliers taking turns: the source records grouped
    by the golden record they link to, and how many match candidates wait for a steward."""
    hubs = [make_hub(url, apply_key_cache_size=key_cache) for _ in range(appliers)]
    try:
        with admin_session(hubs[0].engine) as s:
            for src in ("crm", "erp"):
                access.add_source(s, src, ["client"], None, None, {"client"})
        now = datetime.now(UTC)
        for turn, (source, changes) in enumerate(data):
            hub = hubs[turn % appliers]
            hub.bus.accept(AcceptChanges(source, tuple(as_change(source, c, now) for c in changes)))
            report = hub.bus.drain(1000)
            assert report.applied + report.stale == len(changes) and report.dead == 0
        if key_cache and len(data) > 10:  # the neighbours' keys change at every turn
            assert all(h.bus.applier.context.key_cache.hits > 0 for h in hubs)
        with session_factory(hubs[0].engine)() as s:
            rows = s.execute(
                select(
                    SourceRecordRow.golden_id, SourceRecordRow.source, SourceRecordRow.source_key
                )
            ).all()
            waiting = s.execute(select(func.count()).select_from(MatchCandidate)).scalar_one()
    finally:
        for h in hubs:
            h.close()
    groups: dict[str, set[tuple[str, str]]] = {}
    for gid, source, key in rows:
        groups.setdefault(gid, set()).add((source, key))
    return {frozenset(g) for g in groups.values()}, waiting


Data = Callable[[], list[tuple[str, list[dict[str, Any]]]]]


@pytest.mark.parametrize("data", [_neighbours, _bench_data])
def test_two_appliers_with_key_caches_link_as_without(sqlite_url: str, data: Data) -> None:
    other = sqlite_url.replace("concord.db", "uncached.db")
    assert _links(sqlite_url, data(), key_cache=1_000_000) == _links(other, data(), key_cache=0)


@pytest.mark.postgres
@pytest.mark.parametrize("data", [_neighbours, _bench_data])
def test_two_appliers_with_key_caches_link_as_without_on_postgres(
    pg_url: str, pg_databases: Databases, data: Data
) -> None:
    other = pg_databases.take()
    try:
        assert _links(pg_url, data(), key_cache=1_000_000) == _links(other, data(), key_cache=0)
    finally:
        pg_databases.give_back(other)


@pytest.fixture
def pg_hub(pg_url: str) -> Iterator[Hub]:
    h = make_hub(pg_url)
    yield h
    h.close()


@pytest.mark.postgres
def test_a_key_added_while_a_batch_ran_is_read_again_by_the_next(pg_hub: Hub) -> None:
    factory = session_factory(pg_hub.engine)
    cache = KeyCache()

    def other_applier_adds_the_key() -> None:
        with SqlUnitOfWork(factory) as uow:
            uow.keys.replace("client", {"g-new": {"name:acme"}})
            uow.commit()

    with SqlUnitOfWork(factory) as uow:  # this applier's batch: it finds no one
        read = cache.begin(uow)
        assert cache.find(uow, read, "client", ["name:acme"]) == {}
        racer = threading.Thread(target=other_applier_adds_the_key)
        racer.start()
        racer.join(10)
        uow.commit()
    cache.committed([read] if read else [], [])  # what it read is kept: it was true then
    with SqlUnitOfWork(factory) as uow:  # the next batch
        read = cache.begin(uow)
        assert cache.find(uow, read, "client", ["name:acme"]) == {"name:acme": {"g-new"}}
