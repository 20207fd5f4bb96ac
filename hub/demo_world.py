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
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

Change = dict[str, object]

SOURCES: dict[str, list[str]] = {
    "crm": ["client", "project"],
    "psa": ["client", "project", "resource", "assignment"],
    "time": ["client", "project", "resource"],
    "hr": ["resource"],
    "erp": ["client", "project", "resource"],
}

BASE = datetime(2026, 1, 1, tzinfo=UTC)
MAX_BATCH = 200
FIRM_DOMAIN = "northbridge-consulting.com"

# The data tables are laid out by hand; the formatter would put every word on its own line.
# fmt: off
# country -> (cities as (city, region, postcode pattern), phone prefix, currency, legal suffix,
# website TLD). In a pattern "9" becomes a digit and "A" a letter, so addresses look local.
_GEO: dict[str, tuple[list[tuple[str, str, str]], str, str, str, str]] = {
    "GB": ([("London", "Greater London", "EC2A 9AA"), ("Leeds", "West Yorkshire", "LS9 9AA"),
            ("Manchester", "Greater Manchester", "M9 9AA"), ("Edinburgh", "Scotland", "EH9 9AA")],
           "+44 20 7946 ", "GBP", "Ltd", "co.uk"),
    "DE": ([("Berlin", "Berlin", "10999"), ("München", "Bayern", "80999"),
            ("Hamburg", "Hamburg", "20999")], "+49 30 901 ", "EUR", "GmbH", "de"),
    "FR": ([("Paris", "Île-de-France", "75009"), ("Lyon", "Auvergne-Rhône-Alpes", "69009")],
           "+33 1 44 ", "EUR", "SAS", "fr"),
    "NL": ([("Amsterdam", "Noord-Holland", "1099 AA"), ("Rotterdam", "Zuid-Holland", "3099 AA")],
           "+31 20 555 ", "EUR", "B.V.", "nl"),
    "US": ([("New York", "NY", "10099"), ("Boston", "MA", "02199"), ("Chicago", "IL", "60699")],
           "+1 212 555 ", "USD", "Inc.", "com"),
    "IE": ([("Dublin", "County Dublin", "D09 A9A9"), ("Cork", "County Cork", "T99 A9A9")],
           "+353 1 555 ", "EUR", "Limited", "ie"),
}
_TAX_PATTERN = {"GB": "GB999999999", "DE": "DE999999999", "FR": "FR99999999999",
                "NL": "NL999999999B01", "US": "99-9999999", "IE": "IE9999999W"}
_COUNTRY_WEIGHTS = {"GB": 34, "DE": 15, "FR": 12, "NL": 12, "US": 16, "IE": 11}
_STREETS = ["Market", "Church", "Station", "Mill", "King", "Park", "Bridge", "Harbour", "Linden"]

# Names with the quirks matchers trip on: a leading "The", "&" vs "and", accents.
_SPECIAL_CLIENTS = [
    ("The Harbour Group", "GB", "Financial Services"), ("Smith & Partners", "GB", "Legal Services"),
    ("Société Générale Conseil", "FR", "Professional Services"),
    ("Müller & Söhne Maschinenbau", "DE", "Manufacturing"),
    ("Brennan and Doyle", "IE", "Construction"), ("The Lighthouse Trust", "US", "Non-profit"),
    ("Van der Berg Logistiek", "NL", "Logistics"), ("Crédit Léman Assurances", "FR", "Insurance"),
    ("Johnson and Wells", "US", "Retail"), ("Rhein & Main Energie", "DE", "Energy"),
]
_PREFIXES = [
    "Acme", "Northwind", "Bluebell", "Kestrel", "Granite", "Meridian", "Oakridge", "Silverline",
    "Thornbury", "Vantage", "Brightwater", "Copperfield", "Falcon", "Highgate", "Larkspur",
    "Redstone", "Sterling", "Westbrook", "Ironbridge", "Aurora", "Pinecrest", "Riverside",
    "Summit", "Evergreen", "Blackwood", "Clearview", "Harrow", "Lumen", "Orchard", "Quayside",
    "Solent", "Tideway", "Union", "Windmill", "Zenith", "Cobalt", "Beacon", "Fenwick", "Galway",
    "Hollis", "Juniper", "Marlow", "Nordic", "Palisade", "Sable", "Trident", "Vireo", "Wexford",
    "Albion", "Carrick",
]
_SECTORS = [
    ("Engineering", "Engineering"), ("Logistics", "Logistics"), ("Health", "Healthcare"),
    ("Energy", "Energy"), ("Retail", "Retail"), ("Capital", "Financial Services"),
    ("Foods", "Food & Beverage"), ("Pharma", "Life Sciences"), ("Systems", "Technology"),
    ("Insurance", "Insurance"), ("Telecom", "Telecommunications"), ("Media", "Media"),
    ("Construction", "Construction"), ("Bank", "Financial Services"), ("Software", "Technology"),
]
_TOPICS = [
    "ERP Migration", "Cloud Readiness Assessment", "Supply Chain Optimisation",
    "Data Platform Build", "Cyber Security Review", "Finance Transformation",
    "Operating Model Redesign", "Pricing Strategy", "Managed Analytics Service",
    "CRM Implementation", "Procurement Savings", "Regulatory Reporting", "Post-Merger Integration",
]
_GIVEN = [
    "Oliver", "Amelia", "James", "Isla", "Lukas", "Hannah", "Léa", "Hugo", "Sophie", "Daan",
    "Emma", "Liam", "Aoife", "Seán", "Noah", "Olivia", "Chloé", "Jonas", "Mia", "Finn", "Zoë",
    "Mateo", "Priya", "Arjun", "Fatima", "Yusuf", "Grace", "Ethan", "Ingrid", "Tomás", "Anna",
    "Ben", "Clara", "David", "Elena", "Felix", "Giulia", "Henrik", "Ivy", "Jack",
]
_FAMILY = [
    "Smith", "Jones", "Taylor", "Brown", "Müller", "Schmidt", "Schneider", "Dubois", "Martin",
    "Bernard", "de Jong", "Jansen", "van Dijk", "Murphy", "O'Brien", "Kelly", "Johnson",
    "Williams", "Garcia", "Patel", "Khan", "Nguyen", "Walsh", "Fischer", "Weber", "Lefèvre",
    "Bakker", "Visser", "Byrne", "Davies", "Evans", "Wilson", "Clarke", "Hughes", "Moreau",
]
# (HR's title, head count, daily cost rate, PSA's spelling of the same title); index = grade
_GRADES = [
    ("Partner", 4, 900, "Partner"), ("Director", 6, 720, "Practice Director"),
    ("Senior Manager", 8, 580, "Principal"), ("Manager", 12, 470, "Engagement Manager"),
    ("Senior Consultant", 14, 380, "Consultant II"), ("Consultant", 14, 300, "Consultant I"),
    ("Analyst", 8, 220, "Associate Consultant"),
]
_SUPPORT = {"Finance Manager": "Finance", "HR Business Partner": "People",
            "Office Manager": "Operations", "Finance Analyst": "Finance",
            "IT Support Engineer": "IT", "Recruiter": "People"}
_PRACTICES = {"Strategy": "CC-4100", "Technology": "CC-4200", "Finance Transformation": "CC-4300",
              "Operations": "CC-4400"}
_SKILLS = {
    "Strategy": ["Market Sizing", "Due Diligence", "Pricing", "Workshop Facilitation"],
    "Technology": ["Python", "SQL", "Azure", "AWS", "SAP S/4HANA", "Salesforce", "Power BI"],
    "Finance Transformation": ["IFRS 16", "Anaplan", "Oracle Fusion", "Process Mapping"],
    "Operations": ["Lean Six Sigma", "Procurement", "Supply Chain Planning", "Change Management"],
}
_OFFICES = {"London": "GB", "Manchester": "GB", "Berlin": "DE", "Paris": "FR",
            "Amsterdam": "NL", "Dublin": "IE", "New York": "US"}
_ENTITIES = {"GB": "Northbridge Consulting Ltd", "DE": "Northbridge Consulting GmbH",
             "FR": "Northbridge Conseil SAS", "NL": "Northbridge Consulting B.V.",
             "US": "Northbridge Consulting Inc.", "IE": "Northbridge Consulting Ireland Ltd"}
# fmt: on
_SUPPORT_GRADE = len(_GRADES)


def _fold(text: str) -> str:
    """ASCII without accents: what older systems (ERP, mail servers) store."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _slug(name: str) -> str:
    text = _fold(name).lower().removeprefix("the ").replace("&", "and")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _pattern(rng: random.Random, pattern: str) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return "".join(
        str(rng.randint(0, 9)) if c == "9" else rng.choice(letters) if c == "A" else c
        for c in pattern
    )


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _clean(attrs: dict[str, object]) -> dict[str, object]:
    """Only non-empty fields: the contract carries what the source actually holds."""
    return {k: v for k, v in attrs.items() if v not in (None, "", [])}


@dataclass
class _Client:
    i: int
    name: str
    country: str
    industry: str
    address: str
    city: str
    postcode: str
    phone: str
    domain: str
    tax_id: str
    active: bool
    crm_has_tax: bool
    in_erp: bool = False


@dataclass
class _Person:
    i: int
    given: str
    family: str
    title: str
    grade: int
    department: str
    office: str
    email: str = ""
    manager: _Person | None = None
    end: date | None = None


@dataclass
class _Project:
    i: int
    client: _Client
    code: str
    topic: str
    status: str
    start: date
    end: date
    manager: _Person | None


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


def _clients(rng: random.Random) -> list[_Client]:
    """60 clients: the awkwardly named ones plus generated ones, over six countries."""
    named = list(_SPECIAL_CLIENTS)
    countries, weights = list(_COUNTRY_WEIGHTS), list(_COUNTRY_WEIGHTS.values())
    for prefix in rng.sample(_PREFIXES, 50):
        word, industry = rng.choice(_SECTORS)
        named.append((f"{prefix} {word}", rng.choices(countries, weights)[0], industry))
    out: list[_Client] = []
    for i, (name, country, industry) in enumerate(named, start=1):
        cities, phone, _, _, tld = _GEO[country]
        city, _, postcode = rng.choice(cities)
        street, number = rng.choice(_STREETS), rng.randint(1, 180)
        address = {
            "DE": f"{street}straße {number}",
            "NL": f"{street}straat {number}",
            "FR": f"{number} rue du {street}",
        }.get(country, f"{number} {street} {'Avenue' if country == 'US' else 'Street'}")
        out.append(
            _Client(
                i, name, country, industry, address, city, _pattern(rng, postcode),
                phone + f"{rng.randint(0, 9999):04d}", f"{_slug(name)}.{tld}",
                _pattern(rng, _TAX_PATTERN[country]), rng.random() > 0.08, rng.random() < 0.5,
            )
        )  # fmt: skip
    for c in rng.sample(out, 45):
        c.in_erp = True
    return out


def _people(rng: random.Random) -> list[_Person]:
    """72 staff: a consulting pyramid, each reporting one or two grades up, plus support roles."""
    roles = [(title, g) for g, (title, n, _, _) in enumerate(_GRADES) for _ in range(n)]
    roles += [(title, _SUPPORT_GRADE) for title in _SUPPORT]
    people: list[_Person] = []
    seen: set[str] = set()
    for i, (title, grade) in enumerate(roles, start=1):
        dept = _SUPPORT.get(title) or rng.choice(list(_PRACTICES))
        p = _Person(i, rng.choice(_GIVEN), rng.choice(_FAMILY), title, grade, dept,
                    rng.choice(list(_OFFICES)))  # fmt: skip
        local = re.sub(r"[^a-z.]", "", _fold(f"{p.given}.{p.family}").lower())
        while local in seen:  # two Emma Smiths get emma.smith and emma.smith2, as in real life
            local += str(rng.randint(2, 9))
        seen.add(local)
        p.email = f"{local}@{FIRM_DOMAIN}"
        people.append(p)
    for p in people[4:]:
        lo = 0 if p.grade == _SUPPORT_GRADE else max(0, p.grade - 2)
        hi = 0 if p.grade == _SUPPORT_GRADE else p.grade - 1
        p.manager = rng.choice([q for q in people if lo <= q.grade <= hi])
    leavers = rng.sample(people[10:66], 2)
    leavers[0].end, leavers[1].end = date(2025, 11, 30), date(2025, 12, 31)
    return people


def _projects(rng: random.Random, clients: list[_Client], people: list[_Person]) -> list[_Project]:
    """80 engagements: 15 proposed, 45 active, 20 closed, for 35 of the active clients."""
    engaged = rng.sample([c for c in clients if c.active], 35)
    managers = [p for p in people if 1 <= p.grade <= 3 and p.end is None]
    per_client: dict[int, int] = {}
    out: list[_Project] = []
    for i, status in enumerate(["proposed"] * 15 + ["active"] * 45 + ["closed"] * 20, start=1):
        client = rng.choice(engaged)
        per_client[client.i] = per_client.get(client.i, 0) + 1
        abbrev = re.sub(r"[^A-Z]", "", _fold(client.name).upper().removeprefix("THE "))[:3]
        offset = {"closed": -420, "active": -200, "proposed": 60}[status] + rng.randint(0, 150)
        start = BASE.date() + timedelta(days=offset)
        end = start + timedelta(days=rng.randint(60, 300))
        if status == "active" and end < date(2026, 3, 1):
            end = date(2026, 3, 1) + timedelta(days=rng.randint(0, 200))
        pm = None if status == "proposed" else rng.choice(managers)
        code = f"{abbrev}-{per_client[client.i]:03d}"
        out.append(_Project(i, client, code, rng.choice(_TOPICS), status, start, end, pm))
    return out


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


def build_world(seed: int = 7) -> list[tuple[str, list[Change]]]:
    """The posting plan: (source name, batch of changes), in the order they must be posted."""
    rng = random.Random(seed)
    clients, people = _clients(rng), _people(rng)
    projects = _projects(rng, clients, people)
    delivered = [p for p in projects if p.status != "proposed"]
    em = {s: _Emitter(s) for s in SOURCES}
    crm, psa, time, hr, erp = (em[s] for s in ("crm", "psa", "time", "hr", "erp"))
    plan: list[tuple[str, list[Change]]] = []

    def post(e: _Emitter, changes: list[Change]) -> None:
        plan.extend(
            (e.source, changes[n : n + MAX_BATCH]) for n in range(0, len(changes), MAX_BATCH)
        )

    # Initial loads. People first: HR is the master, ERP and time keep thinner copies.
    hr_key = {p.i: f"WD{p.i:05d}" for p in people}
    post(hr, [hr.change("resource", hr_key[p.i], _hr_image(rng, p, hr_key)) for p in people])
    emp_id = {p.i: str(hr.images[("resource", hr_key[p.i])]["employee_id"]) for p in people}
    rate = {p.i: _GRADES[p.grade][2] if p.grade < _SUPPORT_GRADE else 260 for p in people}
    post(erp, [erp.change("resource", f"EMP-{p.i:04d}", {
        "employee_id": emp_id[p.i],
        # ERP capitalises some addresses; the hub compares email case-insensitively.
        "email": p.email.capitalize() if rng.random() < 0.15 else p.email,
        "cost_center": _PRACTICES.get(p.department, "CC-9000"),
        "cost_rate": rate[p.i] + rng.randint(-20, 20),
    }) for p in people if rng.random() < 0.9])  # fmt: skip
    post(time, [time.change("resource", f"T{p.i:04d}", {
        "employee_id": emp_id[p.i], "email": p.email, "given_name": _fold(p.given),
        "family_name": p.family,
    }) for p in people])  # fmt: skip

    crm_key = {c.i: f"A-{c.i}" for c in clients}
    post(crm, [crm.change("client", crm_key[c.i], {
        "name": c.name, "website": f"https://www.{c.domain}", "phone": c.phone,
        "address_line": c.address, "city": c.city, "postcode": c.postcode, "country": c.country,
        "industry": c.industry, "status": "active" if c.active else "inactive",
        "tax_id": c.tax_id if c.crm_has_tax else None,
    }) for c in clients])  # fmt: skip
    post(crm, [crm.change("project", f"O-{2000 + p.i}", {
        "code": p.code, "name": f"{p.client.name} - {p.topic}", "status": p.status,
        "opportunity_id": f"OPP-{40000 + p.i * 3}", "contract_value": rng.randint(25, 1200) * 1000,
        "client_key": crm_key[p.client.i],
    }) for p in projects if p.status != "closed"])  # fmt: skip

    erp_key = {c.i: f"CU{10000 + c.i}" for c in clients if c.in_erp}
    post(erp, [erp.change("client", k, _erp_client(rng, c, k))
               for c in clients if (k := erp_key.get(c.i))])  # fmt: skip
    post(erp, [erp.change("project", f"WBS-{p.i:05d}", {
        "code": p.code, "billable": rng.random() > 0.1,
        "cost_center": rng.choice(list(_PRACTICES.values())),
        "legal_entity": _ENTITIES[p.client.country], "currency": _GEO[p.client.country][2],
        "client_key": erp_key[p.client.i],
    }) for p in delivered if p.client.in_erp])  # fmt: skip

    # PSA sends people, then projects, then the clients those projects name: references wait.
    psa_people = [p for p in people if p.grade < _SUPPORT_GRADE]
    retitled = {p.i for p in rng.sample([p for p in psa_people if p.grade > 0], 10)}
    psa_key = {p.i: f"R-{p.i:03d}" for p in psa_people}
    post(psa, [psa.change("resource", psa_key[p.i], {
        "email": p.email, "employee_id": emp_id[p.i], "given_name": p.given,
        "family_name": p.family, "skills": sorted(rng.sample(_SKILLS[p.department], 3)),
        "job_title": _GRADES[p.grade][3] if p.i in retitled else p.title,
        "manager_key": psa_key[p.manager.i] if p.manager else None,
    }) for p in psa_people])  # fmt: skip
    psa_client = {p.client.i: f"PC-{p.client.i:04d}" for p in delivered}
    post(psa, [psa.change("project", f"PP-{p.i:04d}", {
        "code": p.code, "name": p.topic, "status": p.status, "start_date": _iso(p.start),
        "end_date": _iso(p.end),
        "billing_type": rng.choices(["time_and_materials", "fixed_fee", "retainer"], [6, 3, 1])[0],
        "client_key": psa_client[p.client.i],
        "project_manager_key": psa_key[p.manager.i] if p.manager else None,
    }) for p in delivered])  # fmt: skip
    post(psa, [psa.change("client", psa_client[c.i], {"name": c.name, "website": f"www.{c.domain}"})
               for c in clients if c.i in psa_client])  # fmt: skip
    # Who is staffed where: two people on each of a dozen delivered projects. A rng of its own,
    # so adding assignments left every other value of the world as it was.
    staffing = random.Random(seed + 1)
    staffed = [(p, r) for p in delivered[:12] for r in staffing.sample(psa_people, 2)]
    post(psa, [psa.change("assignment", f"AS-{n:04d}", {
        "role": "Engagement lead" if r.grade < 4 else "Consultant",
        "start_date": _iso(p.start), "end_date": _iso(p.end),
        "bill_rate": _GRADES[r.grade][2], "cost_rate": rate[r.i],
        "status": "confirmed" if p.status == "active" else "completed",
        "resource_key": psa_key[r.i], "project_key": f"PP-{p.i:04d}",
    }) for n, (p, r) in enumerate(staffed, start=1)])  # fmt: skip

    # The timekeeping system's copies of the clients and projects people book time to, in its
    # own keys, so the README's time-entry example runs on the demo. Only clients a key (tax
    # id and country) links, so none becomes a second golden record.
    booked = [p for p in delivered if p.client.in_erp or p.client.crm_has_tax]
    time_client = {p.client.i: f"TC-{p.client.i:04d}" for p in booked}
    post(time, [time.change("client", k, {
        "name": c.name, "tax_id": c.tax_id, "country": c.country,
    }) for c in clients if (k := time_client.get(c.i))])  # fmt: skip
    post(time, [time.change("project", f"TP-{100 + n}", {
        "code": p.code, "name": p.topic, "client_key": time_client[p.client.i],
    }) for n, p in enumerate(booked)])  # fmt: skip

    # A month later: edits, a promotion, a leaver, closed projects, a deleted client.
    for e in em.values():
        e.day = 35
    edited = next((c for c in clients[3:] if c.active and c.i not in psa_client), clients[3])
    stale_slot = crm.slot()  # a CRM edit made now that will be delivered after a newer one
    stale = {**crm.images[("client", crm_key[edited.i])], "phone": edited.phone[:-4] + "0000"}
    won = next(p for p in projects if p.status == "proposed")
    busy = {p.client.i for p in projects} | {edited.i, clients[2].i}
    idle = [c for c in reversed(clients) if c.i not in busy and c.active]
    doomed = next((c for c in idle if not c.in_erp), idle[0])
    lapsed = next(c for c in idle if c is not doomed)
    post(crm, [
        crm.update("client", crm_key[edited.i], phone=edited.phone[:-4] + "1234"),
        crm.update("client", crm_key[lapsed.i], status="inactive"),
        crm.update("project", f"O-{2000 + won.i}", status="active", contract_value=480000),
        crm.change("client", crm_key[doomed.i], {}, op="delete"),
    ])  # fmt: skip
    promoted = [p for p in people if p.end is None and p.grade in (4, 5)][:2]
    leaving = next(p for p in reversed(people) if p.end is None and p.grade == 6)
    post(hr, [
        *(hr.update("resource", hr_key[p.i], job_title=_GRADES[p.grade - 1][0]) for p in promoted),
        hr.update("resource", hr_key[leaving.i], status="leaver", end_date="2026-02-27"),
    ])  # fmt: skip
    post(psa, [psa.update("project", f"PP-{p.i:04d}", status="closed", end_date="2026-02-06")
               for p in delivered if p.status == "active"][:2])  # fmt: skip
    first = next(c for c in clients if c.in_erp)
    post(erp, [erp.update("client", erp_key[first.i], payment_terms="NET90")])

    # The late CRM edit arrives in a batch with a newer one; the hub must ignore it as stale.
    crm.day = 36
    post(crm, [
        crm.update("client", crm_key[clients[2].i], industry="Professional Services"),
        crm.change("client", crm_key[edited.i], stale, slot=stale_slot),
    ])  # fmt: skip
    return plan
