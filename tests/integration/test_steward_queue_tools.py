"""Queue tools and steward productivity over HTTP (issue 16, items 6 and 7): sorts, the
source drop-down, the fields that disagree, previous and next pages, and the dashboard's
decisions per steward, backlog by age and oldest waiting candidate."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from stewardship import queue
from tests.integration.test_steward_claims import pending, setup_web
from tests.support.steward import Web, login


@pytest.fixture
def web(db_url: str) -> Iterator[Web]:
    w = setup_web(db_url)
    w.post_change("erp", "E-9", name="Acme Internationl Corporation", country="GB")
    # the postcode contradicts the golden record's: a field that disagrees
    w.post_change(
        "erp", "X-4", name="Acme Internationl Corp", postcode="ZZ9 9ZZ", city="London", country="GB"
    )
    yield w
    w.hub.close()


def shown(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-href="[^"]*" data-candidate="(\d+)"', html)]


def test_the_queue_sorts_by_probability_age_or_source(web: Web) -> None:
    login(web.client, "ann")
    by_id = {c.id: c for c in web.candidates() if c.status == "pending"}
    default = shown(web.client.get("/steward/queue").text)
    assert sorted(default) == sorted(by_id)
    assert [by_id[i].probability for i in default] == sorted(
        (by_id[i].probability for i in default), reverse=True
    )
    assert shown(web.client.get("/steward/queue?sort=age").text) == sorted(by_id)
    page = web.client.get("/steward/queue?sort=source").text
    sources = re.findall(r"<small>([\w-]+) · [\w-]+</small>", page)
    assert sources == sorted(sources) and len(set(sources)) == 2, sources
    r = web.client.get("/steward/queue?sort=size")
    assert r.status_code == 400 and "sort: &#39;size&#39;" in r.text


def test_sources_are_a_drop_down_and_disagreeing_fields_show_per_row(web: Web) -> None:
    login(web.client, "ann")
    page = web.client.get("/steward/queue").text
    for name in ("crm", "erp", "northwind-crm"):
        assert f'<option value="{name}"' in page
    filtered = web.client.get("/steward/queue?source=erp").text
    assert '<option value="erp" selected>' in filtered and shown(filtered)
    assert set(re.findall(r"<small>([\w-]+) · [\w-]+</small>", filtered)) == {"erp"}
    for c in web.candidates():
        against = sorted(k for k, w in c.weights.items() if float(w) < 0)
        if c.status == "pending" and against:
            row = re.search(rf'data-candidate="{c.id}"[^>]*>(.*?)</tr>', page, re.S)
            assert row and f'<td class="disagree">{", ".join(against)}</td>' in row.group(1)
            break
    else:
        pytest.fail("no candidate with a field that disagrees")


def test_previous_and_next_pages_keep_the_filter(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    login(web.client, "ann")
    ids = sorted(pending(web))
    assert len(ids) >= 4
    first = web.client.get("/steward/queue?sort=age").text
    assert shown(first) == ids[:2] and "Previous page" not in first
    nxt = re.search(r'href="([^"]+)" data-key="next-page"', first)
    assert nxt and "sort=age" in nxt.group(1)
    second = web.client.get(nxt.group(1).replace("&amp;", "&")).text
    assert shown(second) == ids[2:4]
    prev = re.search(r'href="([^"]+)" data-key="prev-page"', second)
    assert prev and "sort=age" in prev.group(1)
    back = web.client.get(prev.group(1).replace("&amp;", "&")).text
    assert shown(back) == ids[:2] and "Previous page" not in back


def test_the_dashboard_shows_decisions_per_steward_and_the_backlog(web: Web) -> None:
    token = login(web.client, "ann")
    ids = sorted(pending(web))
    r = web.client.post(
        f"/steward/candidates/{ids[-1]}/decide",
        data={"decision": "reject", "reason": "", "csrf": token},
    )
    assert r.status_code == 200
    page = web.client.get("/steward/dashboard").text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert re.search(r"\d{4}-\d\d-\d\d ann 1 ", text), text
    assert f"under 1 day {len(ids) - 1} " in text
    assert f'href="/steward/candidates/{ids[0]}">candidate {ids[0]}</a>' in page


@pytest.mark.parametrize("sort", ["", "age", "source"])
def test_the_compare_page_s_next_and_previous_follow_the_queue_s_sort(web: Web, sort: str) -> None:
    login(web.client, "ann")
    order = shown(web.client.get(f"/steward/queue?sort={sort}").text)
    here = order[1]
    page = web.client.get(f"/steward/candidates/{here}?sort={sort}").text
    prev = re.search(r'href="/steward/candidates/(\d+)[^"]*" data-key="prev"', page)
    nxt = re.search(r'href="/steward/candidates/(\d+)[^"]*" data-key="next"', page)
    assert prev and int(prev.group(1)) == order[0]
    assert nxt and int(nxt.group(1)) == order[2]
