"""Sequence-neutral: the same changes delivered in order, shuffled, or each three times in
shuffled order, in batches of mixed sizes and applied at random moments, give the same golden
state.

The changes come from four sources (crm, erp, psa, hr) over three domains: clients that link
by website across three sources and by tax id + country across two (and one record whose two
keys bridge two golden records, which must merge), resources that link by
e-mail, projects that link by code within the same golden client (so a project can only link
once its client reference resolves), references that arrive before their targets (projects
before their clients, resources before their managers, one that never resolves), records
updated several times, deleted and re-created, or deleted for good. Every change carries a
sequence and a ``changed_at`` (a source that mixes changes with and without a sequence for
one record converges too: ``tests/unit/test_staleness.py``).

The inbox is applied at random moments between posts, in apply batches of 1, 3, 17 or 500
changes, so one apply batch may hold many sources' changes and several copies of one change.

What is compared, per golden record that holds live source records: status, attributes,
provenance (field and reference lineage), references, pending references and xref. Golden ids
are random, and which record created a golden record depends on arrival order, so a golden
record is named by its xref (the set of live source records linked to it) and a reference by
the xref of the golden record it points to: the comparison holds up to that renaming. Golden
records without a live source record are history rather than state (a record whose delete
arrived before its create was never alive in the hub, so it has no retired golden record,
while in order it has one), so they are checked only to hold no live record and not compared.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.app import create_app
from hub.bootstrap import Hub
from hub.store import access
from hub.store.tables import (
    DeadLetter,
    GoldenRecordRow,
    InboxRow,
    PendingReference,
    SourceRecordRow,
)
from hub.store.uow import admin_session
from tests.conftest import SOURCE_DOMAINS, make_hub
from tests.support.pg_databases import create_database, drop_database

BASE = datetime(2025, 3, 1, tzinfo=UTC)
Wire = tuple[str, dict[str, Any]]  # (source, change as sent)


# -- the changes -----------------------------------------------------------------------------


class Timeline:
    """Changes in the order they happened; every source numbers its own changes."""

    def __init__(self) -> None:
        self.changes: list[Wire] = []
        self.seq: dict[str, int] = {}

    def add(self, source: str, domain: str, key: str, op: str = "upsert", **attrs: Any) -> None:
        self.seq[source] = self.seq.get(source, 0) + 1
        n = len(self.changes)
        change: dict[str, Any] = {
            "domain": domain,
            "key": key,
            "op": op,
            "sequence": self.seq[source] * 10,
            "changed_at": (BASE + timedelta(minutes=n)).isoformat(),
            "attributes": {} if op == "delete" else attrs,
        }
        if n % 2:  # the others get an event id derived from their content
            change["event_id"] = f"{source}-{self.seq[source]}"
        self.changes.append((source, change))


def world() -> list[Wire]:
    t = Timeline()
    site = "https://www.client{}.com".format
    # projects and resources that refer to records sent later
    for j in range(0, 15, 3):
        t.add("psa", "project", f"PR-{j}", code=f"PRJ-{j}", name=f"Project {j}",
              client_key=f"P-{4 * (j % 5)}", project_manager_key=f"R-{j % 12}")  # fmt: skip
    t.add("hr", "resource", "H-7", given_name="Gus", family_name="Seven",
          email="gus.seven@firm.com", employee_id="E007", manager_key="H-2")  # fmt: skip
    # clients: crm for all, erp for two in three, psa for one in four; 20-23 link by tax id
    for g in range(24):
        if g < 20:
            t.add("crm", "client", f"C-{g}", name=f"Client {g} Ltd", website=site(g),
                  phone=f"+44 20 7000 {g:04d}", status="prospect")  # fmt: skip
        else:
            t.add("crm", "client", f"C-{g}", name=f"Client {g} Ltd", tax_id=f"GB {g}00 123",
                  country="GB", status="prospect")  # fmt: skip
        if g % 3 != 2:
            attrs: dict[str, Any] = {"legal_name": f"CLIENT {g} LIMITED", "payment_terms": "NET30"}
            attrs |= {"website": f"client{g}.com"} if g < 20 else {}
            attrs |= {"tax_id": f"gb{g}00123", "country": "GB"}
            t.add("erp", "client", f"E-{g}", name=f"CLIENT {g}", **attrs)
        if g % 4 == 0 and g < 20:
            t.add("psa", "client", f"P-{g}", name=f"Client {g}", website=f"{site(g)}/about")
    t.add("crm", "client", "C-30", name="Lonely Ltd", website=site(30))
    # E-40 bridges two keys: the website of C-40 and the tax id of C-41
    t.add("crm", "client", "C-40", name="Bridge Web Ltd", website=site(40))
    t.add("crm", "client", "C-41", name="Bridge Tax Ltd", tax_id="GB 4100", country="GB")
    t.add("erp", "client", "E-40", name="BRIDGE", website=site(40), tax_id="GB4100", country="GB")
    t.add("crm", "client", "C-31", name="Phoenix Ltd", website=site(31), status="prospect")
    t.add("psa", "resource", "R-20", given_name="P20", family_name="Person",
          email="person.20@firm.com", skills=["front"], manager_key="R-0")  # fmt: skip
    # resources: psa and hr link by e-mail; managers are referred to before some exist
    for k in range(12):
        email = f"person.{k}@firm.com"
        t.add("psa", "resource", f"R-{k}", given_name=f"P{k}", family_name="Person",
              email=email.upper(), skills=[f"skill-{k % 4}", "excel"],
              **({"manager_key": "R-0"} if k else {}))  # fmt: skip
        if k != 7:
            t.add("hr", "resource", f"H-{k}", given_name=f"Pat{k}", family_name="Person",
                  email=email, employee_id=f"E{k:03d}", job_title="Consultant",
                  **({"manager_key": f"H-{k // 3}"} if k else {}))  # fmt: skip
    # erp and crm projects link to psa's by code within the same golden client
    for j in range(15):
        g = 4 * (j % 5)
        if j % 2 == 0:
            client = f"E-{g}" if g % 3 != 2 else "E-404"  # E-404 never arrives
            t.add("erp", "project", f"EP-{j}", code=f"prj-{j}", billable=True,
                  cost_center=f"CC{j}", client_key=client)  # fmt: skip
        if j % 3 == 0:
            t.add("crm", "project", f"CP-{j}", code=f"PRJ-{j}", opportunity_id=f"OPP-{j}",
                  contract_value=1000.0 * j, client_key=f"C-{g}")  # fmt: skip
    for j in (1, 2, 4, 5, 7, 8, 10, 11, 13, 14):
        t.add("psa", "project", f"PR-{j}", code=f"PRJ-{j}", name=f"Project {j}",
              client_key=f"P-{4 * (j % 5)}", project_manager_key=f"R-{j % 12}")  # fmt: skip
    # updates, some of them several times
    for round_ in range(3):
        for g in range(0, 24, 1 + round_):
            t.add("crm", "client", f"C-{g}", name=f"Client {g} Ltd", website=site(g) if g < 20
                  else None, phone=f"+44 20 7{round_}00 {g:04d}", status="active",
                  **({"tax_id": f"GB {g}00 123", "country": "GB"} if g >= 20 else {}))  # fmt: skip
        for k in range(0, 12, 2 + round_):
            t.add("psa", "resource", f"R-{k}", given_name=f"P{k}", family_name="Person",
                  email=f"person.{k}@firm.com", skills=[f"skill-{round_}", f"skill-{k % 4}"],
                  **({"manager_key": "R-0"} if k else {}))  # fmt: skip
        for j in range(0, 15, 2 + round_):
            t.add("psa", "project", f"PR-{j}", code=f"PRJ-{j}", name=f"Project {j} v{round_}",
                  status="active", client_key=f"P-{4 * (j % 5)}",
                  project_manager_key=f"R-{(j + round_) % 12}")  # fmt: skip
    # deleted and re-created; deleted for good (with and without other sources linked)
    t.add("crm", "client", "C-1", op="delete")  # E-1 links to it; it comes back
    t.add("crm", "client", "C-1", name="Client 1 Reborn", website=site(1), status="active")
    t.add("psa", "resource", "R-3", op="delete")  # H-3 links to it, projects refer to it
    t.add("psa", "resource", "R-3", given_name="P3", family_name="Again",
          email="person.3@firm.com", skills=["back"], manager_key="R-0")  # fmt: skip
    t.add("crm", "client", "C-31", op="delete")
    t.add("crm", "client", "C-31", name="Phoenix Reborn", website=site(31), status="active")
    t.add("psa", "resource", "R-20", op="delete")
    t.add("psa", "resource", "R-20", given_name="P20", family_name="Again",
          email="person.20@firm.com", skills=["back"], manager_key="R-0")  # fmt: skip
    t.add("erp", "client", "E-7", op="delete")
    t.add("crm", "client", "C-22", op="delete")
    t.add("crm", "client", "C-30", op="delete")
    t.add("psa", "project", "PR-2", op="delete")
    t.add("hr", "resource", "H-5", op="delete")
    # the late ones: the targets of the earliest references
    t.add("hr", "resource", "H-2", given_name="Pat2", family_name="Boss",
          email="person.2@firm.com", employee_id="E002", job_title="Director")  # fmt: skip
    return t.changes


# -- delivery --------------------------------------------------------------------------------


def batches(changes: list[Wire], rng: random.Random) -> list[tuple[str, list[dict[str, Any]]]]:
    """Cut a stream into batches of one source each, of mixed sizes (1 to 40), keeping the
    stream's order within each source; a batch goes out when it is full, the rest at the end."""
    out: list[tuple[str, list[dict[str, Any]]]] = []
    open_: dict[str, list[dict[str, Any]]] = {}
    size: dict[str, int] = {}
    for source, change in changes:
        buf = open_.setdefault(source, [])
        buf.append(change)
        if len(buf) >= size.setdefault(source, rng.choice((1, 2, 5, 13, 40))):
            out.append((source, buf))
            open_[source] = []
            size[source] = rng.choice((1, 2, 5, 13, 40))
    out.extend((s, buf) for s, buf in open_.items() if buf)
    return out


def delivery(name: str, changes: list[Wire]) -> tuple[list[Wire], random.Random]:
    kind, _, seed = name.partition("-")
    rng = random.Random(seed or 0)
    if kind == "in_order":
        return list(changes), rng
    stream = list(changes) * (1 if kind == "shuffled" else 3)
    rng.shuffle(stream)
    return stream, rng


def deliver_only(hub: Hub, stream: list[Wire]) -> None:
    """Post changes as their sources (already registered) without applying them."""
    with admin_session(hub.engine) as s:
        keys = {
            name: access.create_key(s, name + "-2", "source", source=name)
            for name in SOURCE_DOMAINS
        }
    with TestClient(create_app(hub, run_worker=False)) as client:
        for source, change in stream:
            r = client.post(
                "/api/v1/changes",
                json={"changes": [change]},
                headers={"Authorization": f"Bearer {keys[source]}"},
            )
            assert r.status_code == 202, r.text


def deliver(
    hub: Hub, stream: list[Wire], rng: random.Random, apply_each: bool, one_by_one: bool = False
) -> None:
    with admin_session(hub.engine) as s:
        keys = {
            name: access.add_source(s, name, domains, None, None, set(hub.config.domains))
            for name, domains in SOURCE_DOMAINS.items()
        }
    with TestClient(create_app(hub, run_worker=False)) as client:
        parts = [(s, [c]) for s, c in stream] if one_by_one else batches(stream, rng)
        for source, part in parts:
            r = client.post(
                "/api/v1/changes",
                json={"changes": part},
                headers={"Authorization": f"Bearer {keys[source]}"},
            )
            assert r.status_code == 202, r.text
            if apply_each or rng.random() < 0.3:
                report = hub.bus.drain(rng.choice((1, 3, 17, 500)))  # apply batches of n
                assert report.dead == 0 and report.one_by_one == 0
    report = hub.bus.drain(500)
    assert report.dead == 0 and report.one_by_one == 0


# -- the state -------------------------------------------------------------------------------

Name = tuple[tuple[str, str, str], ...]  # a golden record, named by its live xref


def golden_state(hub: Hub) -> dict[Name, dict[str, Any]]:
    with hub.engine.connect() as c:
        goldens = {g.id: g for g in c.execute(select(GoldenRecordRow))}
        records = c.execute(select(SourceRecordRow)).all()
        pending = c.execute(select(PendingReference)).all()
        statuses = {s for (s,) in c.execute(select(InboxRow.status).distinct())}
        dead = c.execute(select(DeadLetter.id)).all()
    assert not dead and statuses <= {"applied", "stale"}, (statuses, dead)
    live: dict[str, list[tuple[str, str, str]]] = {}
    for r in records:
        if not r.deleted:
            assert r.golden_id in goldens, f"{r.source} {r.source_key} links to no golden"
            live.setdefault(r.golden_id, []).append((r.source, r.domain, r.source_key))
    names: dict[str, Name] = {gid: tuple(sorted(xs)) for gid, xs in live.items()}

    def name_of(gid: Any) -> Any:
        if gid is None:
            return None
        g = goldens.get(gid)
        assert g is not None and g.status == "active", f"reference to {gid}: {g and g.status}"
        return names[gid]

    out: dict[Name, dict[str, Any]] = {}
    for gid, g in goldens.items():
        if gid not in live:
            assert g.status in ("retired", "merged"), f"{gid} is {g.status} with no live record"
            continue
        assert g.status == "active"
        assert sorted((x["source"], x["key"]) for x in g.xref) == sorted(
            (s, k) for s, _, k in names[gid]
        )
        out[names[gid]] = {
            "domain": g.domain,
            "status": g.status,
            "attributes": g.attributes,
            "provenance": g.provenance,
            "references": {k: name_of(v) for k, v in sorted(g.references.items())},
            "pending": sorted(
                (p.source, p.source_key, p.name, p.target_key)
                for p in pending
                if p.golden_id == gid
            ),
        }
    return out


# -- databases -------------------------------------------------------------------------------


@pytest.fixture
def second_db(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """Another fresh database of the same kind as ``db_url``, for the reference run."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'reference.db'}"
        return
    server = str(request.getfixturevalue("pg_server"))
    name = f"concord_test_{uuid.uuid4().hex[:12]}"
    yield create_database(server, name, str(request.getfixturevalue("pg_template")))
    drop_database(server, name)


def run(
    url: str, stream: list[Wire], rng: random.Random, apply_each: bool, one_by_one: bool = False
) -> dict[Name, Any]:
    hub = make_hub(url, contact_keys=True)
    try:
        deliver(hub, stream, rng, apply_each, one_by_one)
        return golden_state(hub)
    finally:
        hub.close()


_references: dict[str, dict[Name, Any]] = {}


@pytest.fixture
def reference(db_url: str, request: pytest.FixtureRequest) -> dict[Name, Any]:
    """The changes in the order they happened, applied after every batch, on a database of
    the same kind as ``db_url``.

    Made once per test process and kind of database: the world and the order are fixed (the
    random moments come from ``Random(0)``), so every test of the order would make the same
    one, at the cost of a whole run. Each test gets its own copy."""
    kind = "sqlite" if db_url.startswith("sqlite") else "postgres"
    if kind not in _references:
        _references[kind] = in_order_reference(str(request.getfixturevalue("second_db")))
    return copy.deepcopy(_references[kind])


def in_order_reference(url: str) -> dict[Name, Any]:
    state = run(url, world(), random.Random(0), apply_each=True)
    # the world is what it says it is
    assert len(state) > 50
    assert any(n for n, g in state.items() if g["pending"]), "one reference never resolves"
    assert {("crm", "client", "C-4"), ("erp", "client", "E-4"), ("psa", "client", "P-4")} in [
        set(n) for n in state
    ]
    assert any(len({s for s, _, _ in n}) == 3 for n in state if n[0][1] == "project")
    assert (
        ("crm", "client", "C-40"),
        ("crm", "client", "C-41"),
        ("erp", "client", "E-40"),
    ) in state
    assert (("hr", "resource", "H-3"), ("psa", "resource", "R-3")) in state
    return state


def differences(want: dict[Name, Any], got: dict[Name, Any]) -> list[str]:
    out = [f"missing {n}: {want[n]}" for n in want.keys() - got.keys()]
    out += [f"unexpected {n}: {got[n]}" for n in got.keys() - want.keys()]
    for n in want.keys() & got.keys():
        for k in want[n]:
            if want[n][k] != got[n][k]:
                out.append(f"{n} {k}: want {want[n][k]} got {got[n][k]}")
    return sorted(out)


@pytest.mark.parametrize(
    "how",
    ["in_order-7", "shuffled-1", "shuffled-2", "shuffled-3", "shuffled-4", "thrice-5", "thrice-6"],
)
def test_same_golden_state_whatever_the_order(
    how: str, db_url: str, reference: dict[Name, Any]
) -> None:
    stream, rng = delivery(how, world())
    got = run(db_url, stream, rng, apply_each=False)
    problems = differences(reference, got)
    assert not problems, "\n".join(problems[:12])


def test_world_is_valid_as_generated() -> None:
    changes = world()
    assert len(changes) > 180
    json.dumps(changes)
    assert len({(s, c["sequence"]) for s, c in changes}) == len(changes)


# -- order dependences found by this file, fixed in 1d10103 (regression tests) ----------------


def one(source: str, domain: str, key: str, seq: int, op: str = "upsert", **a: Any) -> Wire:
    change = {"domain": domain, "key": key, "op": op, "sequence": seq, "attributes": a}
    return source, change | {"changed_at": (BASE + timedelta(minutes=seq)).isoformat()}


def test_recreated_record_rejoins_what_arrived_while_it_was_deleted(
    db_url: str, second_db: str
) -> None:
    r1 = one("psa", "resource", "R-1", 1, given_name="Ann", email="ann@firm.com")
    gone = one("psa", "resource", "R-1", 2, op="delete")
    r3 = one("psa", "resource", "R-1", 3, given_name="Ann", email="ann@firm.com")
    hr = one("hr", "resource", "H-1", 1, given_name="Ann", email="ann@firm.com")
    rng = random.Random(0)
    before = run(second_db, [r1, hr, gone, r3], rng, apply_each=True, one_by_one=True)
    assert list(before) == [(("hr", "resource", "H-1"), ("psa", "resource", "R-1"))]
    during = run(db_url, [r1, gone, hr, r3], rng, apply_each=True, one_by_one=True)
    assert differences(before, during) == []


def test_a_record_that_bridges_two_keys_gives_one_golden_record(
    db_url: str, second_db: str
) -> None:
    web = one("crm", "client", "A", 1, name="Acme", website="https://acme.com")
    tax = one("crm", "client", "C", 2, name="Acme Group", tax_id="GB1", country="GB")
    both = one("erp", "client", "B", 1, name="ACME", website="acme.com", tax_id="GB1", country="GB")
    rng = random.Random(0)
    bridge_first = run(second_db, [web, both, tax], rng, apply_each=True, one_by_one=True)
    assert len(bridge_first) == 1
    bridge_last = run(db_url, [web, tax, both], rng, apply_each=True, one_by_one=True)
    assert differences(bridge_first, bridge_last) == []


def test_reference_to_a_recreated_record_resolves(db_url: str, second_db: str) -> None:
    client = one("psa", "client", "P-1", 1, name="Client One")
    ann = one("psa", "resource", "R-1", 2, given_name="Ann", email="ann@firm.com")
    gone = one("psa", "resource", "R-1", 3, op="delete")
    project = one("psa", "project", "PR-1", 4, code="X-1", client_key="P-1",
                  project_manager_key="R-1")  # fmt: skip
    back = one("psa", "resource", "R-1", 5, given_name="Ann", email="ann@firm.com")
    rng = random.Random(0)
    # the re-creation applied before the older changes (delete arrived first): it resolves
    late = run(second_db, [client, gone, project, back, ann], rng, True, one_by_one=True)
    pr = late[(("psa", "project", "PR-1"),)]
    assert pr["references"]["project_manager"] == (("psa", "resource", "R-1"),)
    # the same changes in the order they happened
    in_order = run(db_url, [client, ann, gone, project, back], rng, True, one_by_one=True)
    assert differences(late, in_order) == []


def test_two_pending_references_resolved_in_one_batch_link(db_url: str, second_db: str) -> None:
    psa_project = one("psa", "project", "PR-3", 1, code="PRJ-3", client_key="P-1")
    crm_project = one("crm", "project", "CP-3", 1, code="PRJ-3", client_key="C-1")
    psa_client = one("psa", "client", "P-1", 2, name="One", website="one.com")
    crm_client = one("crm", "client", "C-1", 2, name="One", website="https://one.com")
    stream = [psa_project, crm_project, psa_client, crm_client]
    apart = run(second_db, stream, random.Random(0), True, one_by_one=True)
    assert (("crm", "project", "CP-3"), ("psa", "project", "PR-3")) in apart
    hub = make_hub(db_url, contact_keys=True)
    try:
        deliver(hub, stream[:2], random.Random(0), True, one_by_one=True)
        deliver_only(hub, stream[2:])  # both clients applied in one apply batch
        hub.bus.drain(500)
        together = golden_state(hub)
    finally:
        hub.close()
    assert differences(apart, together) == []
