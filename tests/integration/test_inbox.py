"""The inbox: durable before apply, deduplicated by (source, event_id), applied once."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import func, select

from hub.store import inbox as inbox_store
from hub.store.tables import GoldenVersionRow, InboxRow, OutboxRow
from tests.conftest import Api, ChangeFactory


def post(api: Api, source: str, *changes: dict[str, object]) -> dict[str, Any]:
    r = cast(Any, api.post(source, *changes))
    assert r.status_code == 202, r.text
    return cast(dict[str, Any], r.json())


def inbox_statuses(api: Api) -> list[tuple[str, str]]:
    with api.hub.engine.connect() as conn:
        rows = conn.execute(select(InboxRow.event_id, InboxRow.status).order_by(InboxRow.id)).all()
    return [(e, s) for e, s in rows]


def count(api: Api, model: Any) -> int:
    with api.hub.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def history(api: Api, source: str, domain: str, key: str) -> list[dict[str, Any]]:
    gid = api.golden_of(source, domain, key)["id"]
    r = cast(Any, api.get(f"/api/v1/golden/{domain}/{gid}/history"))
    assert r.status_code == 200, r.text
    return cast(list[dict[str, Any]], r.json())


def with_id(c: dict[str, object], event_id: str) -> dict[str, object]:
    return {**c, "event_id": event_id}


def test_same_event_id_twice_in_one_batch(api: Api, change: ChangeFactory) -> None:
    c = with_id(change("client", "A-1", 1, name="Acme Ltd"), "ev-1")
    assert post(api, "crm", c, c) == {"accepted": 1, "duplicates": 1}
    assert inbox_statuses(api) == [("ev-1", "pending")]
    report = api.apply()
    assert report.applied == 1  # type: ignore[attr-defined]
    assert [v["version"] for v in history(api, "crm", "client", "A-1")] == [1]
    assert count(api, OutboxRow) == 1


def test_same_event_id_across_batches(api: Api, change: ChangeFactory) -> None:
    c = with_id(change("client", "A-1", 1, name="Acme Ltd"), "ev-1")
    assert post(api, "crm", c) == {"accepted": 1, "duplicates": 0}
    assert post(api, "crm", c) == {"accepted": 0, "duplicates": 1}
    api.apply()
    assert post(api, "crm", c) == {"accepted": 0, "duplicates": 1}  # also after apply
    api.apply()
    assert inbox_statuses(api) == [("ev-1", "applied")]
    assert [v["version"] for v in history(api, "crm", "client", "A-1")] == [1]
    assert count(api, GoldenVersionRow) == 1
    assert count(api, OutboxRow) == 1


def test_repeated_event_id_with_other_content_is_still_a_duplicate(
    api: Api, change: ChangeFactory
) -> None:
    """The event id is the identity of a change: a resend is never re-read."""
    post(api, "crm", with_id(change("client", "A-1", 1, name="Acme Ltd"), "ev-1"))
    again = with_id(change("client", "A-1", 2, name="Changed"), "ev-1")
    assert post(api, "crm", again) == {"accepted": 0, "duplicates": 1}
    api.apply()
    assert api.golden_of("crm", "client", "A-1")["attributes"] == {"name": "Acme Ltd"}


def test_event_ids_are_per_source(api: Api, change: ChangeFactory) -> None:
    assert post(api, "crm", with_id(change("client", "A-1", 1, name="Acme"), "ev-1")) == {
        "accepted": 1,
        "duplicates": 0,
    }
    assert post(api, "erp", with_id(change("client", "E-1", 1, name="Acme"), "ev-1")) == {
        "accepted": 1,
        "duplicates": 0,
    }


def test_derived_event_id_makes_an_identical_resend_a_duplicate(
    api: Api, change: ChangeFactory
) -> None:
    c = change("client", "A-1", 1, name="Acme Ltd")
    assert "event_id" not in c
    assert post(api, "crm", c) == {"accepted": 1, "duplicates": 0}
    assert post(api, "crm", c) == {"accepted": 0, "duplicates": 1}
    timed = {**change("client", "A-2", name="Beta"), "changed_at": "2024-05-01T10:00:00Z"}
    assert post(api, "crm", timed, timed) == {"accepted": 1, "duplicates": 1}
    (ev1, _), (ev2, _) = inbox_statuses(api)
    assert ev1.startswith("derived-") and ev2.startswith("derived-")
    api.apply()
    assert [v["version"] for v in history(api, "crm", "client", "A-1")] == [1]


def test_derived_event_id_differs_when_the_change_differs(api: Api, change: ChangeFactory) -> None:
    post(api, "crm", change("client", "A-1", 1, name="Acme Ltd"))
    assert post(api, "crm", change("client", "A-1", 1, name="Acme Limited")) == {
        "accepted": 1,
        "duplicates": 0,
    }
    assert post(api, "crm", change("client", "A-1", 2, name="Acme Ltd")) == {
        "accepted": 1,
        "duplicates": 0,
    }
    assert post(api, "crm", change("client", "A-1", 1, op="delete")) == {
        "accepted": 1,
        "duplicates": 0,
    }
    assert len(inbox_statuses(api)) == 4


def test_inbox_is_durable_before_apply(api: Api, change: ChangeFactory) -> None:
    post(
        api,
        "crm",
        with_id(change("client", "A-1", 1, name="Acme Ltd"), "ev-1"),
        with_id(change("client", "A-2", 1, name="Beta plc"), "ev-2"),
    )
    assert inbox_statuses(api) == [("ev-1", "pending"), ("ev-2", "pending")]
    r = cast(Any, api.get("/api/v1/xref/crm/client/A-1"))
    assert r.status_code == 404, r.text
    assert count(api, GoldenVersionRow) == 0
    assert count(api, OutboxRow) == 0

    # A restart (a new hub on the same database) still finds and applies them.
    from tests.conftest import make_hub

    other = make_hub(str(api.hub.engine.url.render_as_string(hide_password=False)))
    try:
        report = other.bus.drain()
    finally:
        other.close()
    assert report.applied == 2
    assert inbox_statuses(api) == [("ev-1", "applied"), ("ev-2", "applied")]
    assert api.golden_of("crm", "client", "A-2")["attributes"] == {"name": "Beta plc"}
    assert count(api, OutboxRow) == 2


def test_stale_change_is_marked_stale_not_applied(api: Api, change: ChangeFactory) -> None:
    post(api, "crm", with_id(change("client", "A-1", 5, name="New"), "ev-new"))
    api.apply()
    post(api, "crm", with_id(change("client", "A-1", 4, name="Old"), "ev-old"))
    report = api.apply()
    assert (report.applied, report.stale) == (0, 1)  # type: ignore[attr-defined]
    assert inbox_statuses(api) == [("ev-new", "applied"), ("ev-old", "stale")]
    assert api.golden_of("crm", "client", "A-1")["attributes"] == {"name": "New"}


def test_inbox_race_falls_back_to_insert_on_conflict(
    api: Api, change: ChangeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests carrying the same event id at once: the pre-check of one misses the other's
    row; the unique constraint then sends it down the careful path, which counts correctly."""
    first = {**change("client", "R-1", 1, name="Race Ltd"), "event_id": "race-1"}
    assert api.post("crm", first).json() == {"accepted": 1, "duplicates": 0}  # type: ignore[attr-defined]
    monkeypatch.setattr(inbox_store.SqlInbox, "_new_rows", lambda self, rows: rows)
    second = {**change("client", "R-2", 1, name="Other Ltd"), "event_id": "race-2"}
    r = api.post("crm", first, second)
    assert r.json() == {"accepted": 1, "duplicates": 1}  # type: ignore[attr-defined]
    report = api.apply()
    assert report.applied == 2  # type: ignore[attr-defined]
