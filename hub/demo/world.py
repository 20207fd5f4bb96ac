"""A small, made-up professional-services world spread over five source systems, for `concord demo`.

The demo has to show what the hub is for: the same client, project or person arriving from
several systems under different keys and spellings, owners disagreeing on a field, a reference
to a record that arrives later, updates, a delete and a stale change. So the world is built
once as plain facts (clients, projects, people) and then projected into what each system would
plausibly hold, sharing the identifiers the hub links on (website domain, tax id + country,
email, employee id, project code) where real systems share them.

Everything is pure and seeded: the same seed gives the same posting plan, byte for byte, so a
demo, a test and a screenshot all agree. No wall clock, no I/O, stdlib only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from hub.demo.facts import (
    _ENTITIES,
    _GEO,
    _GRADES,
    _OFFICES,
    _PRACTICES,
    _SKILLS,
    _STREETS,
    _SUPPORT_GRADE,
    BASE,
    _Client,
    _clients,
    _fold,
    _pattern,
    _people,
    _Person,
    _Project,
    _projects,
)

Change = dict[str, object]

SOURCES: dict[str, list[str]] = {
    "crm": ["client", "project", "opportunity"],
    "psa": ["client", "project", "resource", "assignment"],
    "time": ["client", "project", "resource"],
    "hr": ["resource"],
    "erp": ["client", "project", "resource", "legal_entity", "cost_center", "billing_code",
            "labor_code", "rate_card"],
}  # fmt: skip

MAX_BATCH = 200


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _clean(attrs: dict[str, object]) -> dict[str, object]:
    """Only non-empty fields: the contract carries what the source actually holds."""
    return {k: v for k, v in attrs.items() if v not in (None, "", [])}


@dataclass
class _Emitter:
    """One source system's outbox: it numbers its changes and remembers each record's image."""

    source: str
    day: int = 4
    seq: int = 0
    images: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)

    def slot(self) -> tuple[int, str]:
        """The next (sequence, changed_at); taken but unused, it makes room for a late change."""
        self.seq += 1
        at = BASE + timedelta(days=self.day, hours=8, seconds=30 * self.seq)
        return self.seq, at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def change(
        self, domain: str, key: str, attrs: dict[str, object], op: str = "upsert",
        slot: tuple[int, str] | None = None,
    ) -> Change:  # fmt: skip
        seq, at = slot or self.slot()
        if slot is None:  # a late change must not replace the image we remember as the latest
            self.images[(domain, key)] = attrs
        return {"event_id": f"{self.source}-{seq:06d}", "domain": domain, "key": key, "op": op,
                "sequence": seq, "changed_at": at, "attributes": _clean(attrs)}  # fmt: skip

    def update(self, domain: str, key: str, **changes: object) -> Change:
        """The full new image (the contract replaces whole records): the last one, changed."""
        return self.change(domain, key, {**self.images[(domain, key)], **changes})


def _hr_image(rng: random.Random, p: _Person, key: dict[int, str]) -> dict[str, object]:
    """HR holds the whole person: identity, contact, employment, and (mostly) the manager."""
    cities, phone, _, _, _ = _GEO[_OFFICES[p.office]]
    region, postcode = next((r, pc) for c, r, pc in cities if c == p.office)
    return {
        "given_name": p.given,
        "family_name": p.family,
        "email": p.email,
        "phone": phone + f"{rng.randint(0, 9999):04d}",
        "date_of_birth": _iso(date(1965, 1, 1) + timedelta(days=rng.randint(0, 12500))),
        "address_line": f"{rng.randint(1, 99)} {rng.choice(_STREETS)} Road",
        "city": p.office,
        "postcode": _pattern(rng, postcode),
        "region": region,
        "employee_id": f"E{10000 + p.i * 7}",
        "job_title": p.title,
        "department": p.department,
        "location": p.office,
        "status": "leaver" if p.end else "active",
        "start_date": _iso(date(2012, 1, 1) + timedelta(days=rng.randint(0, 5000))),
        "end_date": _iso(p.end),
        "cost_center": _PRACTICES.get(p.department, "CC-9000"),
        "manager_key": key[p.manager.i] if p.manager and rng.random() < 0.85 else None,
    }


def _erp_client(rng: random.Random, c: _Client, key: str) -> dict[str, object]:
    """ERP spells the name its own way (upper case, no accents, legal suffix, & vs and)."""
    _, _, currency, suffix, _ = _GEO[c.country]
    shout = _fold(c.name).upper()
    shout = shout.replace(" & ", " AND ") if "&" in shout else shout.replace(" AND ", " & ")
    shout = shout.removeprefix("THE ") if rng.random() < 0.5 else shout
    # Without a CRM tax id, only the website can link this client, so ERP usually has one.
    with_site = (not c.crm_has_tax and rng.random() < 0.9) or rng.random() < 0.3
    site = rng.choice([c.domain, f"http://{c.domain}/", f"www.{c.domain}"])
    return {
        "name": f"{shout} {suffix.upper()}",
        "legal_name": f"{c.name} {suffix}",
        "tax_id": c.tax_id,
        "country": c.country,
        "website": site if with_site else None,
        "billing_currency": currency,
        "payment_terms": rng.choice(["NET30", "NET30", "NET45", "NET60"]),
        "erp_customer_number": key.removeprefix("CU"),
    }


@dataclass
class _Plan:
    """The world's facts, each system's emitter, the keys each system gave, and the posting
    plan so far: what the phases of :func:`build_world` share, in the order they run."""

    seed: int
    rng: random.Random
    clients: list[_Client]
    people: list[_Person]
    projects: list[_Project]
    em: dict[str, _Emitter]
    batches: list[tuple[str, list[Change]]] = field(default_factory=list)
    keys: dict[str, dict[int, str]] = field(default_factory=dict)
    rate: dict[int, int] = field(default_factory=dict)

    @property
    def delivered(self) -> list[_Project]:
        return [p for p in self.projects if p.status != "proposed"]

    def post(self, source: str, changes: list[Change]) -> None:
        self.batches.extend(
            (source, changes[n : n + MAX_BATCH]) for n in range(0, len(changes), MAX_BATCH)
        )


def build_world(seed: int = 7) -> list[tuple[str, list[Change]]]:
    """The posting plan: (source name, batch of changes), in the order they must be posted."""
    rng = random.Random(seed)
    clients, people = _clients(rng), _people(rng)
    projects = _projects(rng, clients, people)
    w = _Plan(seed, rng, clients, people, projects, {s: _Emitter(s) for s in SOURCES})
    _load_people(w)
    _load_crm_and_erp(w)
    _load_psa(w)
    _load_time(w)
    _a_month_later(w)
    return w.batches


def _load_people(w: _Plan) -> None:
    """Initial loads. People first: HR is the master, ERP and time keep thinner copies."""
    rng, people, hr, erp, time = w.rng, w.people, w.em["hr"], w.em["erp"], w.em["time"]
    hr_key = w.keys["hr"] = {p.i: f"WD{p.i:05d}" for p in people}
    w.post("hr", [hr.change("resource", hr_key[p.i], _hr_image(rng, p, hr_key)) for p in people])
    emp_id = {p.i: str(hr.images[("resource", hr_key[p.i])]["employee_id"]) for p in people}
    w.keys["employee_id"] = emp_id
    rate = w.rate = {p.i: _GRADES[p.grade][2] if p.grade < _SUPPORT_GRADE else 260 for p in people}
    w.post("erp", [erp.change("resource", f"EMP-{p.i:04d}", {
        "employee_id": emp_id[p.i],
        # ERP capitalises some addresses; the hub compares email case-insensitively.
        "email": p.email.capitalize() if rng.random() < 0.15 else p.email,
        "cost_center": _PRACTICES.get(p.department, "CC-9000"),
        "cost_rate": rate[p.i] + rng.randint(-20, 20),
    }) for p in people if rng.random() < 0.9])  # fmt: skip
    w.post("time", [time.change("resource", f"T{p.i:04d}", {
        "employee_id": emp_id[p.i], "email": p.email, "given_name": _fold(p.given),
        "family_name": p.family,
    }) for p in people])  # fmt: skip


def _load_crm_and_erp(w: _Plan) -> None:
    rng, clients, crm, erp = w.rng, w.clients, w.em["crm"], w.em["erp"]
    crm_key = w.keys["crm"] = {c.i: f"A-{c.i}" for c in clients}
    w.post("crm", [crm.change("client", crm_key[c.i], {
        "name": c.name, "website": f"https://www.{c.domain}", "phone": c.phone,
        "address_line": c.address, "city": c.city, "postcode": c.postcode, "country": c.country,
        "industry": c.industry, "status": "active" if c.active else "inactive",
        "tax_id": c.tax_id if c.crm_has_tax else None,
    }) for c in clients])  # fmt: skip
    w.post("crm", [crm.change("project", f"O-{2000 + p.i}", {
        "code": p.code, "name": f"{p.client.name} - {p.topic}", "status": p.status,
        "opportunity_id": f"OPP-{40000 + p.i * 3}", "contract_value": rng.randint(25, 1200) * 1000,
        "client_key": crm_key[p.client.i],
    }) for p in w.projects if p.status != "closed"])  # fmt: skip
    erp_key = w.keys["erp"] = {c.i: f"CU{10000 + c.i}" for c in clients if c.in_erp}
    w.post("erp", [erp.change("client", k, _erp_client(rng, c, k))
                   for c in clients if (k := erp_key.get(c.i))])  # fmt: skip
    w.post("erp", [erp.change("project", f"WBS-{p.i:05d}", {
        "code": p.code, "billable": rng.random() > 0.1,
        "cost_center": rng.choice(list(_PRACTICES.values())),
        "legal_entity": _ENTITIES[p.client.country], "currency": _GEO[p.client.country][2],
        "client_key": erp_key[p.client.i],
    }) for p in w.delivered if p.client.in_erp])  # fmt: skip


def _load_psa(w: _Plan) -> None:
    """PSA sends people, then projects, then the clients those projects name: references wait."""
    rng, psa, emp_id, delivered = w.rng, w.em["psa"], w.keys["employee_id"], w.delivered
    psa_people = [p for p in w.people if p.grade < _SUPPORT_GRADE]
    retitled = {p.i for p in rng.sample([p for p in psa_people if p.grade > 0], 10)}
    psa_key = {p.i: f"R-{p.i:03d}" for p in psa_people}
    w.post("psa", [psa.change("resource", psa_key[p.i], {
        "email": p.email, "employee_id": emp_id[p.i], "given_name": p.given,
        "family_name": p.family, "skills": sorted(rng.sample(_SKILLS[p.department], 3)),
        "job_title": _GRADES[p.grade][3] if p.i in retitled else p.title,
        "manager_key": psa_key[p.manager.i] if p.manager else None,
    }) for p in psa_people])  # fmt: skip
    psa_client = w.keys["psa_client"] = {p.client.i: f"PC-{p.client.i:04d}" for p in delivered}
    w.post("psa", [psa.change("project", f"PP-{p.i:04d}", {
        "code": p.code, "name": p.topic, "status": p.status, "start_date": _iso(p.start),
        "end_date": _iso(p.end),
        "billing_type": rng.choices(["time_and_materials", "fixed_fee", "retainer"], [6, 3, 1])[0],
        "client_key": psa_client[p.client.i],
        "project_manager_key": psa_key[p.manager.i] if p.manager else None,
    }) for p in delivered])  # fmt: skip
    w.post("psa", [psa.change("client", psa_client[c.i], {"name": c.name,
                                                         "website": f"www.{c.domain}"})
                   for c in w.clients if c.i in psa_client])  # fmt: skip
    # Who is staffed where: two people on each of a dozen delivered projects. A rng of its own,
    # so adding assignments left every other value of the world as it was.
    staffing = random.Random(w.seed + 1)
    staffed = [(p, r) for p in delivered[:12] for r in staffing.sample(psa_people, 2)]
    w.post("psa", [psa.change("assignment", f"AS-{n:04d}", {
        "role": "Engagement lead" if r.grade < 4 else "Consultant",
        "start_date": _iso(p.start), "end_date": _iso(p.end),
        "bill_rate": _GRADES[r.grade][2], "cost_rate": w.rate[r.i],
        "status": "confirmed" if p.status == "active" else "completed",
        "resource_key": psa_key[r.i], "project_key": f"PP-{p.i:04d}",
    }) for n, (p, r) in enumerate(staffed, start=1)])  # fmt: skip


def _load_time(w: _Plan) -> None:
    """The timekeeping system's copies of the clients and projects people book time to, in its
    own keys, so the README's time-entry example runs on the demo. Only clients a key (tax id
    and country) links, so none becomes a second golden record."""
    time = w.em["time"]
    booked = [p for p in w.delivered if p.client.in_erp or p.client.crm_has_tax]
    time_client = {p.client.i: f"TC-{p.client.i:04d}" for p in booked}
    w.post("time", [time.change("client", k, {
        "name": c.name, "tax_id": c.tax_id, "country": c.country,
    }) for c in w.clients if (k := time_client.get(c.i))])  # fmt: skip
    w.post("time", [time.change("project", f"TP-{100 + n}", {
        "code": p.code, "name": p.topic, "client_key": time_client[p.client.i],
    }) for n, p in enumerate(booked)])  # fmt: skip


def _a_month_later(w: _Plan) -> None:
    """Edits, a promotion, a leaver, closed projects, a deleted client, and a stale edit."""
    clients, people, projects = w.clients, w.people, w.projects
    crm, hr, psa, erp = (w.em[s] for s in ("crm", "hr", "psa", "erp"))
    crm_key, hr_key, erp_key = w.keys["crm"], w.keys["hr"], w.keys["erp"]
    for e in w.em.values():
        e.day = 35
    edited = next((c for c in clients[3:] if c.active and c.i not in w.keys["psa_client"]),
                  clients[3])  # fmt: skip
    stale_slot = crm.slot()  # a CRM edit made now that will be delivered after a newer one
    stale = {**crm.images[("client", crm_key[edited.i])], "phone": edited.phone[:-4] + "0000"}
    won = next(p for p in projects if p.status == "proposed")
    busy = {p.client.i for p in projects} | {edited.i, clients[2].i}
    idle = [c for c in reversed(clients) if c.i not in busy and c.active]
    doomed = next((c for c in idle if not c.in_erp), idle[0])
    lapsed = next(c for c in idle if c is not doomed)
    w.post("crm", [
        crm.update("client", crm_key[edited.i], phone=edited.phone[:-4] + "1234"),
        crm.update("client", crm_key[lapsed.i], status="inactive"),
        crm.update("project", f"O-{2000 + won.i}", status="active", contract_value=480000),
        crm.change("client", crm_key[doomed.i], {}, op="delete"),
    ])  # fmt: skip
    promoted = [p for p in people if p.end is None and p.grade in (4, 5)][:2]
    leaving = next(p for p in reversed(people) if p.end is None and p.grade == 6)
    w.post("hr", [
        *(hr.update("resource", hr_key[p.i], job_title=_GRADES[p.grade - 1][0]) for p in promoted),
        hr.update("resource", hr_key[leaving.i], status="leaver", end_date="2026-02-27"),
    ])  # fmt: skip
    w.post("psa", [psa.update("project", f"PP-{p.i:04d}", status="closed", end_date="2026-02-06")
                   for p in w.delivered if p.status == "active"][:2])  # fmt: skip
    first = next(c for c in clients if c.in_erp)
    w.post("erp", [erp.update("client", erp_key[first.i], payment_terms="NET90")])
    # The late CRM edit arrives in a batch with a newer one; the hub must ignore it as stale.
    crm.day = 36
    w.post("crm", [
        crm.update("client", crm_key[clients[2].i], industry="Professional Services"),
        crm.change("client", crm_key[edited.i], stale, slot=stale_slot),
    ])  # fmt: skip
