"""Issue 16's goal in real headless Chromium: an unclear candidate decided in at most three
actions without the mouse (Shift+N or Shift+M, the reason typed, Ctrl+Enter), while Enter
alone in the reason field still never decides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from hub.bootstrap import Hub
from hub.store.tables import MatchCandidate
from hub.store.uow import admin_session
from tests.e2e.test_steward_browser import _login, _post, _two_unclear_pairs
from tests.support.steward import ACME, WEAK


def _decided(hub: Hub) -> dict[int, tuple[str, str | None]]:
    with admin_session(hub.engine) as s:
        return {c.id: (c.status, c.reason) for c in s.scalars(select(MatchCandidate))}


def _on_the_only_candidate(hub: Hub, url: str, page: Any) -> int:
    """Logged in, on the compare page of the one unclear candidate (Acme's weak copy)."""
    _post(hub, url, "crm", "A-1", **ACME)
    _post(hub, url, "northwind-crm", "NW-3", **WEAK)
    [cid] = _decided(hub)
    _login(page, url)
    page.goto(f"{url}/steward/candidates/{cid}")
    return cid


def _here(page: Any) -> int:
    return int(page.url.rsplit("/", 1)[1].split("?")[0])


def test_an_unclear_candidate_takes_three_actions_without_the_mouse(
    served: tuple[Hub, str], page: Any
) -> None:
    hub, url = served
    _two_unclear_pairs(hub, url)
    _login(page, url)
    page.keyboard.press("Enter")  # open the first row
    page.wait_for_url(f"{url}/steward/candidates/*")
    first = _here(page)
    actions: list[str] = []

    def act(what: str, do: Callable[[], object]) -> None:
        actions.append(what)
        do()

    act("Shift+N", lambda: page.keyboard.press("Shift+N"))
    assert page.evaluate("document.activeElement.name") == "reason"
    assert "Ctrl+Enter: not a match" in page.inner_text("[data-chosen-hint]")
    act("type the reason", lambda: page.keyboard.type("different companies"))
    with page.expect_navigation():
        act("Ctrl+Enter", lambda: page.keyboard.press("Control+Enter"))
    assert actions == ["Shift+N", "type the reason", "Ctrl+Enter"]  # three, no mouse
    assert _decided(hub)[first] == ("rejected", "different companies")
    second = _here(page)  # the next candidate opened by itself
    assert second != first and _decided(hub)[second][0] == "pending"

    page.keyboard.press("Shift+M")
    page.keyboard.type("same firm, new office")
    page.keyboard.press("Enter")  # Enter alone never decides, whatever was chosen
    page.wait_for_timeout(1_000)  # give a submission the time to happen, if one were made
    assert _here(page) == second and _decided(hub)[second][0] == "pending"
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    assert _decided(hub)[second] == ("merged", "same firm, new office")


def test_ctrl_enter_with_no_decision_chosen_decides_nothing_and_says_so(
    served: tuple[Hub, str], page: Any
) -> None:
    hub, url = served
    cid = _on_the_only_candidate(hub, url, page)
    page.keyboard.press("r")
    page.keyboard.type("not sure yet")
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(1_000)  # give a submission the time to happen, if one were made
    assert _here(page) == cid and _decided(hub)[cid][0] == "pending"
    assert "choose first" in page.inner_text("[data-chosen-hint]")
    page.keyboard.press("Escape")  # leaves the field; the keys decide again
    with page.expect_navigation():
        page.keyboard.press("n")
    assert _decided(hub)[cid] == ("rejected", "not sure yet")


def test_the_keyboard_help_shows_the_three_action_flow(served: tuple[Hub, str], page: Any) -> None:
    hub, url = served
    _on_the_only_candidate(hub, url, page)
    page.keyboard.press("?")
    help_text = page.inner_text("#keys-help")
    assert page.locator("#keys-help").is_visible()
    for key in ("Shift+N", "Shift+M", "Ctrl+Enter"):
        assert key in help_text
