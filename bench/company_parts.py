"""Parts of the generated company set: countries, their formats, and the noise of a copy.

:mod:`bench.companies` builds entities from these; everything draws from the ``random.Random``
it is given, so one seed gives one data set.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

__all__ = ["COUNTRIES", "Country", "noisy_copy", "typo"]


@dataclass(frozen=True)
class Country:
    """How companies of one country are written.

    Attributes:
        code: ISO 3166-1 alpha-2 code.
        name: English name (an export sometimes carries it instead of the code).
        forms: Legal forms, most common first.
        tld: Web domain suffix of local firms.
        dial: International dialling code.
        streets: Street words; ``{n}`` is the house number, ``{w}`` the street's own word.
        postcode: Pattern: ``9`` a digit, ``A`` a letter, anything else kept.
        tax: Pattern of the tax id (VAT number, EIN...), as ``postcode``.
    """

    code: str
    name: str
    forms: tuple[str, ...]
    tld: str
    dial: str
    streets: tuple[str, ...]
    postcode: str
    tax: str


COUNTRIES: tuple[Country, ...] = (
    Country("GB", "United Kingdom", ("Ltd", "Limited", "PLC", "LLP"), "co.uk", "44",
            ("{n} {w} Street", "{n} {w} Road", "{n} {w} Lane"), "AA9 9AA", "GB999999999"),
    Country("IE", "Ireland", ("Ltd", "Limited", "DAC"), "ie", "353",
            ("{n} {w} Street", "{n} {w} Road"), "A99 A9A9", "IE9999999A"),
    Country("DE", "Germany", ("GmbH", "AG", "GmbH & Co. KG"), "de", "49",
            ("{w}straße {n}", "{w}weg {n}"), "99999", "DE999999999"),
    Country("FR", "France", ("SARL", "S.A.", "SAS"), "fr", "33",
            ("{n} rue {w}", "{n} avenue {w}"), "99999", "FR99999999999"),
    Country("NL", "Netherlands", ("B.V.", "N.V."), "nl", "31",
            ("{w}straat {n}", "{w}gracht {n}"), "9999 AA", "NL999999999B01"),
    Country("ES", "Spain", ("S.L.", "S.A."), "es", "34",
            ("Calle {w} {n}", "Avenida {w} {n}"), "99999", "ESA9999999A"),
    Country("IT", "Italy", ("S.p.A.", "S.r.l."), "it", "39",
            ("Via {w} {n}", "Corso {w} {n}"), "99999", "IT99999999999"),
    Country("CH", "Switzerland", ("AG", "SA", "GmbH"), "ch", "41",
            ("{w}strasse {n}",), "9999", "CHE999999999"),
    Country("SE", "Sweden", ("AB",), "se", "46", ("{w}gatan {n}",), "999 99", "SE999999999901"),
    Country("FI", "Finland", ("Oy", "Oyj"), "fi", "358", ("{w}katu {n}",), "99999", "FI99999999"),
    Country("US", "United States", ("Inc.", "LLC", "Corp."), "com", "1",
            ("{n} {w} Avenue", "{n} {w} Street"), "99999", "99-9999999"),
    Country("AU", "Australia", ("Pty Ltd", "Pty Limited"), "com.au", "61",
            ("{n} {w} Street", "{n} {w} Road"), "9999", "99 999 999 999"),
    Country("JP", "Japan", ("KK", "Kabushiki Kaisha", "GK"), "co.jp", "81",
            ("{n}-{n} {w}-cho",), "999-9999", "T9999999999999"),
)  # fmt: skip

_FORM_SPELLINGS = {
    "Ltd": ("Limited", "Ltd.", "LTD"),
    "Limited": ("Ltd", "Ltd."),
    "PLC": ("Public Limited Company", "plc"),
    "GmbH": ("G.m.b.H.", "Gmbh"),
    "S.A.": ("SA", "S.A"),
    "SA": ("S.A.",),
    "SARL": ("S.A.R.L.", "Sarl"),
    "SAS": ("S.A.S.",),
    "B.V.": ("BV", "B.V"),
    "N.V.": ("NV",),
    "S.L.": ("SL", "S.L"),
    "S.p.A.": ("SpA", "S.P.A."),
    "S.r.l.": ("Srl", "S.R.L."),
    "Inc.": ("Inc", "Incorporated"),
    "LLC": ("L.L.C.", "llc"),
    "Corp.": ("Corporation", "Corp"),
    "Pty Ltd": ("Pty. Ltd.", "Pty Limited", "PTY LTD"),
    "Pty Limited": ("Pty Ltd",),
    "KK": ("K.K.", "Kabushiki Kaisha"),
    "Kabushiki Kaisha": ("KK", "K.K."),
    "AB": ("Aktiebolag",),
    "Oy": ("OY",),
}
"""Other ways the same legal form is written."""

_ABBREVIATIONS = {
    "International": "Intl",
    "Corporation": "Corp",
    "Company": "Co.",
    "Technologies": "Tech",
    "Services": "Svcs",
    "Manufacturing": "Mfg",
    "Associates": "Assoc.",
    "Brothers": "Bros",
    "Management": "Mgmt",
    "&": "and",
    "and": "&",
}
_STREET_SHORT = {"Street": "St", "Road": "Rd", "Avenue": "Ave", "Lane": "Ln", "straße": "str."}
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def fill(pattern: str, rng: random.Random) -> str:
    """``pattern`` with each ``9`` a random digit and each ``A`` a random letter."""
    return "".join(
        str(rng.randrange(10)) if ch == "9" else rng.choice(_LETTERS) if ch == "A" else ch
        for ch in pattern
    )


def typo(text: str, rng: random.Random) -> str:
    """One keyboard slip: two letters swapped, one dropped, one doubled or one replaced."""
    if len(text) < 4:
        return text
    k = rng.randrange(1, len(text) - 2)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:k] + text[k + 1] + text[k] + text[k + 2 :]
    if kind == 1:
        return text[:k] + text[k + 1 :]
    if kind == 2:
        return text[:k] + text[k] + text[k:]
    return text[:k] + rng.choice("aeiounrst") + text[k + 1 :]


def _reorder(name: str, rng: random.Random) -> str:
    """Words in another order: "Hart & Finch" -> "Finch & Hart", or the trade first."""
    m = re.match(r"^(The )?(\w+) (&|and) (\w+)(.*)$", name)
    if m:
        return f"{m[1] or ''}{m[4]} {m[3]} {m[2]}{m[5]}"
    words = name.split()
    if len(words) >= 3:
        words[0], words[1] = words[1], words[0]
    return " ".join(words)


def _name_variant(name: str, form: str, rng: random.Random) -> str:
    base = name[: -len(form)].rstrip() if form and name.endswith(form) else name
    r = rng.random()
    if form and r < 0.35:  # another spelling of the legal form, or none at all
        spellings = _FORM_SPELLINGS.get(form, ())
        form = rng.choice(spellings) if spellings and rng.random() < 0.7 else ""
    if rng.random() < 0.25:
        words = base.split()
        hits = [k for k, w in enumerate(words) if w in _ABBREVIATIONS]
        if hits:
            k = rng.choice(hits)
            words[k] = _ABBREVIATIONS[words[k]]
            base = " ".join(words)
    if rng.random() < 0.08:
        base = _reorder(base, rng)
    if rng.random() < 0.1:
        base = base[4:] if base.startswith("The ") else "The " + base
    if rng.random() < 0.25:
        base = typo(base, rng)
    out = f"{base} {form}".strip()
    r = rng.random()
    return out.upper() if r < 0.12 else out.lower() if r < 0.16 else out


def _website_variant(url: str, rng: random.Random) -> str:
    host = url.removeprefix("https://").removeprefix("www.")
    return rng.choice(
        (url, host, "www." + host, f"http://{host}/", f"https://www.{host}/contact", host.upper())
    )


def _phone_variant(phone: str, dial: str, rng: random.Random) -> str:
    digits = phone.replace("+", "").replace(" ", "")
    national = digits[len(dial) :]
    return rng.choice(
        (
            phone,
            "+" + digits,
            f"0{national}",
            f"00{dial} {national}",
            f"(0{national[:2]}) {national[2:]}",
        )
    )


def noisy_copy(
    golden: dict[str, str], form: str, country: Country, rng: random.Random
) -> dict[str, str]:
    """The record as another firm's CRM holds it: fields missing, reformatted, misspelt.

    Never a different value for an identifying fact (the same company, the same place).

    Args:
        golden: The entity's record as the golden list has it.
        form: Its legal form as written at the end of its name ("" for none).
        country: Its country.
        rng: Source of randomness.
    """
    out: dict[str, str] = {}
    out["name"] = _name_variant(golden["name"], form, rng)
    if "website" in golden and rng.random() < 0.6:
        out["website"] = _website_variant(golden["website"], rng)
    if "phone" in golden and rng.random() < 0.5:
        out["phone"] = _phone_variant(golden["phone"], country.dial, rng)
    if "address_line" in golden and rng.random() < 0.75:
        line = golden["address_line"]
        if rng.random() < 0.25:
            for long, short in _STREET_SHORT.items():
                line = line.replace(long, short)
        out["address_line"] = typo(line, rng) if rng.random() < 0.1 else line
    if rng.random() < 0.9:
        city = golden["city"]
        r = rng.random()
        out["city"] = city.upper() if r < 0.05 else typo(city, rng) if r < 0.1 else city
    if "postcode" in golden and rng.random() < 0.8:
        pc = golden["postcode"]
        out["postcode"] = pc.replace(" ", "") if rng.random() < 0.2 else pc
    out["country"] = country.name if rng.random() < 0.05 else country.code
    if "tax_id" in golden and rng.random() < 0.4:
        tax = golden["tax_id"]
        out["tax_id"] = " ".join(tax[k : k + 3] for k in range(0, len(tax), 3))
        if rng.random() < 0.5:
            out["tax_id"] = tax
    return out
