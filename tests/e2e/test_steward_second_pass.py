"""The steward page's second pass (issue 16, bugs 2 to 7) in real headless Chromium: each test
failed before its fix. The fixtures and helpers are the first pass's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.bootstrap import Hub
from hub.store.tables import MatchCandidate, SourceRecordRow
from hub.store.uow import admin_session
from tests.e2e.test_steward_browser import _login, _post
from tests.steward_helpers import ACME, WEAK

PHONE = 390


def _candidates(hub: Hub) -> list[MatchCandidate]:
    with admin_session(hub.engine) as s:
        return list(s.scalars(select(MatchCandidate).order_by(MatchCandidate.id)))


def _golden_of(hub: Hub, source: str, key: str) -> str:
    with admin_session(hub.engine) as s:
        return str(
            s.scalars(
                select(SourceRecordRow.golden_id).where(
                    SourceRecordRow.source == source, SourceRecordRow.source_key == key
                )
            ).one()
        )


def test_no_page_scrolls_sideways_on_a_phone(served: tuple[Hub, str], page: Any) -> None:
    hub, url = served
    _post(hub, url, "crm", "A-1", **ACME)
    _post(hub, url, "northwind-crm", "NW-3", **WEAK)
    [cand] = _candidates(hub)
    page.set_viewport_size({"width": PHONE, "height": 800})
    _login(page, url)
    for path in (
        "/steward/queue",
        f"/steward/candidates/{cand.id}",
        f"/steward/golden/client/{cand.golden_id}",
        "/steward/dashboard",
    ):
        page.goto(url + path)
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{path} is {width[0]} px wide in a {width[1]} px window"
