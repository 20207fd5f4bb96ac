"""Inputs that used to answer 500: each now gets a 4xx that names the change and the field
(issue 19, item 11), and keys with ``/`` or ``..`` can be read back through the xref."""

from __future__ import annotations

from typing import Any

import pytest

from hub.store import access
from hub.store.uow import admin_session
from tests.conftest import Api

SURROGATE = "\\ud800"  # as JSON text: a lone UTF-16 surrogate, no character of its own


def _raw(api: Api, body: str) -> Any:
    return api.client.post(
        "/api/v1/changes",
        content=body.encode(),
        headers={**api.auth("crm"), "Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (f'{{"domain": "client", "key": "K", "event_id": "e{SURROGATE}"}}', "event_id"),
        (f'{{"domain": "client", "key": "K{SURROGATE}"}}', "key"),
        (f'{{"domain": "client", "key": "K", "run_id": "r{SURROGATE}"}}', "run_id"),
        (
            f'{{"domain": "client", "key": "K", "attributes": {{"name": "A{SURROGATE}"}}}}',
            "attributes.name",
        ),
        (
            f'{{"domain": "client", "key": "K", "attributes": {{"n{SURROGATE}": "A"}}}}',
            "attributes.n\\ud800",
        ),
        (
            '{"domain": "project", "key": "P", "attributes": {"contract_value": '
            + "1" * 30
            + ', "client_key": "K"}}',
            "attributes.contract_value",
        ),
        (
            '{"domain": "client", "key": "K", "changed_at": "0001-01-01T00:00:00+14:00"}',
            "changed_at",
        ),
    ],
    ids=["event_id", "key", "run_id", "value", "name", "huge integer", "changed_at"],
)
def test_unstorable_values_are_422_naming_the_change_and_field(
    api: Api, change: str, field: str
) -> None:
    good = '{"domain": "client", "key": "G", "attributes": {"name": "Good"}}'
    r = _raw(api, f'{{"changes": [{good}, {change}]}}')
    assert r.status_code == 422, r.text
    problem = r.json()["errors"][0]
    assert problem["index"] == 1 and problem["field"] == field, problem


def test_a_feed_cursor_beyond_64_bits_is_400(api: Api) -> None:
    r = api.get("/api/v1/feed?after=" + "9" * 30)
    assert r.status_code == 400 and "after" in r.json()["detail"], r.text


@pytest.fixture
def steward_key(api: Api) -> str:
    with admin_session(api.hub.engine) as s:
        api.keys["steward"] = access.create_key(s, "sam", "steward")
    return api.keys["steward"]


def test_a_candidate_id_beyond_64_bits_is_4xx(api: Api, steward_key: str) -> None:
    r = api.client.post(
        f"/api/v1/candidates/{2**64}/decision",
        json={"decision": "reject", "reason": "x"},
        headers=api.auth("steward"),
    )
    assert r.status_code in (404, 422), r.text
    assert "candidate" in r.text


@pytest.mark.parametrize(
    ("field", "value"), [("contract_value", "1" + "0" * 30), ("name", f'"A{SURROGATE}"')]
)
def test_an_override_the_store_cannot_hold_is_4xx_naming_the_field(
    api: Api, steward_key: str, field: str, value: str
) -> None:
    api.post("crm", {"domain": "client", "key": "C", "attributes": {"name": "Acme"}})
    api.post(
        "crm",
        {"domain": "project", "key": "P", "attributes": {"name": "Build", "client_key": "C"}},
    )
    api.apply()
    gid = api.golden_of("crm", "project", "P")["id"]
    r = api.client.put(
        f"/api/v1/golden/project/{gid}/overrides/{field}",
        content=f'{{"value": {value}, "reason": "x"}}'.encode(),
        headers={**api.auth("steward"), "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422), r.text
    assert field in r.json()["detail"], r.text


@pytest.mark.parametrize("key", ["A/B/001", "../etc", "a/../b", "..", "%2F"])
def test_a_key_with_slashes_or_dots_reads_back_through_the_xref(api: Api, key: str) -> None:
    r = api.post("crm", {"domain": "client", "key": key, "attributes": {"name": "Acme"}})
    assert r.status_code == 202  # type: ignore[attr-defined]
    api.apply()
    r = api.client.get(
        "/api/v1/xref",
        params={"source": "crm", "domain": "client", "key": key},
        headers=api.auth("reader"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["key"] == key
