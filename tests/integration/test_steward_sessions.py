"""Steward sessions end on the server (issue 19, item 12).

The session is a signed cookie; logging out used to clear only the browser's copy, so a copy
taken before (a shared machine, a proxy log) stayed good until it expired, up to 8 hours. The
cookie now carries the steward's session generation, which logout advances on the row.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.bootstrap import Hub
from tests.conftest import make_hub
from tests.support.steward import SECRET, add_stewards, csrf_of, login


@pytest.fixture
def steward_hub(db_url: str) -> Iterator[Hub]:
    hub = make_hub(db_url, session_secret=SECRET)
    add_stewards(hub)
    yield hub
    hub.close()


def _client(hub: Hub) -> TestClient:
    return TestClient(create_app(hub, run_worker=False), raise_server_exceptions=False)


def test_a_copied_cookie_stops_working_after_logout(steward_hub: Hub) -> None:
    browser = _client(steward_hub)
    token = login(browser, "ann")
    copied = dict(browser.cookies.items())
    thief = _client(steward_hub)
    thief.cookies.update(copied)
    assert thief.get("/steward/queue", follow_redirects=False).status_code == 200

    r = browser.post("/steward/logout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303

    r = thief.get("/steward/queue", follow_redirects=False)
    assert r.status_code == 303 and "/steward/login" in r.headers["location"]


def test_logging_in_again_after_logout_works(steward_hub: Hub) -> None:
    browser = _client(steward_hub)
    token = login(browser, "ann")
    browser.post("/steward/logout", data={"csrf": token})
    login(browser, "ann")
    assert browser.get("/steward/queue", follow_redirects=False).status_code == 200
    assert csrf_of(browser.get("/steward/queue").text)
