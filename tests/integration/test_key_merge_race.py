"""An apply batch that merges two golden records by a shared key never writes back an older
copy of the loser's source records (PostgreSQL).

Found by the chaos checker (``concord bench chaos``): a record held an older change than the
newest one acknowledged. Batch 1 applies a record whose keys reach golden records A and B, so
it merges B into A and moves B's records. Batch 2 is applying a newer change to one of B's
records at the same time. Before the fix batch 1 read that record without its lock and wrote
its old attributes and sequence back over batch 2's change once batch 2 committed. Now the
merge takes the loser's record locks (without waiting, as it already holds others) and reads
them after; a busy lock makes the batch run again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from hub.bootstrap import Hub
from hub.services.fallback import StoreUnavailable
from hub.store.sql import advisory_locks
from hub.store.tables import GoldenRecordRow, SourceRecordRow
from hub.store.uow import session_factory
from tests.conftest import make_hub
from tests.integration.test_merge_race import two_firms_and_their_proof

# batch 1 finds a lock busy, is tried again and split, as designed
pytestmark = [pytest.mark.postgres, pytest.mark.batch_failure_expected]


@pytest.fixture
def pg_hub(pg_url: str) -> Iterator[Hub]:
    h = make_hub(pg_url)
    yield h
    h.close()


def _records(hub: Hub) -> dict[str, tuple[int, str, str]]:
    with session_factory(hub.engine)() as s:
        rows = s.execute(
            select(
                SourceRecordRow.source_key,
                SourceRecordRow.sequence,
                SourceRecordRow.attributes,
                SourceRecordRow.golden_id,
            )
        ).all()
    return {k: (seq, (attrs or {}).get("industry", ""), gid) for k, seq, attrs, gid in rows}


def test_a_key_merge_keeps_the_newer_change_of_a_record_it_moves(pg_hub: Hub) -> None:
    two_firms_and_their_proof(pg_hub)  # C-1, pending, proves A and B one firm

    # Batch 2, standing in for another applier: both old records under their locks, each
    # with a newer change written and not yet committed.
    racing = session_factory(pg_hub.engine)()
    advisory_locks(racing, "record", ["crm\x00client\x00A-1", "crm\x00client\x00B-1"])
    for key in ("A-1", "B-1"):
        racing.execute(
            update(SourceRecordRow)
            .where(SourceRecordRow.source_key == key)
            .values(sequence=5, attributes={"name": f"{key} renamed", "industry": "racing"})
        )

    errors: list[BaseException] = []
    tries: list[int] = []

    def drain_until_done() -> None:
        try:
            while True:
                tries.append(1)
                try:
                    pg_hub.bus.drain()
                    return
                except StoreUnavailable:  # the worker's next turn, as in concord serve
                    time.sleep(0.1)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    batch_one = threading.Thread(target=drain_until_done)
    batch_one.start()
    time.sleep(1.5)  # batch 1 reaches the merge while batch 2 still holds the records
    racing.commit()
    racing.close()
    batch_one.join(timeout=60)
    assert not batch_one.is_alive() and not errors, errors

    after = _records(pg_hub)
    assert after["A-1"][:2] == (5, "racing"), after
    assert after["B-1"][:2] == (5, "racing"), after
    golden = {after[k][2] for k in ("A-1", "B-1", "C-1")}
    assert len(golden) == 1, after
    with session_factory(pg_hub.engine)() as s:
        status = s.scalars(select(GoldenRecordRow.status).where(GoldenRecordRow.id.in_(golden)))
        assert status.one() == "active"
