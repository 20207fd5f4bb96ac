"""Several apply workers on one PostgreSQL database (``concord apply --follow`` twice).

Each worker claims its own inbox rows (SKIP LOCKED), so two changes of one source record, or
two near-duplicate new records, can be applied by two workers at the same moment. Advisory
locks on the source record and on the match keys make them serialise; without them the older
change could win, or two golden records would be created for one client.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from hub.bootstrap import Hub
from hub.domain.commands import AcceptChanges, ApplyPending
from hub.services.apply import Applier
from hub.store.tables import GoldenRecordRow, GoldenVersionRow, SourceRecordRow
from hub.store.uow import session_factory
from tests.conftest import crm_client_change, make_hub

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_hub(pg_url: str) -> Iterator[Hub]:
    h = make_hub(pg_url, contact_keys=True)
    yield h
    h.close()


def _two_workers(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply the inbox with two threads, one change per transaction, and make every
    transaction linger after loading, so the two overlap as much as they can."""
    original = Applier._apply_one

    rng = random.Random(7)

    def slow(self: Applier, *args: object) -> bool:
        time.sleep(rng.uniform(0, 0.03))
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Applier, "_apply_one", slow)

    dead: list[int] = []

    def work() -> None:
        while True:
            r = hub.bus.apply(ApplyPending(1))
            dead.append(r.dead)
            if r.applied + r.stale + r.dead == 0:
                return

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(dead) == 0, "a change was dead-lettered by the race"


def test_the_newest_change_wins_across_workers(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one key's changes next to each other in the inbox, so both workers hold one at once
    pg_hub.bus.accept(
        AcceptChanges("crm", tuple(crm_client_change(f"K-{k}", 1, name="v1") for k in range(3)))
    )
    pg_hub.bus.drain()  # the records exist: later changes are updates racing on one row
    changes = tuple(
        crm_client_change(f"K-{k}", seq, name=f"v{seq}") for k in range(3) for seq in range(2, 16)
    )
    pg_hub.bus.accept(AcceptChanges("crm", changes))
    _two_workers(pg_hub, monkeypatch)
    with session_factory(pg_hub.engine)() as s:
        held = {
            r.source_key: (r.sequence, r.attributes["name"])
            for r in s.scalars(select(SourceRecordRow))
        }
        goldens = {g.attributes["name"] for g in s.scalars(select(GoldenRecordRow))}
        history = [
            (v.golden_id, int(v.attributes["name"][1:]))
            for v in s.scalars(select(GoldenVersionRow).order_by(GoldenVersionRow.version))
        ]
    assert held == {f"K-{k}": (15, "v15") for k in range(3)}
    assert goldens == {"v15"}
    for gid in {g for g, _ in history}:  # no version ever went back to an older change
        seen = [n for g, n in history if g == gid]
        assert seen == sorted(seen), seen


def test_near_duplicates_on_two_workers_make_one_golden(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = tuple(
        crm_client_change(f"D-{i}", 1, name=f"Dup {i}", website=f"https://www.dup{i // 2}.com")
        for i in range(12)
    )
    pg_hub.bus.accept(AcceptChanges("crm", changes))
    _two_workers(pg_hub, monkeypatch)
    with session_factory(pg_hub.engine)() as s:
        count = s.execute(select(func.count()).select_from(GoldenRecordRow)).scalar_one()
        linked = s.execute(
            select(func.count(func.distinct(SourceRecordRow.golden_id)))
        ).scalar_one()
    assert count == 6 and linked == 6
