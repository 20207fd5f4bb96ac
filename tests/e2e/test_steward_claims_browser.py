"""Claims, the keyboard help and the queue's pages in real headless Chromium (issue 16,
items 5 and 6). Fixtures and helpers are the first pass's."""

from __future__ import annotations

from typing import Any

import pytest

from hub.bootstrap import Hub
from hub.store import stewards
from hub.store.tables import MatchCandidate
from hub.store.uow import admin_session
from stewardship import passwords, queue
from tests.e2e.test_steward_browser import _login, _post
from tests.support.steward import ACME, PAGE_TIMEOUT_MS, PASSWORD

NAMES = ["Acme Internationl Corp", "Acme Intl Corporation", "Acme Internat. Corp"]


def _world(hub: Hub, url: str) -> None:
    _post(hub, url, "crm", "A-1", **ACME)
    for i, name in enumerate(NAMES):
        _post(hub, url, "northwind-crm", f"NW-{i}", name=name, country="GB")


def _rows(page: Any) -> list[int]:
    return [
        int(x)
        for x in page.eval_on_selector_all(
            "[data-rows] tbody tr", "rs => rs.map(r => r.dataset.candidate)"
        )
    ]


def test_question_mark_shows_every_key_and_typing_it_in_a_field_does_not(
    served: tuple[Hub, str], page: Any
) -> None:
    hub, url = served
    _world(hub, url)
    _login(page, url)
    help_ = page.locator("#keys-help")
    assert not help_.is_visible()
    page.keyboard.press("?")
    assert help_.is_visible()
    listed = set(page.eval_on_selector_all("#keys-help kbd", "ks => ks.map(k => k.textContent)"))
    assert listed == {
        *("j", "k", "Enter", "c", "]", "[", "m", "n", "s", "r", "Tab", "q", "?", "Esc"),
        *("Shift+N", "Shift+M", "Ctrl+Enter"),
    }
    page.keyboard.press("j")  # keys do nothing under the help
    assert page.url.endswith("/steward/queue") and help_.is_visible()
    page.keyboard.press("Escape")
    assert not help_.is_visible()
    first = _rows(page)[0]
    page.goto(f"{url}/steward/candidates/{first}")
    page.keyboard.press("?")
    assert page.locator("#keys-help").is_visible()
    page.keyboard.press("?")
    assert not page.locator("#keys-help").is_visible()
    page.fill("textarea[name=text]", "what?")
    assert not page.locator("#keys-help").is_visible()  # a ? typed in a comment is text


def test_a_claim_made_with_c_hides_the_candidate_from_another_steward(
    served: tuple[Hub, str], page: Any
) -> None:
    hub, url = served
    _world(hub, url)
    with admin_session(hub.engine) as s:
        stewards.add_steward(s, "bob", "steward", passwords.hash_password(PASSWORD))
    _login(page, url)
    mine = _rows(page)[0]
    with page.expect_navigation():
        page.keyboard.press("c")  # claim the selected row
    page.wait_for_selector(f'tr[data-candidate="{mine}"] .holder')
    assert "claimed 1 candidate" in page.inner_text("main")
    other = page.context.browser.new_context().new_page()
    other.set_default_timeout(PAGE_TIMEOUT_MS)
    _login(other, url, "bob")
    assert mine not in _rows(other)
    other.goto(f"{url}/steward/candidates/{mine}")
    assert "Claimed by ann" in other.inner_text("main")
    with other.expect_navigation():
        other.keyboard.press("m")
    assert "claimed by ann" in other.inner_text("main")  # the 409 page says who holds it
    page.goto(f"{url}/steward/candidates/{mine}")
    with page.expect_navigation():
        page.keyboard.press("c")  # release it again
    page.wait_for_selector("text=Nobody has claimed this candidate")
    other.goto(f"{url}/steward/queue")
    assert mine in _rows(other)


def test_brackets_turn_the_queue_s_pages_both_ways(
    served: tuple[Hub, str], page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, url = served
    _world(hub, url)
    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    _login(page, url)
    page.goto(f"{url}/steward/queue?sort=age")
    first = _rows(page)
    page.keyboard.press("]")
    page.wait_for_url(lambda u: "after=" in u)
    assert "sort=age" in page.url and _rows(page) and _rows(page) != first
    page.keyboard.press("[")
    page.wait_for_url(lambda u: "before=" in u)
    assert _rows(page) == first


def test_r_types_a_reason_that_never_decides_and_n_after_tab_does(
    served: tuple[Hub, str], page: Any
) -> None:
    hub, url = served
    _world(hub, url)
    _login(page, url)
    first = _rows(page)[0]
    page.goto(f"{url}/steward/candidates/{first}")
    page.keyboard.press("r")
    page.keyboard.type("not the same firm, m or n")  # keys typed in the field are text
    assert page.input_value("input[name=reason]") == "not the same firm, m or n"
    assert page.url.endswith(f"/steward/candidates/{first}")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("n")
    with admin_session(hub.engine) as s:
        got = s.get(MatchCandidate, first)
        assert got is not None and (got.status, got.reason) == (
            "rejected",
            "not the same firm, m or n",
        )
