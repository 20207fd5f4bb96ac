"""A record with several candidates is one question (issue 16, must-have 1): the compare page
shows them side by side and decides them in one action, pick one or none."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from hub.app import create_app
from hub.domain.commands import DecideCluster
from hub.domain.errors import ConcordError, Conflict
from hub.store.tables import CandidateClaim, MatchCandidate
from hub.store.uow import admin_session
from stewardship import queue
from tests.conftest import make_hub
from tests.support.steward import ACME, SECRET, WEAK, Web, add_source, add_stewards, login


@pytest.fixture
def web(db_url: str) -> Iterator[Web]:
    hub = make_hub(db_url, session_secret=SECRET)
    add_stewards(hub)
    keys = {n: add_source(hub, n, ["client"]) for n in ("crm", "northwind-crm", "erp")}
    client = TestClient(create_app(hub, run_worker=False), raise_server_exceptions=False)
    yield Web(hub, client, keys)
    hub.close()


def two_candidates(web: Web) -> tuple[str, str, list[int]]:
    """NW-3 waits with a candidate against each of two golden records."""
    web.post_change("crm", "A-1", **ACME)
    web.post_change("erp", "E-2", name=ACME["name"], city="Leeds", postcode="LS1 1AA", country="GB")
    web.post_change("northwind-crm", "NW-3", **WEAK)
    pending = sorted(c.id for c in web.candidates() if c.status == "pending")
    assert len(pending) == 2
    return web.golden_of("crm", "A-1"), web.golden_of("erp", "E-2"), pending


def _statuses(web: Web) -> dict[int, str]:
    return {c.id: c.status for c in web.candidates()}


def test_the_compare_page_shows_every_candidate_side_by_side(web: Web) -> None:
    _, _, ids = two_candidates(web)
    login(web.client, "ann")
    html = web.client.get(f"/steward/candidates/{ids[0]}").text
    table = html.split('class="cluster-table"')[1].split("</table>")[0]
    assert all(f'data-candidate="{i}"' in table for i in ids)
    choices = re.findall(r'name="chosen" value="(\w+)"', table)
    assert choices[0] == "none" and sorted(choices[1:]) == sorted(map(str, ids))
    assert "Decide all 2" in html


def test_picking_one_merges_it_and_rejects_the_others_in_one_action(web: Web) -> None:
    a, e, ids = two_candidates(web)
    by_golden = {c.golden_id: c.id for c in web.candidates()}
    token = login(web.client, "ann")
    r = web.client.post(
        f"/steward/candidates/{ids[0]}/cluster",
        data={"ids": ",".join(map(str, ids)), "chosen": str(by_golden[e]), "csrf": token},
    )
    assert r.status_code == 200, r.text
    assert _statuses(web) == {by_golden[e]: "merged", by_golden[a]: "rejected"}
    assert web.golden_of("northwind-crm", "NW-3") == e
    actions = [(what, d["candidate"]) for _, what, d in web.audit() if what.startswith("candid")]
    assert sorted(actions) == sorted(
        [("candidate.merge", by_golden[e]), ("candidate.reject", by_golden[a])]
    )


def test_none_of_these_rejects_them_all(web: Web) -> None:
    _, _, ids = two_candidates(web)
    own = web.golden_of("northwind-crm", "NW-3")
    token = login(web.client, "ann")
    r = web.client.post(
        f"/steward/candidates/{ids[0]}/cluster",
        data={"ids": ",".join(map(str, ids)), "chosen": "none", "csrf": token},
    )
    assert r.status_code == 200 and "2 candidates not a match" in r.text
    assert set(_statuses(web).values()) == {"rejected"}
    assert web.golden_of("northwind-crm", "NW-3") == own


def test_a_cluster_decided_meanwhile_decides_nothing(web: Web) -> None:
    _, _, ids = two_candidates(web)
    web.hub.bus.handle(DecideCluster((ids[0],), None, "one of them first", "bob"))
    with pytest.raises(Conflict, match=f"candidate {ids[0]} is rejected already"):
        web.hub.bus.handle(DecideCluster(tuple(ids), ids[1], "late", "ann"))
    assert _statuses(web) == {ids[0]: "rejected", ids[1]: "pending"}


def test_a_choice_outside_the_cluster_is_refused(web: Web) -> None:
    _, _, ids = two_candidates(web)
    with pytest.raises(ConcordError, match="not one of the candidates"):
        web.hub.bus.handle(DecideCluster(tuple(ids), 999, "", "ann"))
    assert set(_statuses(web).values()) == {"pending"}


def _section(html: str, css: str) -> str:
    return html.split(f'class="{css}"')[1].split("</table>")[0]


def test_the_compare_page_previews_the_merge_per_field(web: Web) -> None:
    web.post_change("crm", "A-1", **ACME)
    web.post_change("northwind-crm", "NW-3", **WEAK, industry="Software")
    [cid] = [c.id for c in web.candidates() if c.status == "pending"]
    login(web.client, "ann")
    preview = _section(web.client.get(f"/steward/candidates/{cid}").text, "preview")
    rows = {m[0]: m[1] for m in re.findall(r'data-field="(\w+)">(.*?)</tr>', preview, flags=re.S)}
    assert "A-1" in rows["name"] and "this record" not in rows["name"]  # the crm name stays
    assert ACME["name"] in rows["name"]
    assert "owner&#39;s source" in rows["name"]
    assert "this record" in rows["industry"] and "Software" in rows["industry"]
    assert "owner&#39;s source" in rows["industry"]  # a crm-kind source, the only one
    # nothing written: the golden record still has its own city
    golden = web.golden_of("crm", "A-1")
    assert web.golden_of("northwind-crm", "NW-3") != golden


def test_the_golden_page_shows_every_source_value_and_which_won(web: Web) -> None:
    web.post_change("crm", "A-1", **ACME)
    web.post_change("erp", "E-1", **{**ACME, "city": "York"})
    golden = web.golden_of("crm", "A-1")
    assert web.golden_of("erp", "E-1") == golden
    login(web.client, "ann")
    table = _section(web.client.get(f"/steward/golden/client/{golden}").text, "competing")
    city = re.findall(r'<tr class="(won|lost)" data-field="city">(.*?)</tr>', table, flags=re.S)
    assert len(city) == 2
    assert sorted(k for k, _ in city) == ["lost", "won"]
    won = next(text for k, text in city if k == "won")
    assert "won:" in won and re.search(r"\d{2}:\d{2}:\d{2}( UTC)?</td>", won)
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", table)  # no microseconds


def _undo_form(html: str) -> str:
    m = re.search(r'<form class="flash ok undo".*?</form>', html, flags=re.S)
    assert m, html
    return m.group(0)


def test_the_flash_names_both_records_and_undo_of_a_reject_makes_the_pair_pending(
    web: Web,
) -> None:
    web.post_change("crm", "A-1", **ACME)
    web.post_change("northwind-crm", "NW-3", **WEAK)
    [cid] = [c.id for c in web.candidates() if c.status == "pending"]
    token = login(web.client, "ann")
    r = web.client.post(
        f"/steward/candidates/{cid}/decide", data={"decision": "reject", "csrf": token}
    )
    form = _undo_form(r.text)
    assert f"“{WEAK['name']}” is not “{ACME['name']}”" in form
    assert _statuses(web) == {cid: "rejected"}
    r = web.client.post("/steward/undo", data={"ids": str(cid), "csrf": token})
    assert r.status_code == 200 and "undone" in r.text
    assert _statuses(web) == {cid: "pending"}  # in the queue again
    assert f"/steward/candidates/{cid}" in web.client.get("/steward/queue").text
    undone = [d for _, what, d in web.audit() if what == "candidate.undo"]
    assert [(d["before"], d["after"], d["reason"]) for d in undone] == [
        ("rejected", "pending", "undo")
    ]
    r = web.client.post("/steward/undo", data={"ids": str(cid), "csrf": token})
    assert "undone already" in r.text  # a second undo is refused
    assert _statuses(web) == {cid: "pending"}


def test_undo_of_a_merge_splits_the_record_off_and_leaves_no_exclusion(web: Web) -> None:
    web.post_change("crm", "A-1", **ACME)
    web.post_change("northwind-crm", "NW-3", **WEAK)
    [cid] = [c.id for c in web.candidates() if c.status == "pending"]
    golden = web.golden_of("crm", "A-1")
    token = login(web.client, "ann")
    r = web.client.post(
        f"/steward/candidates/{cid}/decide", data={"decision": "merge", "csrf": token}
    )
    assert f"“{WEAK['name']}” merged into “{ACME['name']}”" in _undo_form(r.text)
    assert web.golden_of("northwind-crm", "NW-3") == golden
    r = web.client.post("/steward/undo", data={"ids": str(cid), "csrf": token})
    assert r.status_code == 200 and "undone" in r.text, r.text
    assert web.golden_of("northwind-crm", "NW-3") != golden  # standing alone again
    assert _statuses(web) == {cid: "undone"}  # no "not a match" left: it may be proposed
    splits = [d for _, what, d in web.audit() if what == "golden.split"]
    assert [(d["before"], d["reason"]) for d in splits] == [(golden, "undo")]
    r = web.client.post("/steward/undo", data={"ids": str(cid), "csrf": token})
    assert "undone already" in r.text
    assert web.golden_of("northwind-crm", "NW-3") != golden


def test_undo_after_the_window_is_refused(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    web.post_change("crm", "A-1", **ACME)
    web.post_change("northwind-crm", "NW-3", **WEAK)
    [cid] = [c.id for c in web.candidates() if c.status == "pending"]
    web.hub.bus.handle(DecideCluster((cid,), None, "no", "ann"))
    monkeypatch.setattr(web.hub.settings, "steward_undo_seconds", 0)
    token = login(web.client, "ann")
    r = web.client.post("/steward/undo", data={"ids": str(cid), "csrf": token})
    assert "too late to undo" in r.text
    assert _statuses(web) == {cid: "rejected"}


def test_undo_of_a_cluster_decision_undoes_all_of_it(web: Web) -> None:
    _, erp, ids = two_candidates(web)
    own = web.golden_of("northwind-crm", "NW-3")
    chosen = next(c.id for c in web.candidates() if c.golden_id == erp)
    token = login(web.client, "ann")
    r = web.client.post(
        f"/steward/candidates/{ids[0]}/cluster",
        data={"ids": ",".join(map(str, ids)), "chosen": str(chosen), "csrf": token},
    )
    assert "1 other not a match" in _undo_form(r.text)
    r = web.client.post("/steward/undo", data={"ids": ",".join(map(str, ids)), "csrf": token})
    assert "undone" in r.text
    statuses = _statuses(web)
    assert statuses[chosen] == "undone" and {statuses[i] for i in ids if i != chosen} == {"pending"}
    assert web.golden_of("northwind-crm", "NW-3") not in (erp, own)  # split off, alone


def _three_candidates_apart(web: Web) -> tuple[list[int], int]:
    """NW-3 with candidates at 0.95 and 0.55, NW-4 with one at 0.8 between them: a strict
    sort by probability would put NW-4's between NW-3's two. Returns NW-3's, best first, and
    NW-4's."""
    web.post_change("crm", "A-1", **ACME)
    web.post_change("erp", "E-2", name=ACME["name"], city="Leeds", postcode="LS1 1AA", country="GB")
    web.post_change("crm", "B-1", name="Borealis Trading Company", city="Leeds", country="GB")
    web.post_change("northwind-crm", "NW-3", **WEAK)
    web.post_change("northwind-crm", "NW-4", name="Borealis Tradng Co", country="GB")
    pending = [c for c in web.candidates() if c.status == "pending"]
    counts = Counter(c.source_record_id for c in pending)
    pair = sorted(c.id for c in pending if counts[c.source_record_id] == 2)
    [single] = [c.id for c in pending if counts[c.source_record_id] == 1]
    with admin_session(web.hub.engine) as s:
        for cid, p in ((pair[0], 0.95), (pair[1], 0.55), (single, 0.8)):
            s.execute(update(MatchCandidate).where(MatchCandidate.id == cid).values(probability=p))
    return pair, single


def test_the_queue_lists_a_record_s_candidates_together_at_its_best_one_s_place(
    web: Web,
) -> None:
    pair, single = _three_candidates_apart(web)
    login(web.client, "ann")
    html = web.client.get("/steward/queue").text
    assert re.findall(r'data-candidate="(\d+)" data-record', html) == [
        str(i) for i in (*pair, single)
    ]
    assert html.count('class="same-record"') == 1
    assert html.count("2 candidates for this record") == 1  # said once, on the group's first row
    page = web.client.get(f"/steward/candidates/{pair[0]}").text
    nxt = re.search(r'href="/steward/candidates/(\d+)[^"]*" data-key="next"', page)
    assert nxt and int(nxt.group(1)) == pair[1]  # the record's other candidate comes next


def test_a_page_never_splits_a_record_s_candidates(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair, single = _three_candidates_apart(web)
    monkeypatch.setattr(queue, "PAGE_SIZE", 1)
    login(web.client, "ann")
    first = web.client.get("/steward/queue").text
    assert re.findall(r'data-candidate="(\d+)" data-record', first) == list(map(str, pair))
    nxt = re.search(r'href="([^"]+)" data-key="next-page"', first)
    assert nxt
    second = web.client.get(nxt.group(1).replace("&amp;", "&")).text
    assert re.findall(r'data-candidate="(\d+)" data-record', second) == [str(single)]
    assert 'data-key="next-page"' not in second
    prev = re.search(r'href="([^"]+)" data-key="prev-page"', second)
    assert prev
    back = web.client.get(prev.group(1).replace("&amp;", "&")).text
    assert re.findall(r'data-candidate="(\d+)" data-record', back) == list(map(str, pair))


def test_claiming_the_next_one_claims_the_whole_record(web: Web) -> None:
    pair, _ = _three_candidates_apart(web)
    token = login(web.client, "ann")
    r = web.client.post("/steward/claims", data={"count": "1", "csrf": token})
    assert r.status_code == 200 and "claimed 2 candidates" in r.text
    with admin_session(web.hub.engine) as s:
        held = {c.candidate_id: c.steward for c in s.scalars(select(CandidateClaim))}
    assert held == {pair[0]: "ann", pair[1]: "ann"}


def test_a_decided_candidate_s_page_offers_undo_within_the_window(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, erp, ids = two_candidates(web)
    chosen = next(c.id for c in web.candidates() if c.golden_id == erp)
    web.hub.bus.handle(DecideCluster(tuple(ids), chosen, "", "ann"))
    login(web.client, "ann")
    html = web.client.get(f"/steward/candidates/{ids[0]}").text
    form = re.search(r'<form class="undo-decision".*?</form>', html, re.S)
    assert form and f'name="ids" value="{ids[0]},{ids[1]}"' in form.group(0)
    monkeypatch.setattr(web.hub.settings, "steward_undo_seconds", 0)
    assert 'class="undo-decision"' not in web.client.get(f"/steward/candidates/{ids[0]}").text


def test_bad_cluster_and_undo_input_gets_a_clear_error_and_changes_nothing(web: Web) -> None:
    _, _, ids = two_candidates(web)
    token = login(web.client, "ann")
    r = web.client.post(
        f"/steward/candidates/{ids[0]}/cluster", data={"ids": "1,x", "chosen": "1", "csrf": token}
    )
    assert (
        r.status_code == 400
        and "candidates &#39;1,x&#39;" in r.text
        and "not candidate ids" in r.text
    )
    r = web.client.post("/steward/undo", data={"ids": str(ids[0]), "csrf": token})
    assert f"candidate {ids[0]} is pending: there is no decision to undo" in r.text
    assert set(_statuses(web).values()) == {"pending"}


def test_undo_of_a_merge_puts_back_the_candidates_it_superseded(web: Web) -> None:
    _, erp, ids = two_candidates(web)
    chosen = next(c.id for c in web.candidates() if c.golden_id == erp)
    [other] = [i for i in ids if i != chosen]
    token = login(web.client, "ann")
    web.client.post(
        f"/steward/candidates/{chosen}/decide", data={"decision": "merge", "csrf": token}
    )
    assert _statuses(web) == {chosen: "merged", other: "superseded"}
    r = web.client.post("/steward/undo", data={"ids": str(chosen), "csrf": token})
    assert r.status_code == 200 and "undone" in r.text, r.text
    assert f"pending again: {other}" in r.text
    assert _statuses(web) == {chosen: "undone", other: "pending"}  # the question is open again
    assert web.golden_of("northwind-crm", "NW-3") != erp
    assert f"/steward/candidates/{other}" in web.client.get("/steward/queue").text
    undone = [
        (d["candidate"], d["before"], d["after"])
        for _, w, d in web.audit()
        if w == "candidate.undo"
    ]
    assert sorted(undone) == sorted(
        [(chosen, "merged", "undone"), (other, "superseded", "pending")]
    )


def test_undo_leaves_a_candidate_superseded_by_something_else_alone(web: Web) -> None:
    """Only the candidates the merge itself superseded come back: one the apply path
    superseded (or another steward's decision) stays as it is."""
    _, erp, ids = two_candidates(web)
    chosen = next(c.id for c in web.candidates() if c.golden_id == erp)
    [other] = [i for i in ids if i != chosen]
    with admin_session(web.hub.engine) as s:
        s.execute(
            update(MatchCandidate)
            .where(MatchCandidate.id == other)
            .values(status="superseded", decided_by="concord")
        )
    token = login(web.client, "ann")
    web.client.post(
        f"/steward/candidates/{chosen}/decide", data={"decision": "merge", "csrf": token}
    )
    r = web.client.post("/steward/undo", data={"ids": str(chosen), "csrf": token})
    assert r.status_code == 200 and "undone" in r.text, r.text
    assert _statuses(web) == {chosen: "undone", other: "superseded"}
