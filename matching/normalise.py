"""Normalisers: turn one raw field value into the canonical string that matching compares.

Every normaliser has the signature ``Callable[[object], str | None]`` and follows three rules:

* It never raises. Source systems send ints, floats, ``None``, lists, half-filled spreadsheet
  cells and outright garbage; a normaliser that raised would abort an ingest for one bad cell.
* It returns ``None`` for blank or unusable input. ``None`` means "this field cannot take part in
  a key", which is different from the empty string, and a key with a ``None`` part is no key at
  all (see :mod:`matching.keys`). Two blanks must never be treated as equal.
* It is deterministic and cheap, because its output is stored next to golden records and used as
  an exact index key; changing what a normaliser returns means re-keying the stored records.

Only scalar values are accepted (``str``, ``int``, ``float``, ``Decimal``, ``UUID``, UTF-8
``bytes``). Containers, booleans and arbitrary objects give ``None`` rather than ``str(v)``,
because ``"[1, 2]"`` or ``"True"`` would be a meaningless but perfectly matchable key, and an
object's ``__str__`` may itself raise.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from functools import cache, lru_cache
from typing import TypeAlias
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from matching._scalar import as_str as _as_str
from matching._scalar import clean as _clean
from matching.formats import date, phone, postcode
from matching.names import company_name, folded, given_name, person_name

__all__ = [
    "NORMALISERS",
    "Normaliser",
    "code",
    "company_name",
    "country",
    "date",
    "email",
    "folded",
    "given_name",
    "identity",
    "person_name",
    "phone",
    "postcode",
    "tax_id",
    "text",
    "website_domain",
]

Normaliser: TypeAlias = Callable[[object], str | None]
"""A function from a raw field value to its canonical string, or ``None`` if unusable."""


def text(v: object) -> str | None:
    """Generic free-text form: NFKC, casefold, whitespace collapsed, ends stripped.

    Accents are kept (``"Café"`` -> ``"café"``): stripping them is a fuzzy decision that belongs
    to name comparators, not to an exact key.
    """
    s = _as_str(v)
    if s is None:
        return None
    out = " ".join(_clean(s).casefold().split())
    return out or None


def code(v: object) -> str | None:
    """Identifier-like values (project codes, employee ids): uppercase, no whitespace at all.

    Punctuation such as ``-`` is kept because in codes it is often significant (``A-1`` vs
    ``A1`` may be different projects); whitespace is dropped because it is not.
    """
    s = _as_str(v)
    if s is None:
        return None
    out = "".join(_clean(s).upper().split())
    return out or None


def identity(v: object) -> str | None:
    """The value as given, only stripped: for fields already canonical at the source."""
    s = _as_str(v)
    if s is None:
        return None
    return s.strip() or None


def email(v: object) -> str | None:
    """Lower-cased e-mail address, or ``None`` if it does not look like one.

    ``+tags`` and dots in the local part are deliberately kept: removing them is right for some
    providers only, and a wrong merge through an exact key is worse than a missed one.
    """
    s = _as_str(v)
    if s is None:
        return None
    s = _clean(s).strip().lower()
    if s.count("@") != 1 or any(ch.isspace() for ch in s):
        return None
    local, domain = s.split("@")
    if not local or "." not in domain:
        return None
    if any(not label for label in domain.split(".")):
        return None
    return s


_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://")
_LABEL = re.compile(r"^(?!-)[a-z0-9_\-]{1,63}(?<!-)$")
# Top-level domains reserved for examples and tests (RFC 2606, RFC 6761). They are not on the
# public suffix list, yet documentation, demos and test data name sites on them
# (``acme.example``): the label under them is the site, as under any real TLD.
RESERVED_TLDS = frozenset({"example", "test", "invalid"})


@cache
def _psl() -> PublicSuffixList:
    """The bundled public suffix list, parsed once on first use (parsing takes tens of ms).

    Private suffixes are included (``only_icann=False``), so ``acme.github.io`` stays
    ``acme.github.io`` rather than collapsing to ``github.io``. That is a deliberate choice for an
    exact match key: with ICANN-only rules every company hosted on a shared platform
    (``github.io``, ``blogspot.com``, ``uk.com``, ``azurewebsites.net``...) would get the same key
    and be auto-merged, and a wrong merge is far costlier than a missed one. The cost is that the
    private section changes more often, so upgrading ``publicsuffixlist`` can change a few keys.

    ``accept_unknown=False``: a host whose TLD is not on the list (``acme.local``, typos such as
    ``acme.cmo``) gives ``None`` instead of a bogus key.
    """
    return PublicSuffixList(only_icann=False, accept_unknown=False)


def website_domain(v: object) -> str | None:
    """Registered domain of a website (``"https://www.Acme.co.uk/x"`` -> ``"acme.co.uk"``).

    Accepts bare hosts and URLs with any scheme, port, user info, path or query. IDN hosts are
    returned in their ASCII (punycode) form so ``bücher.de`` and ``xn--bcher-kva.de`` give the
    same key. A site on a shared platform keeps its own label (``acme.github.io``, see
    :func:`_psl`); a bare public suffix (``co.uk``, ``github.io``), IP addresses, single-label
    hosts and unknown TLDs give ``None``; the reserved test TLDs ``.example``, ``.test`` and
    ``.invalid`` count as known (``www.acme.example`` -> ``acme.example``). Works offline: the
    suffix list ships inside the ``publicsuffixlist`` package.
    """
    s = _as_str(v)
    if s is None:
        return None
    return _registered_domain(s)


@lru_cache(maxsize=65536)
def _registered_domain(s: str) -> str | None:
    """The work of :func:`website_domain`, cached: a suffix-list walk costs tens of µs and the
    same few sites recur across a firm's systems and across every update of a record."""
    s = _clean(s).strip().lower()
    if not s or any(ch.isspace() for ch in s):
        return None
    if not _SCHEME.match(s):
        s = "//" + s
    try:
        host = urlsplit(s).hostname
    except ValueError:  # e.g. an unbalanced "[" taken for an IPv6 literal
        return None
    if not host:
        return None
    host = host.rstrip(".")
    if _may_be_ip(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return None
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:  # empty or over-long label, or characters IDNA forbids
        return None
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    if labels[-1] in RESERVED_TLDS:
        return ".".join(labels[-2:])
    registered = _psl().privatesuffix(host)
    if registered is None:
        return None
    return str(registered)


def _may_be_ip(host: str) -> bool:
    """Only these can be IP literals: an IPv6 address has a colon, an IPv4 one only ASCII
    digits and dots. Asking ``ipaddress`` of every host raised and caught an error for each
    real site name, 1% of an onboarding commit's applier time at a million clients."""
    return ":" in host or all(c in "0123456789." for c in host)


def tax_id(v: object) -> str | None:
    """Tax/VAT identifier: uppercase, every non-alphanumeric removed.

    Separators in tax ids (spaces, dashes, dots, slashes) are formatting, never meaning, so
    ``"GB 123-456 789"`` and ``"gb123456789"`` are the same id.
    """
    s = _as_str(v)
    if s is None:
        return None
    out = "".join(ch for ch in _clean(s).upper() if ch.isalnum())
    return out or None


_COUNTRY_NAMES: dict[str, str] = {
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "gbr": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "us": "US",
    "america": "US",
    "germany": "DE",
    "deutschland": "DE",
    "deu": "DE",
    "france": "FR",
    "fra": "FR",
    "netherlands": "NL",
    "the netherlands": "NL",
    "holland": "NL",
    "nederland": "NL",
    "nld": "NL",
    "spain": "ES",
    "españa": "ES",
    "espana": "ES",
    "esp": "ES",
    "italy": "IT",
    "italia": "IT",
    "ita": "IT",
    "ireland": "IE",
    "éire": "IE",
    "irl": "IE",
    "canada": "CA",
    "can": "CA",
    "australia": "AU",
    "aus": "AU",
    "switzerland": "CH",
    "schweiz": "CH",
    "suisse": "CH",
    "che": "CH",
    "sweden": "SE",
    "sverige": "SE",
    "swe": "SE",
    "belgium": "BE",
    "belgië": "BE",
    "belgique": "BE",
    "bel": "BE",
    "austria": "AT",
    "österreich": "AT",
    "aut": "AT",
    "denmark": "DK",
    "danmark": "DK",
    "dnk": "DK",
    "norway": "NO",
    "norge": "NO",
    "nor": "NO",
    "poland": "PL",
    "polska": "PL",
    "pol": "PL",
    "portugal": "PT",
    "prt": "PT",
    "japan": "JP",
    "jpn": "JP",
    "india": "IN",
    "ind": "IN",
    "singapore": "SG",
    "sgp": "SG",
    "brazil": "BR",
    "brasil": "BR",
    "bra": "BR",
    "mexico": "MX",
    "méxico": "MX",
    "mex": "MX",
}
"""Common names, endonyms and ISO alpha-3 codes, keyed by their :func:`text` form without dots.

``"uk"`` is here because it is not an ISO code (the code is ``GB``) although everyone uses it.
"""

_ALPHA2 = re.compile(r"^[A-Za-z]{2}$")


def country(v: object) -> str | None:
    """ISO 3166-1 alpha-2 code when recognisable, else the :func:`text` form.

    Two-letter input is taken as an alpha-2 code and only uppercased (not checked against the
    ISO list), except ``"UK"`` which becomes ``"GB"``. Names in :data:`_COUNTRY_NAMES` map to
    their code; ``"U.S.A."`` and ``"usa"`` are the same because dots are ignored for lookup.
    Anything else is returned as free text so that it still compares equal to itself.
    """
    t = text(v)
    if t is None:
        return None
    undotted = " ".join(t.replace(".", " ").split())
    compact = undotted.replace(" ", "")
    mapped = _COUNTRY_NAMES.get(undotted)
    if mapped is None and len(compact) <= 3:  # "U. S. A.", "u k"
        mapped = _COUNTRY_NAMES.get(compact)
    if mapped is not None:
        return mapped
    if _ALPHA2.match(t):
        return t.upper()
    return t


KEPT_PER_NORMALISER = 32768
"""How many normalised strings each of :data:`NORMALISERS` keeps (then it starts again)."""
KEPT_LENGTH = 256
"""Longer input is normalised every time, never kept: a field holding a document must not
make the memo hold 32,768 of them."""


def remembered(fn: Normaliser, size: int = KEPT_PER_NORMALISER) -> Normaliser:
    """``fn`` keeping its last answers for ``str`` input.

    One record's values are normalised several times on their way through the hub: for its
    deterministic keys, its blocking keys, its value keys, the values the matcher compares,
    and again when its golden record is survived; and a batch's records share their
    countries, cities and group websites. A normaliser is a pure function of one value (see
    the module's rules), so its answer can be kept. Only exact ``str`` values are kept:
    ``1`` and ``True`` are equal keys of a dict but normalise apart, and a subclass of
    ``str`` may print differently. Filling up simply starts again, which costs one miss per
    value and needs no order kept."""
    kept: dict[object, str | None] = {}

    def normalise(v: object) -> str | None:
        if v.__class__ is not str or len(v) > KEPT_LENGTH:
            return fn(v)
        try:  # one lookup, safe while another thread starts it again
            return kept[v]
        except KeyError:
            pass
        if len(kept) >= size:
            kept.clear()
        out = kept[v] = fn(v)
        return out

    functools.update_wrapper(normalise, fn)  # its name and docstring, and ``__wrapped__``
    return normalise


NORMALISERS: dict[str, Normaliser] = {
    name: remembered(fn)
    for name, fn in {
        "text": text,
        "company_name": company_name,
        "folded": folded,
        "person_name": person_name,
        "given_name": given_name,
        "phone": phone,
        "postcode": postcode,
        "date": date,
        "code": code,
        "email": email,
        "website": website_domain,
        "tax_id": tax_id,
        "country": country,
        "identity": identity,
    }.items()
}
"""Normalisers by the name a match spec uses for them (``KeyPart.normaliser``), each keeping
its recent answers (:func:`remembered`)."""
