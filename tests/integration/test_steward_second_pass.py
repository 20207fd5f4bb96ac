"""The steward page's second pass over HTTP (issue 16, the bugs that are not about the
browser), on SQLite and PostgreSQL; each test failed before its fix."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from tests.conftest import make_hub
from tests.steward_helpers import ACME, SECRET, WEAK, Web, add_source, add_stewards, login


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
