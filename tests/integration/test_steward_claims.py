"""Work for several stewards over HTTP (issue 16, item 5): claims, the 409 on a candidate
someone else holds, release (own, admin's), expiry, comments; and the race of two stewards
claiming the same set at once on PostgreSQL."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from hub.app import create_app
from hub.domain.commands import ClaimCandidates, DecideMatch
from hub.domain.errors import ClaimHeld
from hub.store import stewards
from hub.store.tables import CandidateClaim
from hub.store.uow import admin_session
from stewardship import passwords
from tests.conftest import make_hub
from tests.support.steward import ACME, PASSWORD, SECRET, Web, add_source, add_stewards, login

NAMES = [
    "Acme Internationl Corp",
    "Acme Intl Corporation",
    "Acme Internat. Corp",
    "Akme International Corp",
]


def setup_web(db_url: str) -> Web:
    hub = make_hub(db_url, session_secret=SECRET)
    add_stewards(hub)
    with admin_session(hub.engine) as s:
        stewards.add_steward(s, "bob", "steward", passwords.hash_password(PASSWORD))
    keys = {n: add_source(hub, n, ["client"]) for n in ("crm", "northwind-crm", "erp")}
    web = Web(
        hub, TestClient(create_app(hub, run_worker=False), raise_server_exceptions=False), keys
    )
    web.post_change("crm", "A-1", **ACME)
    for i, name in enumerate(NAMES):
        web.post_change("northwind-crm", f"NW-{i}", name=name, country="GB")
    return web


@pytest.fixture
def web(db_url: str) -> Iterator[Web]:
    w = setup_web(db_url)
    yield w
    w.hub.close()


def other_client(web: Web, name: str) -> tuple[TestClient, str]:
    client = TestClient(create_app(web.hub, run_worker=False), raise_server_exceptions=False)
    return client, login(client, name)


def pending(web: Web) -> list[int]:
    return [c.id for c in web.candidates() if c.status == "pending"]


def claims(web: Web) -> dict[int, str]:
    with admin_session(web.hub.engine) as s:
        return {c.candidate_id: c.steward for c in s.scalars(select(CandidateClaim))}


def decide(client: TestClient, token: str, cid: int) -> Any:
    return client.post(
        f"/steward/candidates/{cid}/decide",
        data={"decision": "reject", "reason": "", "csrf": token},
        follow_redirects=False,
    )


def test_a_claim_hides_the_candidate_from_others_and_refuses_their_decision(web: Web) -> None:
    ids = pending(web)
    assert len(ids) >= 3, web.candidates()
    token = login(web.client, "ann")
    r = web.client.post("/steward/claims", data={"count": "2", "csrf": token})
    assert r.status_code == 200 and "claimed 2 candidates" in r.text
    mine = sorted(i for i, who in claims(web).items() if who == "ann")
    assert len(mine) == 2
    assert "ann" in web.client.get("/steward/queue").text  # who holds what
    bob, bob_token = other_client(web, "bob")
    page = bob.get("/steward/queue").text
    shown = {int(x) for x in re.findall(r'data-candidate="(\d+)"', page)}
    assert shown == set(ids) - set(mine)  # others' claims hidden by default
    everyone = bob.get("/steward/queue?claims=all").text
    assert all(f'data-candidate="{i}"' in everyone for i in mine)
    r = decide(bob, bob_token, mine[0])
    assert r.status_code == 409 and "claimed by ann" in r.text
    assert mine[0] in pending(web)  # nothing decided
    assert decide(web.client, token, mine[0]).status_code == 303  # the holder decides
    assert mine[0] not in pending(web) and mine[0] not in claims(web)
    r = bob.post("/steward/claims", data={"candidate": str(mine[0]), "csrf": bob_token})
    assert "claimed 0 candidates" in r.text and f"no longer pending: {mine[0]}" in r.text
    r = bob.post("/steward/claims", data={"candidate": str(mine[1]), "csrf": bob_token})
    assert f"held by others: {mine[1]} (ann)" in r.text and claims(web)[mine[1]] == "ann"


def test_only_the_holder_or_an_admin_releases_a_claim(web: Web) -> None:
    cid = pending(web)[0]
    token = login(web.client, "ann")
    web.client.post("/steward/claims", data={"candidate": str(cid), "csrf": token})
    bob, bob_token = other_client(web, "bob")
    r = bob.post("/steward/claims/release", data={"candidate": str(cid), "csrf": bob_token})
    assert r.status_code == 409 and "only an admin" in r.text
    assert claims(web) == {cid: "ann"}
    ada, ada_token = other_client(web, "ada")
    r = ada.post("/steward/claims/release", data={"candidate": str(cid), "csrf": ada_token})
    assert r.status_code == 200 and "released 1 claim" in r.text
    assert claims(web) == {}
    assert decide(bob, bob_token, cid).status_code == 303
    assert ("ada", "candidate.release") in [(a, b) for a, b, _ in web.audit()]


def test_an_expired_claim_no_longer_holds(web: Web) -> None:
    cid = pending(web)[0]
    token = login(web.client, "ann")
    web.client.post("/steward/claims", data={"candidate": str(cid), "csrf": token})
    bob, bob_token = other_client(web, "bob")
    assert decide(bob, bob_token, cid).status_code == 409
    with admin_session(web.hub.engine) as s:
        s.execute(update(CandidateClaim).values(expires_at=datetime.now(UTC) - timedelta(1)))
    assert f'data-candidate="{cid}"' in bob.get("/steward/queue").text
    assert decide(bob, bob_token, cid).status_code == 303
    assert cid not in pending(web)


def test_comments_are_escaped_audited_and_refused_when_empty(web: Web) -> None:
    cid = pending(web)[0]
    golden = web.golden_of("crm", "A-1")
    token = login(web.client, "ann")
    evil = "<script>alert(1)</script> same VAT, different office"
    r = web.client.post(f"/steward/candidates/{cid}/comments", data={"text": evil, "csrf": token})
    assert r.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; same VAT" in r.text and evil not in r.text
    r = web.client.post(
        f"/steward/golden/client/{golden}/comments", data={"text": "call them", "csrf": token}
    )
    assert r.status_code == 200 and "call them" in r.text
    assert "call them" in web.client.get(f"/steward/golden/client/{golden}").text
    r = web.client.post(f"/steward/candidates/{cid}/comments", data={"text": " ", "csrf": token})
    assert r.status_code == 400 and f"comment on candidate {cid}: text: empty" in r.text
    r = web.client.post("/steward/candidates/999999/comments", data={"text": "x", "csrf": token})
    assert r.status_code == 404 and "candidate 999999" in r.text
    actions = [(a, b, d.get("text")) for a, b, d in web.audit()]
    assert ("ann", "candidate.comment", evil) in actions
    assert ("ann", "golden.comment", "call them") in actions


def test_a_viewer_cannot_claim_or_comment(web: Web) -> None:
    cid = pending(web)[0]
    token = login(web.client, "vic")
    assert web.client.post("/steward/claims", data={"count": "5", "csrf": token}).status_code == 403
    r = web.client.post(f"/steward/candidates/{cid}/comments", data={"text": "x", "csrf": token})
    assert r.status_code == 403 and claims(web) == {}


@pytest.mark.postgres
def test_two_stewards_claiming_the_same_set_at_once_claim_each_candidate_once(
    pg_url: str,
) -> None:
    web = setup_web(pg_url)
    try:
        ids = tuple(pending(web))
        start = threading.Barrier(2)
        got: dict[str, list[int]] = {}

        def claim(name: str) -> None:
            start.wait()
            got[name] = web.hub.bus.handle(ClaimCandidates(ids, name, 30))["claimed"]

        workers = [threading.Thread(target=claim, args=(n,)) for n in ("ann", "bob")]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert sorted(got["ann"] + got["bob"]) == sorted(ids)  # every one claimed once
        assert not set(got["ann"]) & set(got["bob"])
        held = claims(web)
        assert {i for i, who in held.items() if who == "ann"} == set(got["ann"])
    finally:
        web.hub.close()


def _claim_and_decide_at_once(web: Web, cid: int) -> dict[str, Any]:
    start = threading.Barrier(2)
    out: dict[str, Any] = {}

    def claim() -> None:
        start.wait()
        out["claim"] = web.hub.bus.handle(ClaimCandidates((cid,), "ann", 30))

    def decide() -> None:
        start.wait()
        try:
            out["decide"] = web.hub.bus.handle(DecideMatch(cid, "reject", "", "bob"))
        except ClaimHeld as exc:
            out["decide"] = exc

    workers = [threading.Thread(target=claim), threading.Thread(target=decide)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return out


@pytest.mark.postgres
def test_a_claim_and_another_steward_s_decision_at_once_never_both_win(pg_url: str) -> None:
    """Either the decision lands first (the claim leaves the candidate out: no longer
    pending) or the claim does (the decision is refused): never a decided candidate that
    someone holds, never a deadlock."""
    web = setup_web(pg_url)
    try:
        for cid in pending(web):
            out = _claim_and_decide_at_once(web, cid)
            claimed = out["claim"]["claimed"] == [cid]
            decided = not isinstance(out["decide"], ClaimHeld)
            assert claimed != decided, out
            assert (cid in pending(web)) == claimed
            assert (claims(web).get(cid) == "ann") == claimed
    finally:
        web.hub.close()


def test_a_bad_claim_count_names_the_field_and_claims_nothing(web: Web) -> None:
    token = login(web.client, "ann")
    for count in ("0", "many", "201"):
        r = web.client.post("/steward/claims", data={"count": count, "csrf": token})
        assert r.status_code == 422 and "count" in r.json()["detail"], r.text
    assert claims(web) == {}
