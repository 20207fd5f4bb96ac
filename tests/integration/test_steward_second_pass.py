"""The steward page's second pass over HTTP (issue 16, the bugs that are not about the
browser), on SQLite and PostgreSQL; each test failed before its fix."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from tests.conftest import make_hub
from tests.support.steward import ACME, SECRET, WEAK, Web, add_source, add_stewards, login


@pytest.fixture
def web(db_url: str) -> Iterator[Web]:
    hub = make_hub(db_url, session_secret=SECRET)
    add_stewards(hub)
    keys = {n: add_source(hub, n, ["client"]) for n in ("crm", "northwind-crm", "erp")}
    client = TestClient(create_app(hub, run_worker=False), raise_server_exceptions=False)
    yield Web(hub, client, keys)
    hub.close()


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_auto_link_rate_counts_the_records_waiting_in_review(web: Web) -> None:
    web.post_change("crm", "A-1", **ACME)
    web.post_change("erp", "E-1", **ACME)  # the same client: links by itself
    web.post_change("northwind-crm", "NW-3", **WEAK)  # waits for a steward
    assert web.golden_of("erp", "E-1") == web.golden_of("crm", "A-1")
    assert [c.status for c in web.candidates()] == ["pending"]
    login(web.client, "ann")
    text = _text(web.client.get("/steward/dashboard").text)
    assert "50.0 %" in text, text  # one linked by itself, one in review: not 100 %
    assert "1 of 2 records" in text and "1 waits in review" in text


def _pending(web: Web) -> list[tuple[int, str]]:
    return [(c.id, c.golden_id) for c in web.candidates() if c.status == "pending"]


def test_a_candidate_follows_its_golden_record_when_it_is_merged_away(web: Web) -> None:
    web.post_change("crm", "A-1", **ACME)
    web.post_change("erp", "E-2", name=ACME["name"], city="Leeds", postcode="LS1 1AA", country="GB")
    web.post_change("northwind-crm", "NW-3", **WEAK)  # a candidate against each
    keep, gone = web.golden_of("crm", "A-1"), web.golden_of("erp", "E-2")
    assert sorted(g for _, g in _pending(web)) == sorted([keep, gone])
    token = login(web.client, "ann")
    found = web.client.get(f"/steward/golden/client/{keep}?q=acme").text
    assert f'name="other" value="{gone}"' in found
    r = web.client.post(
        f"/steward/golden/client/{keep}/merge",
        data={"other": gone, "reason": "one client", "csrf": token},
    )
    assert r.status_code == 200 and "merged" in r.text
    # one record, one golden record: one pending pair, against the record that lives on
    assert [g for _, g in _pending(web)] == [keep]
    queue = web.client.get("/steward/queue").text
    assert gone not in queue and keep in queue
    # the merged record is not offered to merge again
    found = web.client.get(f"/steward/golden/client/{keep}?q=acme").text
    assert f'name="other" value="{gone}"' not in found


def test_a_candidate_of_a_retired_golden_record_leaves_the_queue(web: Web) -> None:
    web.post_change("crm", "B-1", name="Borealis Trading Company", city="Leeds", country="GB")
    web.post_change("northwind-crm", "NW-4", name="Borealis Tradng Co", country="GB")
    [(cid, _)] = _pending(web)
    r = web.client.post(
        "/api/v1/changes",
        json={"changes": [{"domain": "client", "key": "B-1", "op": "delete"}]},
        headers={"Authorization": f"Bearer {web.keys['crm']}"},
    )
    assert r.status_code == 202, r.text
    web.hub.bus.drain()
    assert _pending(web) == []
    login(web.client, "ann")
    assert f"/steward/candidates/{cid}" not in web.client.get("/steward/queue").text


def test_a_record_s_candidates_are_shown_together(web: Web) -> None:
    web.post_change("crm", "A-1", **ACME)
    web.post_change("erp", "E-2", name=ACME["name"], city="Leeds", postcode="LS1 1AA", country="GB")
    web.post_change("northwind-crm", "NW-3", **WEAK)
    first, second = (c.id for c in web.candidates())
    login(web.client, "ann")
    html = web.client.get("/steward/queue").text
    assert _text(html).count("2 candidates for this record") == 1  # on the group's first row
    assert html.count('class="same-record"') == 1
    page = web.client.get(f"/steward/candidates/{first}").text
    assert f'data-candidate="{second}"' in page and "other candidate" in page
