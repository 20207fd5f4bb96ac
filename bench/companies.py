"""A generated company set with known truth: a "golden" client list and an "acquired" firm's list.

There is no public company register with truth that installs offline, so this generator writes
one, deterministic from its seed. Records are dicts with the hub's canonical client fields
(``name``, ``website``, ``phone``, ``address_line``, ``city``, ``postcode``, ``country`` and,
for some, ``tax_id``); a missing value is a missing key.

Hard cases, each on purpose (and listed in :attr:`CompanySet.hard_cases`):

* **Sister companies**: two to four entities of one group ("Kalomira Engineering Ltd",
  "Kalomira Logistics GmbH") share the group's website and switchboard phone, and a third of
  the groups also their head-office address. They are distinct entities.
* **One name in two countries**: "Apex Consulting Ltd" (GB) and "Apex Consulting GmbH" (DE) are
  two firms, each with its own website, phone and address.
* **Trusts administered by one trustee**: "Whitaker Trustees Limited" and the trusts it
  administers ("The Hale Family Trust", "Osei Charitable Trust"...) share the trustee's
  address and often its phone; no trust has a website. Every trust is a distinct entity.
* **Legal forms of many countries**: Ltd, Limited, PLC, LLP, DAC, GmbH, AG, GmbH & Co. KG,
  SARL, S.A., SAS, B.V., N.V., S.L., S.p.A., S.r.l., SA, AB, Oy, Oyj, Inc., LLC, Corp.,
  Pty Ltd, KK, GK; a copy may spell its form another way ("Pty. Ltd.", "G.m.b.H.") or drop it.
* **Noise in the acquired firm's copies**: typos (a swap, a dropped, doubled or replaced
  letter), abbreviations (International/Intl, Corporation/Corp, Company/Co., Technologies/Tech,
  Services/Svcs, & / and), re-ordered words ("Hart & Finch" / "Finch & Hart"), a leading "The"
  added or dropped, upper or lower case, websites with or without scheme and "www", phones in
  national or international format, abbreviated street words, missing fields, a country name
  instead of its code.
* **Genuinely new firms in the acquired list** that look like golden ones: a new sister of a
  golden group (same group website and switchboard), a golden firm's name in another country,
  a new trust of a golden trustee (same address). Their truth is ``None``.

Examples:
    >>> s = generate(300, 60, seed=7)
    >>> len(s.golden), len(s.acquired), len(s.truth)
    (300, 60, 60)
    >>> generate(300, 60, seed=7) == s
    True
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bench.company_parts import COUNTRIES, Country, fill, noisy_copy

__all__ = ["CompanySet", "generate"]

Record = dict[str, str]

_SYLLABLES = (
    "ka", "lo", "mi", "ra", "ve", "to", "san", "dor", "el", "quin", "bar", "ne", "sto", "fi",
    "gar", "hol", "ix", "jun", "pel", "tra", "vi", "wen", "zor", "cal", "mon", "rid", "ul",
    "bri", "cor", "dan", "es", "fal", "gil", "hu", "ja", "kel", "lin", "mar", "nor", "os",
)  # fmt: skip
_SURNAMES = (
    "Hartley", "Finch", "Whitaker", "Hale", "Osei", "Brennan", "Kowalski", "Nakamura", "Lindqvist",
    "Moreau", "Rossi", "Schneider", "Jansen", "Garcia", "Okafor", "Patel", "Murphy", "Fischer",
    "Dubois", "Bianchi", "Novak", "Eriksson", "Virtanen", "Tanaka", "Silva", "Campbell", "Reid",
    "Hughes", "Baker", "Turner", "Walsh", "Keller", "Vogel", "Laurent", "Ricci", "De Vries",
    "Bakker", "Lopez", "Kim", "Chen", "Singh", "Ahmed", "Clarke", "Fletcher", "Doyle", "Quinn",
)  # fmt: skip
_DESCRIPTIVE = (
    "North", "South", "Blue", "Silver", "Red", "Green", "Oak", "River", "Bridge", "Stone",
    "Harbour", "Summit", "Crown", "Eagle", "Pine", "Lake", "Iron", "Golden", "Royal", "Meridian",
    "Atlas", "Apex", "Vertex", "Pioneer",
)  # fmt: skip
_TRADES = (
    "Holdings", "Consulting", "Engineering", "Logistics", "Partners", "Systems", "Capital",
    "Foods", "Software", "Energy", "Advisory", "Retail", "Health", "Media", "Services",
    "Technologies", "Manufacturing", "Associates", "International", "Trading", "Construction",
    "Properties", "Investments", "Group", "Brothers", "Corporation", "Company", "Management",
    "Design", "International Trading", "Engineering Services", "Property Management",
)  # fmt: skip
_STREET_WORDS = (
    "Mill", "Church", "Station", "High", "Park", "King", "Queen", "Victoria", "Bridge", "Market",
    "Linden", "Rosen", "Garden", "Castle", "Harbour", "Forest", "Meadow", "Lake", "Spring",
)  # fmt: skip
_TRUSTS = ("The {} Family Trust", "{} Charitable Trust", "The {} Settlement",
           "{} Discretionary Trust", "The {} Pension Trust")  # fmt: skip
_QUALIFIERS = ("Europe", "UK", "Nordic", "Asia", "Americas", "Global", "Digital", "Solutions")
_WEIGHTS = (25, 5, 10, 8, 6, 5, 5, 4, 4, 3, 15, 6, 4)
_TRUST_COUNTRIES = ("GB", "IE", "CH", "AU")


@dataclass(frozen=True)
class CompanySet:
    """Two client lists and which acquired row is which golden entity.

    Attributes:
        golden: Distinct entities (the hub's golden clients).
        acquired: The acquired firm's clients: noisy copies of golden ones and new firms.
        truth: For each acquired row, the index of its golden entity, or ``None`` if new.
        seed: The seed that made it.
        hard_cases: Indices of the deliberate hard cases, by kind: ``sisters``,
            ``two_countries`` and ``trusts`` (trustee first) are tuples of golden indices;
            ``new_sister``, ``other_country`` and ``new_trust`` are (acquired index, golden
            index of the look-alike) pairs.
    """

    golden: list[Record]
    acquired: list[Record]
    truth: list[int | None]
    seed: int
    hard_cases: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)


@dataclass
class _Entity:
    record: Record
    form: str
    country: Country
    core: str = ""
    trade: str = ""


class _Builder:
    """Draws entities; names, websites, phones, addresses and tax ids stay distinct (``used``)
    unless a hard case shares them on purpose."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        towns = random.Random(rng.random())
        self.cities = {c.code: [self._coined(towns) + "ton" for _ in range(30)] for c in COUNTRIES}
        self.by_code = {c.code: c for c in COUNTRIES}

    def _fresh(self, make: object) -> str:
        for _ in range(1000):
            value = make() if callable(make) else str(make)
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("generator ran out of distinct values")

    @staticmethod
    def _coined(rng: random.Random) -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()

    def country(self, codes: tuple[str, ...] | None = None) -> Country:
        if codes:
            return self.by_code[self.rng.choice(codes)]
        return self.rng.choices(COUNTRIES, weights=_WEIGHTS)[0]

    def core(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            return self._coined(rng)
        if r < 0.65:
            a, b = rng.sample(_SURNAMES, 2)
            return f"{a} {rng.choice(('&', '&', 'and'))} {b}"
        if r < 0.85:
            a, b = rng.sample(_DESCRIPTIVE, 2)
            return f"{a} {b}" if rng.random() < 0.5 else a + b.lower()
        return rng.choice(_SURNAMES)

    def name_key(self, core: str, trade: str) -> str:
        return self._fresh(f"name:{core}|{trade}")

    def fresh_name(self) -> tuple[str, str]:
        while True:
            core, trade = self.core(), self.rng.choice(_TRADES)
            if f"name:{core}|{trade}" not in self.used:
                self.name_key(core, trade)
                return core, trade

    def phone(self, c: Country) -> str:
        rng = self.rng
        return self._fresh(
            lambda: (
                f"+{c.dial} {rng.randint(20, 99)} {rng.randint(1000, 9999)} "
                f"{rng.randint(1000, 9999)}"
            )
        )

    def website(self, core: str, trade: str, tld: str) -> str:
        slug = "".join(ch for ch in core.lower().replace(" ", "-") if ch.isalnum() or ch == "-")
        slug = slug.replace("--", "-")
        for candidate in (slug, f"{slug}-{trade.split()[0].lower()}"):
            if f"web:{candidate}.{tld}" not in self.used:
                self.used.add(f"web:{candidate}.{tld}")
                return f"https://www.{candidate}.{tld}"
        tail = self._fresh(lambda: f"web:{slug}{self.rng.randint(2, 999)}.{tld}")
        return "https://www." + tail[4:]

    def address(self, c: Country) -> Record:
        rng = self.rng

        def line() -> str:
            street = rng.choice(c.streets)
            word = rng.choice(_STREET_WORDS) if rng.random() < 0.6 else self._coined(rng)
            return street.format(n=rng.randint(1, 300), w=word)

        city = rng.choice(self.cities[c.code])
        postcode = fill(c.postcode, rng)
        addr = self._fresh(lambda: f"addr:{line()}|{postcode}")
        return {"address_line": addr[5:].split("|")[0], "city": city, "postcode": postcode}

    def company(
        self,
        c: Country,
        core: str,
        trade: str,
        website: str | None = None,
        phone: str | None = None,
        address: Record | None = None,
    ) -> _Entity:
        rng = self.rng
        form = rng.choices(c.forms, weights=range(len(c.forms) * 2, 0, -2))[0]
        lead = "The " if rng.random() < 0.05 else ""
        rec: Record = {"name": f"{lead}{core} {trade} {form}"}
        if website or rng.random() < 0.75:
            rec["website"] = website or self.website(core, trade, c.tld)
        if phone or rng.random() < 0.65:
            rec["phone"] = phone or self.phone(c)
        rec.update(address or self.address(c))
        rec["country"] = c.code
        if rng.random() < 0.35:
            rec["tax_id"] = self._fresh(lambda: fill(c.tax, rng))
        return _Entity(rec, form, c, core, trade)

    def plain(self) -> _Entity:
        core, trade = self.fresh_name()
        return self.company(self.country(), core, trade)

    def sister(self, like: _Entity, address: Record | None) -> _Entity:
        free = [t for t in _TRADES if f"name:{like.core}|{t}" not in self.used]
        if not free:  # a big group: "Kalomira Logistics Nordic"
            free = [f"{t} {q}" for t in _TRADES for q in _QUALIFIERS]
            free = [t for t in free if f"name:{like.core}|{t}" not in self.used]
        trade = self.rng.choice(free)
        self.name_key(like.core, trade)
        c = like.country if address or self.rng.random() < 0.5 else self.country()
        return self.company(
            c, like.core, trade, like.record.get("website"), like.record.get("phone"), address
        )

    def sisters(self) -> list[_Entity]:
        core, trade = self.fresh_name()
        c = self.country()
        group_site = self.website(core + " group", trade, "com")
        first = self.company(c, core, trade, group_site, self.phone(c))
        hq = None
        if self.rng.random() < 1 / 3:
            hq = {k: first.record[k] for k in ("address_line", "city", "postcode")}
        return [first] + [self.sister(first, hq) for _ in range(self.rng.randint(1, 3))]

    def abroad(self, like: _Entity) -> _Entity:
        others = tuple(c.code for c in COUNTRIES if c.code != like.country.code)
        return self.company(self.country(others), like.core, like.trade)

    def surname(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return rng.choice(_SURNAMES)
        return self._coined(rng) + rng.choice(("son", "er", "ley", "man", "ford", "field", "wood"))

    def trustee(self) -> _Entity:
        c = self.country(_TRUST_COUNTRIES)
        kinds = ("Trustees", "Trust Company", "Fiduciary Services")
        while True:
            surname, kind = self.surname(), self.rng.choice(kinds)
            if f"name:{surname}|{kind}" not in self.used:
                self.name_key(surname, kind)
                break
        e = self.company(c, surname, kind, phone=self.phone(c))
        e.record.pop("tax_id", None)
        return e

    def trust(self, trustee: _Entity) -> _Entity:
        rng = self.rng
        while True:
            surname, pattern = self.surname(), rng.choice(_TRUSTS)
            name = pattern.format(surname)
            if f"name:{name}|" not in self.used:
                self.name_key(name, "")
                break
        t = trustee.record
        rec: Record = {"name": name}
        if rng.random() < 0.6:
            rec["phone"] = t["phone"]
        rec.update({k: t[k] for k in ("address_line", "city", "postcode", "country")})
        return _Entity(rec, "", trustee.country, name, "")

    def trusts(self) -> list[_Entity]:
        head = self.trustee()
        return [head] + [self.trust(head) for _ in range(self.rng.randint(2, 5))]


def _golden(b: _Builder, n: int) -> tuple[list[_Entity], dict[str, list[tuple[int, ...]]]]:
    entities: list[_Entity] = []
    cases: dict[str, list[tuple[int, ...]]] = {"sisters": [], "two_countries": [], "trusts": []}
    forced = ["sisters", "two_countries", "trusts"]
    while len(entities) < n:
        r = b.rng.random()
        kind = forced.pop(0) if forced else (
            "plain" if r < 0.89 else "sisters" if r < 0.94 else "two_countries" if r < 0.98
            else "trusts"
        )  # fmt: skip
        if kind == "plain":
            family = [b.plain()]
        elif kind == "sisters":
            family = b.sisters()
        elif kind == "trusts":
            family = b.trusts()
        else:
            first = b.plain()
            family = [first, b.abroad(first)]
        family = family[: n - len(entities)]
        if kind != "plain" and len(family) > 1:
            cases[kind].append(tuple(range(len(entities), len(entities) + len(family))))
        entities.extend(family)
    return entities, cases


def generate(n_golden: int = 20_000, n_acquired: int = 4_000, seed: int = 1) -> CompanySet:
    """A golden list of ``n_golden`` distinct companies and an acquired list of ``n_acquired``.

    About 70% of acquired rows are noisy copies of distinct golden entities; the rest are new
    firms, a third of them look-alikes of golden ones (see the module's hard cases).

    Args:
        n_golden: Distinct golden entities (at least 20 for every hard case to appear).
        n_acquired: Rows of the acquired list.
        seed: The same seed gives the same set.

    Returns:
        The :class:`CompanySet`.

    Examples:
        >>> s = generate(100, 30, seed=3)
        >>> sum(t is not None for t in s.truth) > 0
        True
    """
    rng = random.Random(seed)
    b = _Builder(rng)
    entities, cases = _golden(b, n_golden)
    order = list(range(len(entities)))
    rng.shuffle(order)
    where = {old: new for new, old in enumerate(order)}
    golden = [entities[old] for old in order]
    hard = {k: [tuple(where[i] for i in group) for group in v] for k, v in cases.items()}
    hard.update({"new_sister": [], "other_country": [], "new_trust": []})
    n_new = min(n_acquired, max(round(n_acquired * 0.3), n_acquired - n_golden))
    rows: list[tuple[Record, int | None, str, int]] = []
    for g in rng.sample(range(len(golden)), n_acquired - n_new):
        e = golden[g]
        rows.append((noisy_copy(e.record, e.form, e.country, rng), g, "", -1))
    sisters = [g for group in hard["sisters"] for g in group]
    trustees = [group[0] for group in hard["trusts"]]
    for _ in range(n_new):
        r = rng.random()
        kind, like = "", -1
        if r < 0.12 and sisters:
            kind, like = "new_sister", rng.choice(sisters)
            new = b.sister(golden[like], None)
        elif r < 0.22:
            kind, like = "other_country", rng.randrange(len(golden))
            while not golden[like].trade:
                like = rng.randrange(len(golden))
            new = b.abroad(golden[like])
        elif r < 0.3 and trustees:
            kind, like = "new_trust", rng.choice(trustees)
            new = b.trust(golden[like])
        else:
            new = b.plain()
        rows.append((noisy_copy(new.record, new.form, new.country, rng), None, kind, like))
    rng.shuffle(rows)
    for k, (_, _, kind, like) in enumerate(rows):
        if kind:
            hard[kind].append((k, like))
    return CompanySet(
        golden=[e.record for e in golden],
        acquired=[r[0] for r in rows],
        truth=[r[1] for r in rows],
        seed=seed,
        hard_cases=hard,
    )
