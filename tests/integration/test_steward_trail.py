"""Every golden record's trail (issue 16, must-have 4): who, when, what and why, newest
first, from the audit log, the versions and the links; and readable text (must-have 9)."""

from __future__ import annotations

import re

from sqlalchemy import select

from hub.domain.commands import OverrideField, UndoDecision
from hub.store.tables import AuditGolden, AuditLog
from hub.store.uow import admin_session
from tests.integration.test_steward_clusters import web  # noqa: F401 (the fixture)
from tests.support.steward import ACME, WEAK, Web, login


def _trail(html: str) -> list[list[str]]:
    table = html.split('class="trail"')[1].split("</table>")[0]
    rows = re.findall(r"<tr class=\"[\w-]+\">(.*?)</tr>", table, flags=re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", r, re.S)]
        for r in rows
    ]


def test_the_trail_shows_who_did_what_and_why_newest_first(web: Web) -> None:  # noqa: F811
    web.post_change("crm", "A-1", **ACME)
    web.post_change("northwind-crm", "NW-3", **WEAK)
    golden = web.golden_of("crm", "A-1")
    [cid] = [c.id for c in web.candidates() if c.status == "pending"]
    token = login(web.client, "ann")
    web.client.post(
        f"/steward/candidates/{cid}/decide",
        data={"decision": "merge", "reason": "same firm, new name", "csrf": token},
    )
    web.hub.bus.handle(OverrideField("client", golden, "city", "Leeds", "moved office", "bob"))
    web.hub.bus.handle(UndoDecision((cid,), "ann"))
    rows = _trail(web.client.get(f"/steward/golden/client/{golden}").text)
    stamps = [r[0] for r in rows]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", s) for s in stamps), stamps
    whats = [(r[1], r[2], r[3]) for r in rows]
    steward = [w for w in whats if w[0] in ("ann", "bob")]
    assert [w[1].split(" ")[0:2] for w in steward[:2]] == [
        ["decision", "on"],
        ["northwind-crm", "NW-3"],
    ]
    assert ("bob", "field city set to Leeds by hand", "“moved office”") in whats
    assert any(
        who == "ann" and "merged in" in what and why == "“same firm, new name”"
        for who, what, why in whats
    )
    assert any(who == "hub" and what.startswith("version 1") for who, what, _ in whats)
    assert any(who == "crm" and "A-1 linked by rule new" in what for who, what, _ in whats)


def test_the_compare_page_says_levels_in_plain_words(web: Web) -> None:  # noqa: F811
    web.post_change("crm", "A-1", **ACME)
    web.post_change("northwind-crm", "NW-3", **WEAK)
    [cid] = [c.id for c in web.candidates() if c.status == "pending"]
    login(web.client, "ann")
    html = web.client.get(f"/steward/candidates/{cid}").text
    table = html.split('class="compare"')[1].split("</table>")[0]
    rows = re.findall(r'<tr class="(?:agree|disagree|neutral)">(.*?)</tr>', table, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in rows]
    levels = [re.sub(r"<[^>]+>", "\n", c[2]).strip().split("\n")[0] for c in cells]
    assert levels and "else" not in levels and "missing" not in levels, levels
    assert {"different", "blank"} & set(levels), levels
    assert "<code>" in table  # the internal name stays beside the label
    assert not re.search(r"\d\d:\d\d:\d\d\.\d{3,}", html)


def test_the_trail_names_the_onboarding_run_that_loaded_a_record(web: Web) -> None:  # noqa: F811
    from sqlalchemy import update

    from hub.store.tables import SourceRecordRow
    from hub.store.uow import admin_session

    web.post_change("crm", "A-1", **ACME)
    golden = web.golden_of("crm", "A-1")
    with admin_session(web.hub.engine) as s:  # as an onboarding run's commit leaves it
        s.execute(update(SourceRecordRow).values(run_id="run-2026-12-acme"))
        s.commit()
    login(web.client, "ann")
    rows = _trail(web.client.get(f"/steward/golden/client/{golden}").text)
    assert any(
        r[1] == "crm" and "loaded by onboarding run run-2026-12-acme" in r[2] for r in rows
    ), rows


def test_the_trail_reads_an_index_of_the_entries_naming_the_golden_record(
    web: Web,  # noqa: F811
) -> None:
    """The trail once scanned every audit entry's text per page view; each entry that names a
    golden record is now indexed by it (``audit_golden``) when it is written."""
    web.post_change("crm", "A-1", **ACME)
    web.post_change("northwind-crm", "NW-3", **WEAK)
    golden = web.golden_of("crm", "A-1")
    [cid] = [c.id for c in web.candidates() if c.status == "pending"]
    token = login(web.client, "ann")
    web.client.post(f"/steward/candidates/{cid}/decide", data={"decision": "merge", "csrf": token})
    web.hub.bus.handle(OverrideField("client", golden, "city", "Leeds", "moved office", "bob"))
    web.hub.bus.handle(UndoDecision((cid,), "ann"))
    split_to = web.golden_of("northwind-crm", "NW-3")
    with admin_session(web.hub.engine) as s:
        log = list(s.scalars(select(AuditLog)))
        index = s.execute(select(AuditGolden.golden_id, AuditGolden.audit_id)).all()
    naming = {g: {a.id for a in log if g in str(a.detail)} for g in (golden, split_to)}
    assert len(naming[golden]) >= 4 and naming[split_to]  # merge, override, undo, split
    for g, ids in naming.items():
        assert {i for x, i in index if x == g} == ids
    rows = _trail(web.client.get(f"/steward/golden/client/{split_to}").text)
    assert any(who == "ann" and "split off" in what for _, who, what, *_ in rows)
