"""Apply is one transaction: a failure half-way leaves nothing behind but a dead letter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest
from sqlalchemy import func, select

from hub.domain.model import GoldenRecord
from hub.services.apply import ApplyReport
from hub.store import repositories
from hub.store.repositories import SqlGolden, SqlOutbox
from hub.store.tables import (
    BlockingKeyRow,
    DeadLetter,
    GoldenRecordRow,
    GoldenVersionRow,
    InboxRow,
    MatchCandidate,
    OutboxRow,
    PendingReference,
    SourceRecordRow,
)
from tests.conftest import Api, ChangeFactory

pytestmark = pytest.mark.batch_failure_expected

BAD_KEY = "BOOM-1"
BAD_NAME = "Boom Industries"


class Injected(RuntimeError):
    """The failure these tests inject."""


def post(api: Api, source: str, *changes: dict[str, object]) -> None:
    r = cast(Any, api.post(source, *changes))
    assert r.status_code == 202, r.text


def golden_of(api: Api, source: str, domain: str, key: str) -> dict[str, Any]:
    return cast(dict[str, Any], api.golden_of(source, domain, key))


def apply(api: Api) -> ApplyReport:
    return cast(ApplyReport, api.apply())


def rows(api: Api, model: Any, *where: Any) -> list[Any]:
    with api.hub.engine.connect() as conn:
        return list(conn.execute(select(model.__table__).where(*where)).all())


def count(api: Api, model: Any) -> int:
    with api.hub.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def source_record_present(session: Any, key: str) -> bool:
    found = session.execute(
        select(SourceRecordRow.id).where(SourceRecordRow.source_key == key)
    ).first()
    return found is not None


@pytest.fixture
def seen_in_tx() -> list[bool]:
    """Whether the bad change's source record was already written when the failure hit."""
    return []


@pytest.fixture
def outbox_fails_for_bad(monkeypatch: pytest.MonkeyPatch, seen_in_tx: list[bool]) -> None:
    """The outbox insert runs, then raises, for any batch carrying the bad change's event."""
    original = SqlOutbox.add

    def add(self: SqlOutbox, events: Sequence[dict[str, Any]]) -> None:
        original(self, events)
        names = [e["event"]["data"]["attributes"].get("name") for e in events]
        if BAD_NAME in names:
            seen_in_tx.append(source_record_present(self.s, BAD_KEY))
            raise Injected("outbox is on fire")

    monkeypatch.setattr(repositories.SqlOutbox, "add", add)


@pytest.fixture
def golden_save_fails_for_bad(monkeypatch: pytest.MonkeyPatch, seen_in_tx: list[bool]) -> None:
    original = SqlGolden.save

    def save(
        self: SqlGolden,
        records: Sequence[tuple[GoldenRecord, list[str], str]],
        search_names: Any,
        at: Any,
        compared: Any = None,
    ) -> None:
        original(self, records, search_names, at, compared)
        if any(g.attributes.get("name") == BAD_NAME for g, _, _ in records):
            seen_in_tx.append(source_record_present(self.s, BAD_KEY))
            raise Injected("golden store is on fire")

    monkeypatch.setattr(repositories.SqlGolden, "save", save)


def bad_change(change: ChangeFactory) -> dict[str, object]:
    return {
        **change("client", BAD_KEY, 1, name=BAD_NAME, website="https://boom.example"),
        "event_id": "ev-bad",
    }


def assert_no_trace_of_bad(api: Api) -> None:
    assert rows(api, SourceRecordRow, SourceRecordRow.source_key == BAD_KEY) == []
    assert rows(api, PendingReference, PendingReference.source_key == BAD_KEY) == []
    names = [r.attributes.get("name") for r in rows(api, GoldenRecordRow)]
    assert BAD_NAME not in names
    assert BAD_NAME not in [r.attributes.get("name") for r in rows(api, GoldenVersionRow)]
    assert BAD_NAME not in [
        r.payload["data"]["attributes"].get("name") for r in rows(api, OutboxRow)
    ]
    keys = rows(api, BlockingKeyRow)
    assert not [k for k in keys if "boom" in k.key], keys
    # every blocking key, version and outbox row belongs to a stored golden record
    golden_ids = {r.id for r in rows(api, GoldenRecordRow)}
    assert {k.golden_id for k in keys} <= golden_ids
    assert {v.golden_id for v in rows(api, GoldenVersionRow)} <= golden_ids
    assert {o.golden_id for o in rows(api, OutboxRow)} <= golden_ids
    assert {r.golden_id for r in rows(api, SourceRecordRow)} <= golden_ids
    assert count(api, MatchCandidate) == 0


def assert_dead_lettered(api: Api, reason: str) -> None:
    (dead,) = rows(api, DeadLetter)
    assert dead.source == "crm"
    assert dead.event_id == "ev-bad"
    assert dead.payload["domain"] == "client"
    assert dead.payload["key"] == BAD_KEY
    assert dead.payload["op"] == "upsert"
    assert dead.payload["sequence"] == 1
    assert dead.payload["attributes"] == {"name": BAD_NAME, "website": "https://boom.example"}
    assert "Injected" in dead.reason and reason in dead.reason
    (inbox,) = rows(api, InboxRow, InboxRow.event_id == "ev-bad")
    assert inbox.status == "dead"
    assert dead.inbox_id == inbox.id


@pytest.mark.usefixtures("outbox_fails_for_bad")
def test_outbox_failure_alone_leaves_nothing_but_a_dead_letter(
    api: Api, change: ChangeFactory, seen_in_tx: list[bool]
) -> None:
    post(api, "crm", bad_change(change))
    report = apply(api)
    assert (report.applied, report.dead, report.events) == (0, 1, 0)
    assert seen_in_tx and all(seen_in_tx), "the failure must hit after the source record write"
    assert_no_trace_of_bad(api)
    assert count(api, GoldenRecordRow) == 0
    assert count(api, OutboxRow) == 0
    assert count(api, BlockingKeyRow) == 0
    assert_dead_lettered(api, "outbox is on fire")
    r = cast(Any, api.get(f"/api/v1/xref/crm/client/{BAD_KEY}"))
    assert r.status_code == 404


@pytest.mark.usefixtures("outbox_fails_for_bad")
def test_outbox_failure_spares_the_rest_of_the_batch(
    api: Api, change: ChangeFactory, seen_in_tx: list[bool]
) -> None:
    post(
        api,
        "crm",
        change("client", "A-1", 1, name="Acme Ltd", website="https://acme.example"),
        bad_change(change),
        change("client", "B-1", 1, name="Beta plc", website="https://beta.example"),
    )
    report = apply(api)
    assert (report.applied, report.dead) == (2, 1)
    assert seen_in_tx and all(seen_in_tx)
    assert_no_trace_of_bad(api)
    assert_dead_lettered(api, "outbox is on fire")
    assert golden_of(api, "crm", "client", "A-1")["attributes"]["name"] == "Acme Ltd"
    assert golden_of(api, "crm", "client", "B-1")["attributes"]["name"] == "Beta plc"
    assert count(api, GoldenRecordRow) == 2
    assert count(api, GoldenVersionRow) == 2
    assert count(api, OutboxRow) == 2
    statuses = sorted(r.status for r in rows(api, InboxRow))
    assert statuses == ["applied", "applied", "dead"]


@pytest.mark.usefixtures("golden_save_fails_for_bad")
def test_golden_save_failure_spares_the_rest_of_the_batch(
    api: Api, change: ChangeFactory, seen_in_tx: list[bool]
) -> None:
    post(
        api,
        "crm",
        change("client", "A-1", 1, name="Acme Ltd", website="https://acme.example"),
        bad_change(change),
    )
    report = apply(api)
    assert (report.applied, report.dead) == (1, 1)
    assert seen_in_tx and all(seen_in_tx)
    assert_no_trace_of_bad(api)
    assert_dead_lettered(api, "golden store is on fire")
    assert count(api, GoldenRecordRow) == 1
    assert count(api, OutboxRow) == 1


@pytest.mark.usefixtures("golden_save_fails_for_bad")
def test_failed_update_keeps_the_previous_state(api: Api, change: ChangeFactory) -> None:
    """An update that fails leaves the source record and golden record as they were."""
    post(api, "crm", change("client", BAD_KEY, 1, name="Fine Name", website="https://ok.example"))
    apply(api)
    before = golden_of(api, "crm", "client", BAD_KEY)
    keys_before = sorted(k.key for k in rows(api, BlockingKeyRow))
    post(api, "crm", bad_change(change) | {"sequence": 2})
    report = apply(api)
    assert report.dead == 1
    after = golden_of(api, "crm", "client", BAD_KEY)
    assert after == before
    assert after["version"] == 1
    (record,) = rows(api, SourceRecordRow, SourceRecordRow.source_key == BAD_KEY)
    assert (record.sequence, record.attributes["name"]) == (1, "Fine Name")
    assert sorted(k.key for k in rows(api, BlockingKeyRow)) == keys_before
    assert count(api, OutboxRow) == 1
    assert count(api, GoldenVersionRow) == 1
