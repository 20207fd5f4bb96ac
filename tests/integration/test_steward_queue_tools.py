"""Queue tools and steward productivity over HTTP (issue 16, items 6 and 7): sorts, the
source drop-down, the fields that disagree, previous and next pages, and the dashboard's
decisions per steward, backlog by age and oldest waiting candidate."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

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


def grouped(web: Web, sort: str) -> list[int]:
    """The queue's order worked out here from the pending candidates: one group per incoming
    record at its best candidate's place (the highest probability, or the oldest; then the
    candidate id), the record's candidates in that order within it."""
    by_record: dict[int, list[Any]] = defaultdict(list)
    for c in web.candidates():
        if c.status == "pending":
            by_record[c.source_record_id].append(c)
    if sort == "age":
        groups = [sorted(cs, key=lambda c: c.id) for cs in by_record.values()]
        return [c.id for cs in sorted(groups, key=lambda cs: cs[0].id) for c in cs]
    inner = [
        sorted(cs, key=lambda c: (c.probability, c.id), reverse=True) for cs in by_record.values()
    ]
    inner.sort(key=lambda cs: (cs[0].probability, cs[0].id), reverse=True)
    return [c.id for cs in inner for c in cs]


def test_the_queue_sorts_by_probability_age_or_source(web: Web) -> None:
    login(web.client, "ann")
    by_id = {c.id: c for c in web.candidates() if c.status == "pending"}
    assert len({c.source_record_id for c in by_id.values()}) < len(by_id)  # some share one
    default = shown(web.client.get("/steward/queue").text)
    assert default == grouped(web, "")
    assert shown(web.client.get("/steward/queue?sort=age").text) == grouped(web, "age")
    page = web.client.get("/steward/queue?sort=source").text
    sources = re.findall(r"<small>([\w-]+) · [\w-]+</small>", page)
    assert sources == sorted(sources) and len(set(sources)) == 2, sources
    records = re.findall(r'data-record="(\d+)"', page)
    assert len(set(records)) == len([r for i, r in enumerate(records) if records[i - 1] != r])
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


def _link(html: str, key: str) -> str | None:
    found = re.search(rf'href="([^"]+)" data-key="{key}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


@pytest.mark.parametrize("sort", ["", "age", "source"])
def test_previous_and_next_pages_keep_the_filter_and_whole_records(
    web: Web, monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    login(web.client, "ann")
    record_of = {c.id: c.source_record_id for c in web.candidates() if c.status == "pending"}
    pages: list[list[int]] = []
    url: str | None = f"/steward/queue?sort={sort}"
    while url:
        html = web.client.get(url).text
        assert ("Previous page" in html) == bool(pages)
        pages.append(shown(html))
        url = _link(html, "next-page")
        assert url is None or f"sort={sort}" in url or not sort
    walked = [pages[-1]]
    while url := _link(html, "prev-page"):
        assert f"sort={sort}" in url or not sort
        html = web.client.get(url).text
        walked.insert(0, shown(html))
    assert walked == pages and len(pages) > 2
    if sort != "source":
        assert [i for p in pages for i in p] == grouped(web, sort)
    assert sorted(i for p in pages for i in p) == sorted(record_of)  # none twice, none lost
    records = [{record_of[i] for i in p} for p in pages]
    assert all(not (a & b) for n, a in enumerate(records) for b in records[n + 1 :])  # not split
    assert all(len(p) <= 2 or len(records[n]) == 1 for n, p in enumerate(pages))
    assert any(len(p) == 2 and len(records[n]) == 1 for n, p in enumerate(pages))


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
