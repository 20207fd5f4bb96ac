"""The steward page over HTTP (TestClient): login, roles, CSRF, queue, compare, decisions,
bulk, the golden-record page and its actions, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.app import create_app
from hub.store.tables import SourceRecordRow
from hub.store.uow import admin_session
from tests.conftest import make_hub
from tests.support.steward import (
    ACME,
    SECRET,
    WEAK,
    Web,
    add_source,
    add_stewards,
    csrf_of,
    login,
)


@pytest.fixture
def web(db_url: str) -> Iterator[Web]:
    hub = make_hub(db_url, contact_keys=True, session_secret=SECRET)
    add_stewards(hub)
    keys = {
        "crm": add_source(hub, "crm", ["client"]),
        "northwind-crm": add_source(hub, "northwind-crm", ["client"]),
        "erp": add_source(hub, "erp", ["client"]),
    }
    client = TestClient(create_app(hub, run_worker=False), raise_server_exceptions=False)
    yield Web(hub, client, keys)
    hub.close()


def _candidate(web: Web) -> int:
    web.post_change("crm", "A-1", **ACME)
    web.post_change("northwind-crm", "NW-3", **WEAK)
    (c,) = web.candidates()
    assert c.status == "pending"
    return c.id


def test_pages_need_a_login_and_the_cookie_is_httponly_and_samesite(web: Web) -> None:
    r = web.client.get("/steward/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/steward/login")
    assert web.client.get("/", follow_redirects=False).headers["location"] == "/steward/"
    r = web.client.get("/steward/queue?domain=client", follow_redirects=False)
    assert r.headers["location"] == "/steward/login?next=%2Fsteward%2Fqueue%3Fdomain%3Dclient"
    page = web.client.get("/steward/login")
    r = web.client.post(
        "/steward/login",
        data={"name": "ann", "password": "correct horse battery", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = web.client.get("/steward/queue")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_a_post_without_the_csrf_token_is_refused(web: Web) -> None:
    cid = _candidate(web)
    login(web.client, "ann")
    for token in (None, "forged"):
        data = {"decision": "merge"} | ({"csrf": token} if token else {})
        r = web.client.post(f"/steward/candidates/{cid}/decide", data=data)
        assert r.status_code == 403 and "security token" in r.text
    assert web.candidates()[0].status == "pending"
    r = web.client.post("/steward/login", data={"name": "ann", "password": "x" * 8})
    assert r.status_code == 403


def test_failed_logins_are_throttled_and_counted_on_the_account(web: Web) -> None:
    page = web.client.get("/steward/login")
    token = csrf_of(page.text)
    for _ in range(5):
        r = web.client.post(
            "/steward/login", data={"name": "ann", "password": "wrong-pass", "csrf": token}
        )
        assert r.status_code == 401 and "wrong name or password" in r.text
    r = web.client.post(
        "/steward/login",
        data={"name": "ann", "password": "correct horse battery", "csrf": token},
    )
    assert r.status_code == 401 and "wrong name or password" in r.text  # locked: right one fails
    r = web.client.post(
        "/steward/login", data={"name": "nobody", "password": "whatever1", "csrf": token}
    )
    assert r.status_code == 401 and "wrong name or password" in r.text  # unknown: the same
    with admin_session(web.hub.engine) as s:
        from hub.store import stewards

        row = stewards.find(s, "ann")
        assert row is not None and row.failed_logins == 5 and row.locked_until is not None
    assert ("ann", "steward.login-failed", {"failures": 5}) in web.audit()


def test_queue_counts_filters_and_opens_the_compare_page(web: Web) -> None:
    cid = _candidate(web)
    login(web.client, "vic")
    page = web.client.get("/steward/queue")
    assert page.status_code == 200
    assert "Acme Internationl Corp" in page.text and f"/steward/candidates/{cid}" in page.text
    assert "client <b>1</b>" in page.text
    assert "Acme" not in web.client.get("/steward/queue?source=erp").text
    assert web.client.get("/steward/queue?domain=planet").status_code == 400
    assert "band: &#39;huge&#39;" in web.client.get("/steward/queue?band=huge").text
    compare = web.client.get(f"/steward/candidates/{cid}")
    assert compare.status_code == 200
    for text in ("ACME International Corporation", "Acme Internationl Corp", "1 Long Lane"):
        assert text in compare.text
    assert 'class="bar pos"' in compare.text and "probability" in compare.text
    assert web.client.get("/steward/candidates/999999").status_code == 404


def test_a_viewer_sees_but_cannot_decide(web: Web) -> None:
    cid = _candidate(web)
    token = login(web.client, "vic")
    page = web.client.get(f"/steward/candidates/{cid}")
    assert "viewer" in page.text and 'value="merge"' not in page.text
    r = web.client.post(
        f"/steward/candidates/{cid}/decide", data={"decision": "merge", "csrf": token}
    )
    assert r.status_code == 403
    assert web.candidates()[0].status == "pending"


def test_merge_from_the_compare_page_links_audits_and_moves_on(web: Web) -> None:
    cid = _candidate(web)
    token = login(web.client, "ann")
    r = web.client.post(
        f"/steward/candidates/{cid}/decide",
        data={"decision": "merge", "reason": "same office", "csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/steward/queue")
    assert web.candidates()[0].status == "merged"
    assert web.candidates()[0].decided_by == "ann"
    (entry,) = [a for a in web.audit() if a[1] == "candidate.merge"]
    assert entry[0] == "ann" and entry[2]["reason"] == "same office"
    assert entry[2]["before"] == "pending" and entry[2]["after"] == "merged"
    with admin_session(web.hub.engine) as s:
        golden = {r.golden_id for r in s.scalars(select(SourceRecordRow))}
    assert len(golden) == 1


def test_after_a_decision_the_next_candidate_opens(web: Web) -> None:
    web.post_change("crm", "A-1", **ACME)
    web.post_change("crm", "B-1", **{**ACME, "name": "Borealis Trading Company", "postcode": "N1"})
    web.post_change("northwind-crm", "NW-3", **WEAK)
    web.post_change("northwind-crm", "NW-4", name="Borealis Tradng Co", country="GB")
    first, second = sorted(web.candidates(), key=lambda c: (-c.probability, -c.id))[:2]
    token = login(web.client, "ann")
    r = web.client.post(
        f"/steward/candidates/{first.id}/decide",
        data={"decision": "reject", "csrf": token},
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/steward/candidates/{second.id}"
    assert {c.id: c.status for c in web.candidates()}[first.id] == "rejected"
    r = web.client.post(
        f"/steward/candidates/{second.id}/decide",
        data={"decision": "skip", "csrf": token},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/steward/queue"  # nothing else pending but itself


def test_bulk_says_how_many_then_decides_them(web: Web) -> None:
    cid = _candidate(web)
    token = login(web.client, "ann")
    confirm = web.client.get("/steward/bulk?decision=reject&threshold=0.999&domain=client")
    assert "Reject <b data-count>1</b> candidate with" in confirm.text
    assert f'name="ids" value="{cid}"' in confirm.text
    stale = web.client.post(
        "/steward/bulk",
        data={"decision": "reject", "threshold": "0.999", "ids": f"{cid},{cid + 1}", "csrf": token},
    )
    assert "the selection changed" in stale.text
    assert web.candidates()[0].status == "pending"
    web.client.post(
        "/steward/bulk",
        data={
            "decision": "reject",
            "threshold": "0.999",
            "ids": str(cid),
            "domain": "client",
            "csrf": token,
        },
    )
    assert web.candidates()[0].status == "rejected"
    assert web.client.get("/steward/bulk?threshold=2").status_code == 400


def test_a_name_with_markup_renders_as_text(web: Web) -> None:
    evil = "<script>alert(1)</script>"
    web.post_change("crm", "X-1", name=evil, city="London", country="GB")
    login(web.client, "ann")
    with admin_session(web.hub.engine) as s:
        gid = s.scalars(select(SourceRecordRow.golden_id)).one()
    for url in (f"/steward/golden/client/{gid}", "/steward/golden?domain=client&q=script"):
        page = web.client.get(url)
        assert page.status_code == 200
        assert evil not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_golden_page_split_override_and_merge_go_through_the_bus(web: Web) -> None:
    web.post_change("crm", "A-1", name="Acme Ltd", website="https://acme.com")
    web.post_change("erp", "E-9", name="Acme Holdings", website="acme.com")
    web.post_change("crm", "Z-1", name="Zenith Partners", city="Leeds")
    with admin_session(web.hub.engine) as s:
        gid = s.scalars(
            select(SourceRecordRow.golden_id).where(SourceRecordRow.source_key == "A-1")
        ).one()
        zid = s.scalars(
            select(SourceRecordRow.golden_id).where(SourceRecordRow.source_key == "Z-1")
        ).one()
    token = login(web.client, "ann")
    page = web.client.get(f"/steward/golden/client/{gid}")
    assert page.status_code == 200 and "E-9" in page.text and "History" in page.text
    url = f"/steward/golden/client/{gid}"
    r = web.client.post(
        f"{url}/override",
        data={"field": "name", "value": "ACME Group", "reason": "board minutes", "csrf": token},
    )
    assert r.status_code == 200 and "name overridden" in r.text and "board minutes" in r.text
    assert "ACME Group" in r.text
    r = web.client.post(
        f"{url}/override/remove", data={"field": "name", "reason": "undo", "csrf": token}
    )
    assert "given back to survivorship" in r.text
    r = web.client.post(
        f"{url}/split",
        data={"source": "erp", "source_key": "E-9", "reason": "a holding", "csrf": token},
    )
    assert "split erp E-9" in r.text
    with admin_session(web.hub.engine) as s:
        erp_golden = s.scalars(
            select(SourceRecordRow.golden_id).where(SourceRecordRow.source_key == "E-9")
        ).one()
    assert erp_golden != gid
    found = web.client.get(f"{url}?q=zenith")
    assert zid in found.text
    r = web.client.post(f"{url}/merge", data={"other": zid, "reason": "same", "csrf": token})
    assert f"merged {zid} into this record" in r.text
    actions = {(a[0], a[1]) for a in web.audit()}
    assert {("ann", "golden.split"), ("ann", "golden.override"), ("ann", "golden.merge")} <= {
        (who, what.replace("record.", "golden.")) for who, what in actions
    }
    bad = web.client.post(
        f"{url}/override", data={"field": "planet", "value": "x", "reason": "y", "csrf": token}
    )
    assert bad.status_code == 400 and "planet" in bad.text


def test_disabling_a_steward_ends_their_session(web: Web) -> None:
    from hub.store import stewards

    login(web.client, "ann")
    with admin_session(web.hub.engine) as s:
        stewards.set_disabled(s, "ann", True)
    r = web.client.get("/steward/queue", follow_redirects=False)
    assert r.status_code == 303 and "/steward/login" in r.headers["location"]


def test_dashboard_shows_counts_and_the_day_chart(web: Web) -> None:
    _candidate(web)
    login(web.client, "vic")
    page = web.client.get("/steward/dashboard")
    assert page.status_code == 200
    assert "Pending candidates" in page.text and "<rect" in page.text
    assert page.text.count("<rect") == 24


@pytest.mark.postgres
def test_without_a_session_secret_on_postgres_the_page_says_so(pg_url: str) -> None:
    hub = make_hub(pg_url)
    try:
        client = TestClient(create_app(hub, run_worker=False), raise_server_exceptions=False)
        r = client.get("/steward/login")
        assert r.status_code == 503 and "CONCORD_SESSION_SECRET" in r.text
        assert "SECRET" not in client.get("/api/v1/feed").text  # the machine API is unaffected
    finally:
        hub.close()
