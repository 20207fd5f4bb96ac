"""Name normalisers: company names and person names, reduced to the form fuzzy matching compares.

A company is written a dozen ways across a firm's systems ("ACME International Corporation",
"Acme Intl. Corp", "The Acme Co., Ltd."), and the differences are noise that would otherwise
swamp a string similarity: case, accents, punctuation, ``&``/``and``, abbreviations and the legal
form. Words that tell companies apart ("Holdings", "Services", "Group") are kept: stripping them
would merge sister companies, and a wrong merge is costlier than a missed one.

The legal forms come from the maintained list of the ``cleanco`` package (many countries);
they are stripped from the end repeatedly ("GmbH & Co. KG", "Pty Ltd"), never leaving an empty
name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from cleanco import prepare_default_terms

from matching._scalar import as_str, clean

__all__ = ["NICKNAMES", "company_name", "folded", "given_name", "person_name"]

_ABBREVIATIONS: dict[str, str] = {
    "intl": "international",
    "int": "international",
    "internat": "international",
    "corp": "corporation",
    "co": "company",
    "cos": "companies",
    "mfg": "manufacturing",
    "mfrs": "manufacturers",
    "svcs": "services",
    "svc": "service",
    "srvcs": "services",
    "grp": "group",
    "hldgs": "holdings",
    "hldg": "holding",
    "bros": "brothers",
    "assoc": "associates",
    "assocs": "associates",
    "natl": "national",
    "mgmt": "management",
    "dept": "department",
    "ctr": "center",
    "centre": "center",
    "sys": "systems",
    "inds": "industries",
    "amer": "american",
    "eng": "engineering",
    "engg": "engineering",
    "univ": "university",
    "tech": "technology",
    "technologies": "technology",
    "&": "and",
    "+": "and",
}
"""Common abbreviations in company names, expanded so both spellings compare equal."""

_KEPT_TERMS = frozenset({"uk", "eu", "private", "gp", "pt", "se", "sc"})
"""cleanco terms not stripped: they are as often a meaningful word as a legal form
("Acme UK" and "Acme" are often distinct subsidiaries)."""

_SPELLED_OUT = (
    "public limited company",
    "private limited company",
    "limited liability company",
    "limited liability partnership",
    "limited partnership",
    "proprietary limited",
    "pty limited",
    "incorporated",
    "designated activity company",
    "kabushiki kaisha",
    "godo kaisha",
    "yugen kaisha",
    "aktiebolag",
    "publikt aktiebolag",
    "aktiengesellschaft",
    "gesellschaft mit beschrankter haftung",
    "kommanditgesellschaft",
    "osakeyhtio",
    "julkinen osakeyhtio",
    "aksjeselskap",
    "aktieselskab",
    "anpartsselskab",
    "societe anonyme",
    "societe par actions simplifiee",
    "societe a responsabilite limitee",
    "besloten vennootschap",
    "naamloze vennootschap",
    "sociedad anonima",
    "sociedad limitada",
    "societa per azioni",
    "societa a responsabilita limitata",
)
"""Legal forms written out in full, which cleanco's list holds only abbreviated ("KK", "AB",
"PLC"): an acquired firm's system often spells out what the registry abbreviates."""

_APOSTROPHES = str.maketrans("", "", "'\u2019`\u00b4.")
_NON_WORD = re.compile(r"[^\w&+]+")


def _fold(s: str) -> str:
    """NFKC, casefold and strip accents: "Société" -> "societe"."""
    if s.isascii():  # nothing to compose, decompose or strip: most names, and the hot path
        return s.lower()
    decomposed = unicodedata.normalize("NFKD", clean(s).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _tokens(s: str) -> list[str]:
    """Accent-free lower-case tokens; dots and apostrophes vanish ("S.A." -> "sa", "Int'l")."""
    s = _fold(s).translate(_APOSTROPHES)
    s = s.replace("&", " & ").replace("+", " + ")
    return [t for t in _NON_WORD.sub(" ", s).replace("_", " ").split() if t]


def _expand(tokens: list[str]) -> list[str]:
    return [_ABBREVIATIONS.get(t, t) for t in tokens]


@cache
def _legal_forms() -> dict[int, frozenset[tuple[str, ...]]]:
    """cleanco's legal forms, tokenised and expanded like names, grouped by length (longest
    first when stripping), built once on first use."""
    by_len: dict[int, set[tuple[str, ...]]] = {}
    for _, parts in prepare_default_terms():
        tokens = tuple(_expand(_tokens(" ".join(parts))))
        if not tokens or (len(tokens) == 1 and tokens[0] in _KEPT_TERMS):
            continue
        by_len.setdefault(len(tokens), set()).add(tokens)
    for extra in (("company",), ("corporation",), ("and", "company"), ("limited",)):
        by_len.setdefault(len(extra), set()).add(extra)
    for spelled in _SPELLED_OUT:
        tokens = tuple(_expand(_tokens(spelled)))
        by_len.setdefault(len(tokens), set()).add(tokens)
    return {n: frozenset(v) for n, v in sorted(by_len.items(), reverse=True)}


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    forms = _legal_forms()
    stripped = True
    while stripped:
        stripped = False
        for n, terms in forms.items():
            if len(tokens) > n and tuple(tokens[-n:]) in terms:
                tokens = tokens[:-n]
                stripped = True
                break
    return tokens


def company_name(v: object) -> str | None:
    """Company name without case, accents, punctuation, abbreviations, legal forms or "The".

    Examples:
        >>> company_name("ACME International Corporation") == company_name("Acme Intl. Corp")
        True
        >>> company_name("The Acme Group"), company_name("ACME GROUP LIMITED")
        ('acme group', 'acme group')
        >>> company_name("Acme Holdings Ltd") == company_name("Acme Services Ltd")
        False

    Args:
        v: Raw value from a source record.

    Returns:
        The canonical name, or ``None`` if blank; a name made only of a legal form ("Ltd")
        keeps it rather than becoming empty.
    """
    s = as_str(v)
    if s is None:
        return None
    return _company_name(s)


@lru_cache(maxsize=131072)
def _company_name(s: str) -> str | None:
    """The work of :func:`company_name`, cached: golden names recur on every comparison."""
    tokens = _expand(_tokens(s))
    if len(tokens) > 1 and tokens[0] == "the":
        tokens = tokens[1:]
    tokens = _strip_legal_forms(tokens)
    return " ".join(tokens) or None


def folded(v: object) -> str | None:
    """Text without case, accents or punctuation: for names of people, places and projects.

    Examples:
        >>> folded("  São  Paulo-Centro ")
        'sao paulo centro'
    """
    s = as_str(v)
    if s is None:
        return None
    return _folded(s)


@lru_cache(maxsize=131072)
def _folded(s: str) -> str | None:
    """The work of :func:`folded`, cached: cities and streets recur across candidates."""
    return " ".join("and" if t in ("&", "+") else t for t in _tokens(s)) or None


def person_name(v: object) -> str | None:
    """A person's name without case, accents or punctuation ("O'Brien-Smith" -> "obrien smith").

    Examples:
        >>> person_name("  José  O'Brien ")
        'jose obrien'
    """
    return folded(v)


NICKNAMES: dict[str, str] = {
    "abby": "abigail",
    "al": "albert",
    "alex": "alexander",
    "andy": "andrew",
    "drew": "andrew",
    "ben": "benjamin",
    "bill": "william",
    "billy": "william",
    "will": "william",
    "willy": "william",
    "liam": "william",
    "bob": "robert",
    "bobby": "robert",
    "rob": "robert",
    "robbie": "robert",
    "bert": "robert",
    "cathy": "catherine",
    "kate": "catherine",
    "katie": "catherine",
    "kathy": "katherine",
    "chris": "christopher",
    "chuck": "charles",
    "charlie": "charles",
    "dan": "daniel",
    "danny": "daniel",
    "dave": "david",
    "davy": "david",
    "dick": "richard",
    "rick": "richard",
    "rich": "richard",
    "ricky": "richard",
    "ed": "edward",
    "eddie": "edward",
    "ted": "edward",
    "ned": "edward",
    "fred": "frederick",
    "freddie": "frederick",
    "greg": "gregory",
    "harry": "henry",
    "hank": "henry",
    "jack": "john",
    "johnny": "john",
    "jim": "james",
    "jimmy": "james",
    "jamie": "james",
    "jeff": "jeffrey",
    "jen": "jennifer",
    "jenny": "jennifer",
    "jess": "jessica",
    "joe": "joseph",
    "joey": "joseph",
    "josh": "joshua",
    "kim": "kimberly",
    "larry": "lawrence",
    "liz": "elizabeth",
    "lizzie": "elizabeth",
    "beth": "elizabeth",
    "betty": "elizabeth",
    "eliza": "elizabeth",
    "maggie": "margaret",
    "meg": "margaret",
    "peggy": "margaret",
    "matt": "matthew",
    "mike": "michael",
    "mikey": "michael",
    "mick": "michael",
    "nick": "nicholas",
    "pat": "patricia",
    "patty": "patricia",
    "pete": "peter",
    "phil": "philip",
    "ron": "ronald",
    "ronnie": "ronald",
    "sam": "samuel",
    "sammy": "samuel",
    "steve": "stephen",
    "stevie": "stephen",
    "sue": "susan",
    "susie": "susan",
    "tom": "thomas",
    "tommy": "thomas",
    "tony": "anthony",
    "vicky": "victoria",
    "tori": "victoria",
    "wendy": "gwendolyn",
    "zach": "zachary",
}
"""Common English nicknames and their formal given name. Ambiguous short forms (``alex``,
``sam``, ``pat``) map to one formal name: what matters is that both spellings meet."""


def given_name(v: object) -> str | None:
    """A given name as :func:`person_name`, with a leading nickname mapped to its formal name.

    Examples:
        >>> given_name("Bill"), given_name("William"), given_name("Liz Anne")
        ('william', 'william', 'elizabeth anne')
    """
    s = person_name(v)
    if s is None:
        return None
    first, sep, rest = s.partition(" ")
    return NICKNAMES.get(first, first) + sep + rest
