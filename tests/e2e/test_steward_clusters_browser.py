"""Issue 16's must-haves 1-4 and 9 in real headless Chromium: a record's candidates decided
in one action, the merge preview, undo from the flash by key, the golden record's trail."""

from __future__ import annotations

from typing import Any

from hub.bootstrap import Hub
from tests.e2e.test_steward_browser import _login, _post, _shot
from tests.e2e.test_steward_second_pass import _candidates, _golden_of
from tests.support.steward import ACME, WEAK


def test_pick_one_of_a_record_s_candidates_then_undo_it_by_key(
    served: tuple[Hub, str], page: Any
) -> None:
    hub, url = served
    _post(hub, url, "crm", "A-1", **ACME)
    _post(hub, url, "erp", "E-2", name=ACME["name"], city="Leeds", postcode="LS1 1AA", country="GB")
    _post(hub, url, "northwind-crm", "NW-3", **WEAK)  # a candidate against each
    erp = _golden_of(hub, "erp", "E-2")
    own = _golden_of(hub, "northwind-crm", "NW-3")
    ids = sorted(c.id for c in _candidates(hub))
    chosen = next(c.id for c in _candidates(hub) if c.golden_id == erp)
    _login(page, url)
    page.goto(f"{url}/steward/candidates/{ids[0]}")
    heads = page.eval_on_selector_all(
        ".cluster-table thead th[data-candidate]", "hs => hs.map(h => +h.dataset.candidate)"
    )
    assert sorted(heads) == ids  # side by side
    assert page.locator("table.preview tr[data-field=name]").is_visible()  # the preview
    _shot(page, "compare-cluster")
    page.check(f"input[name=chosen][value='{chosen}']")
    page.fill("form.decide-cluster input[name=reason]", "the Leeds office")
    page.press("form.decide-cluster input[name=reason]", "Enter")  # Enter never decides
    assert {c.status for c in _candidates(hub)} == {"pending"}
    page.click("button[data-cluster-decide]")
    page.wait_for_selector("form.undo")
    flash = page.inner_text("form.undo")
    assert f"“{WEAK['name']}” merged into “{ACME['name']}”" in flash and "1 other" in flash
    assert _golden_of(hub, "northwind-crm", "NW-3") == erp
    statuses = {c.id: c.status for c in _candidates(hub)}
    assert statuses[chosen] == "merged" and sorted(statuses.values()) == ["merged", "rejected"]
    page.keyboard.press("u")
    page.wait_for_selector("text=undone")
    statuses = {c.id: c.status for c in _candidates(hub)}
    assert statuses[chosen] == "undone" and "rejected" not in statuses.values()
    assert _golden_of(hub, "northwind-crm", "NW-3") not in (erp, own)
    page.goto(f"{url}/steward/golden/client/{erp}")
    _shot(page, "golden-trail")
    trail = page.inner_text("table.trail")
    assert "merged in" in trail and "split off" in trail and "“undo”" in trail
    assert "“the Leeds office”" in trail
