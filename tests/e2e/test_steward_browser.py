"""The steward page in real headless Chromium (Debian's package, driven by Playwright): log in,
resolve a candidate with the keyboard, split a record, and show markup as text.

Set ``CONCORD_SCREENSHOTS=docs/screenshots`` to also save the pages the README shows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.app import create_app
from hub.bootstrap import Hub
from hub.runtime.serving import BackgroundServer, free_port
from hub.store.tables import MatchCandidate, SourceRecordRow
from hub.store.uow import admin_session
from tests.conftest import make_hub
from tests.support.steward import (
    ACME,
    PAGE_TIMEOUT_MS,
    PASSWORD,
    SECRET,
    WEAK,
    add_source,
    add_stewards,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
SHOTS = os.environ.get("CONCORD_SCREENSHOTS")


def _need_browser() -> None:
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    why = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CONCORD_REQUIRE_BROWSER"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture
def served(sqlite_url: str) -> Iterator[tuple[Hub, str]]:
    hub = make_hub(sqlite_url, session_secret=SECRET)
    add_stewards(hub)
    keys = {n: add_source(hub, n, ["client"]) for n in ("crm", "northwind-crm", "erp")}
    hub.keys = keys  # type: ignore[attr-defined]
    with BackgroundServer(create_app(hub, run_worker=False), free_port()) as server:
        yield hub, server.url
    hub.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One Chromium per test module: a launch costs seconds, a context a fraction. Not one per
    session: while Playwright's sync API runs, asyncio.run refuses to start in the same thread,
    and a module's fixtures end before another module's tests run."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(served: tuple[Hub, str], chromium: Any) -> Iterator[Any]:
    """A page in a new browser context (its own cookies and storage) for one test; every
    context the test opened is closed after it."""
    context = chromium.new_context(viewport={"width": 1200, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(PAGE_TIMEOUT_MS)
    yield pg
    for opened in list(chromium.contexts):
        opened.close()


def _post(hub: Hub, url: str, source: str, key: str, **attributes: object) -> None:
    import httpx

    r = httpx.post(
        f"{url}/api/v1/changes",
        json={"changes": [{"domain": "client", "key": key, "attributes": attributes}]},
        headers={"Authorization": f"Bearer {hub.keys[source]}"},  # type: ignore[attr-defined]
        timeout=30,
    )
    assert r.status_code == 202, r.text
    hub.bus.drain()


def _two_unclear_pairs(hub: Hub, url: str) -> None:
    """Two acquired records whose candidates a steward must decide: Acme and Borealis."""
    _post(hub, url, "crm", "A-1", **ACME)
    _post(hub, url, "northwind-crm", "NW-3", **WEAK)
    _post(hub, url, "crm", "B-1", name="Borealis Trading Company", city="Leeds", country="GB")
    _post(hub, url, "northwind-crm", "NW-4", name="Borealis Tradng Co", country="GB")


def _login(page: Any, url: str, name: str = "ann") -> None:
    page.goto(f"{url}/steward/queue")
    assert "/steward/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/steward/queue")


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)


def test_log_in_and_resolve_a_candidate_with_the_keyboard(
    served: tuple[Hub, str], page: Any
) -> None:
    hub, url = served
    _two_unclear_pairs(hub, url)
    _login(page, url)
    _shot(page, "queue")
    page.keyboard.press("Enter")  # the first row is selected: open it
    page.wait_for_url(f"{url}/steward/candidates/*")
    first = int(page.url.rsplit("/", 1)[1].split("?")[0])
    _shot(page, "compare")
    page.keyboard.press("m")
    page.wait_for_url(lambda u: f"/candidates/{first}" not in u)
    assert "merged" in page.inner_text(".flash")
    second = int(page.url.rsplit("/", 1)[1].split("?")[0])  # the next one opened by itself
    page.keyboard.press("n")
    page.wait_for_url(f"{url}/steward/queue")  # nothing left
    with admin_session(hub.engine) as s:
        status = {c.id: c.status for c in s.scalars(select(MatchCandidate))}
    assert status == {first: "merged", second: "rejected"}


def test_split_a_record_from_its_golden_record(served: tuple[Hub, str], page: Any) -> None:
    hub, url = served
    # one tax id on both: a key links them, a steward knows better
    _post(hub, url, "crm", "A-1", name="Acme Ltd", tax_id="GB123", country="GB")
    _post(hub, url, "erp", "E-9", name="Acme Holdings", tax_id="GB 123", country="GB")
    with admin_session(hub.engine) as s:
        gid = s.scalars(
            select(SourceRecordRow.golden_id).where(SourceRecordRow.source_key == "A-1")
        ).one()
    _login(page, url)
    page.goto(f"{url}/steward/golden/client/{gid}")
    _shot(page, "golden")
    page.on("dialog", lambda d: d.accept())
    row = page.locator("form[action$='/split']").filter(has=page.locator("input[value='E-9']"))
    row.locator("input[name=reason]").fill("a separate holding company")
    row.locator("button").click()
    page.wait_for_selector(".flash")
    assert "split erp E-9" in page.inner_text(".flash")
    with admin_session(hub.engine) as s:
        erp = s.scalars(
            select(SourceRecordRow.golden_id).where(SourceRecordRow.source_key == "E-9")
        ).one()
    assert erp != gid


def test_a_client_named_like_a_script_is_shown_as_text(served: tuple[Hub, str], page: Any) -> None:
    hub, url = served
    evil = "<script>alert(1)</script>"
    _post(hub, url, "crm", "X-1", name=evil, city="London", country="GB")
    _post(hub, url, "northwind-crm", "NW-1", name=evil, city="London")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _login(page, url)
    with admin_session(hub.engine) as s:
        gid = s.scalars(
            select(SourceRecordRow.golden_id).where(SourceRecordRow.source_key == "X-1")
        ).one()
    page.goto(f"{url}/steward/golden/client/{gid}")
    assert page.inner_text("h1") == evil
    page.goto(f"{url}/steward/golden?domain=client&q=script")
    assert evil in page.inner_text(".found")
    page.goto(f"{url}/steward/queue")
    assert dialogs == []


def test_enter_in_the_reason_field_never_decides(served: tuple[Hub, str], page: Any) -> None:
    """Typing a reason and pressing Enter once merged the pair (Merge was the form's first
    submit button), also when the reason said "different companies"."""
    hub, url = served
    _post(hub, url, "crm", "A-1", **ACME)
    _post(hub, url, "northwind-crm", "NW-3", **WEAK)
    with admin_session(hub.engine) as s:
        [cid] = [c.id for c in s.scalars(select(MatchCandidate))]
    _login(page, url)
    page.goto(f"{url}/steward/candidates/{cid}")
    page.fill("input[name=reason]", "different companies")
    page.press("input[name=reason]", "Enter")
    page.wait_for_timeout(1_000)  # give a submission the time to happen, if one were made
    assert f"/steward/candidates/{cid}" in page.url
    with admin_session(hub.engine) as s:
        assert s.get(MatchCandidate, cid).status == "pending"  # type: ignore[union-attr]
    # the buttons still decide, and keep the typed reason
    page.click("button.reject")
    page.wait_for_url(lambda u: f"/candidates/{cid}" not in u)
    with admin_session(hub.engine) as s:
        decided = s.get(MatchCandidate, cid)
        assert decided is not None
        assert (decided.status, decided.reason) == ("rejected", "different companies")
