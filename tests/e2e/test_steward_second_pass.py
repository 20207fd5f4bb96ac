"""The steward page's second pass (issue 16, bugs 2 to 7) in real headless Chromium: each test
failed before its fix. The fixtures and helpers are the first pass's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.bootstrap import Hub
from hub.store.tables import MatchCandidate, SourceRecordRow
from hub.store.uow import admin_session
from tests.e2e.test_steward_browser import _login, _post, _two_unclear_pairs
from tests.support.steward import ACME, WEAK

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


def test_after_a_merge_the_record_s_other_candidate_is_not_the_next_page(
    served: tuple[Hub, str], page: Any
) -> None:
    hub, url = served
    _post(hub, url, "crm", "A-1", **ACME)
    _post(hub, url, "erp", "E-2", name=ACME["name"], city="Leeds", postcode="LS1 1AA", country="GB")
    _post(hub, url, "northwind-crm", "NW-3", **WEAK)  # a candidate against each
    _post(hub, url, "crm", "B-1", name="Borealis Trading Company", city="Leeds", country="GB")
    _post(hub, url, "northwind-crm", "NW-4", name="Borealis Tradng Co", country="GB")
    by_record: dict[int, list[int]] = {}
    for c in _candidates(hub):
        by_record.setdefault(c.source_record_id, []).append(c.id)
    [pair] = [sorted(ids, reverse=True) for ids in by_record.values() if len(ids) == 2]
    [(other,)] = [ids for ids in by_record.values() if len(ids) == 1]
    _login(page, url)
    # the first of the pair in queue order: the next in that order is the pair's other one
    page.goto(f"{url}/steward/candidates/{pair[0]}")
    page.keyboard.press("m")
    page.wait_for_url(lambda u: f"/candidates/{pair[0]}" not in u)
    assert "superseded" not in page.inner_text("main")
    assert page.url.endswith(f"/steward/candidates/{other}")
    assert page.locator("button.merge").is_visible()
    statuses = {c.id: c.status for c in _candidates(hub)}
    assert statuses == {pair[0]: "merged", pair[1]: "superseded", other: "pending"}


def test_bulk_lists_what_it_decides_and_the_records_it_leaves_out(
    served: tuple[Hub, str], page: Any
) -> None:
    hub, url = served
    _post(hub, url, "crm", "A-1", **ACME)
    _post(hub, url, "erp", "E-2", name=ACME["name"], city="Leeds", postcode="LS1 1AA", country="GB")
    _post(hub, url, "northwind-crm", "NW-3", **WEAK)  # two candidates: one record, two rows
    _post(hub, url, "crm", "B-1", name="Borealis Trading Company", city="Leeds", country="GB")
    _post(hub, url, "northwind-crm", "NW-4", name="Borealis Tradng Co", country="GB")
    pending = _candidates(hub)
    nw3 = {c.id for c in pending if c.source_record_id == pending[0].source_record_id}
    [single] = {c.id for c in pending} - nw3
    _login(page, url)
    page.goto(f"{url}/steward/queue")
    page.select_option("select[name=decision]", "merge")
    page.fill("input[name=threshold]", "0.5")
    page.click("form.bulk button")
    page.wait_for_url(f"{url}/steward/bulk*")
    listed = page.eval_on_selector_all(
        ".will-decide tr[data-candidate]", "rs => rs.map(r => +r.dataset.candidate)"
    )
    skipped = page.eval_on_selector_all(
        ".skipped tr[data-candidate]", "rs => rs.map(r => +r.dataset.candidate)"
    )
    assert (listed, sorted(skipped)) == ([single], sorted(nw3))
    assert "Merge 1 candidate with" in page.inner_text(".question")
    page.click("form.confirm button.merge")
    page.wait_for_url(f"{url}/steward/queue*")
    assert "merged 1 candidate" in page.inner_text(".flash")
    assert "2 candidates of records with several candidates left" in page.inner_text(".flash")
    statuses = {c.id: c.status for c in _candidates(hub)}
    assert statuses == {single: "merged", **dict.fromkeys(nw3, "pending")}


def _evidence(page: Any) -> dict[str, tuple[str, float]]:
    """Per compared field on the compare page: the level shown and the weight shown."""
    rows = page.eval_on_selector_all(
        "table.compare tbody tr:not(.other)",
        "rs => rs.map(r => [r.cells[0].innerText, r.cells[3].innerText, r.cells[4].innerText])",
    )
    return {f: (level.split("\n")[0], float(w)) for f, level, w in rows}


def test_evidence_and_probability_come_from_one_snapshot_of_the_golden_record(
    served: tuple[Hub, str], page: Any
) -> None:
    hub, url = served
    _two_unclear_pairs(hub, url)
    acme, borealis = _candidates(hub)
    # the golden records change after the candidates were scored
    _post(hub, url, "crm", "A-1", **{**ACME, "name": "ACME Global Corporation"})
    _post(hub, url, "crm", "B-1", name="Borealis Tradng Co", city="Leeds", country="GB")
    _login(page, url)
    shown = page.eval_on_selector_all(
        "table.queue tbody tr",
        "rs => rs.map(r => [r.dataset.href, +r.querySelector('.prob').innerText])",
    )
    assert [h.split("?")[0].rsplit("/", 1)[1] for h, _ in shown] == [str(borealis.id)]
    queued = shown[0][1]
    assert queued != round(borealis.probability, 3)  # scored again, not the stored score
    page.goto(f"{url}/steward/candidates/{borealis.id}")
    assert float(page.inner_text(".prob-total")) == queued
    evidence = _evidence(page)
    assert evidence["name"][0] == "same" and evidence["name"][1] > 0
    # a name that no longer agrees never carries the weight it had when it agreed
    page.goto(f"{url}/steward/candidates/{acme.id}")
    assert all(w <= 0 for level, w in _evidence(page).values() if level == "different")
    assert "superseded" in page.inner_text(".summary")
    assert not page.locator("button.merge").count()
