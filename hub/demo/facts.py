"""The demo's made-up firm as plain facts: its clients, staff and engagements, seeded.

:mod:`hub.demo.world` projects these facts into what each source system would hold, and
:mod:`hub.demo.deal` picks its deals' clients from them; keeping the facts apart lets both draw
the same world from the same seed. Pure and stdlib only, like the world."""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

BASE = datetime(2026, 1, 1, tzinfo=UTC)
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
