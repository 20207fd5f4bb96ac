"""Format normalisers: phone numbers, postcodes and dates, to one canonical spelling each.

These fields differ across systems mostly in format ("020 7946 0000" vs "+44 20 7946 0000",
"sw1a 1aa" vs "SW1A1AA", "19650312" vs "12/03/1965"), so once formatted alike an exact or
edit-distance comparison is meaningful. Like every normaliser they never raise: a value that
cannot be parsed is kept in a cleaned form so it still compares equal to itself.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

import phonenumbers

from matching._scalar import as_str, clean

__all__ = ["DEFAULT_PHONE_REGION", "date", "phone", "phone_in", "postcode"]

DEFAULT_PHONE_REGION = "GB"
"""Region assumed for national-format numbers that carry no ``+`` country code."""


def phone_in(v: object, region: str | None) -> str | None:
    """A phone number in E.164 (``+442079460000``), reading national numbers as ``region``'s.

    Args:
        v: Raw value.
        region: ISO alpha-2 region for numbers without a country code, or ``None`` to accept
            only international numbers.

    Returns:
        E.164 when the number is possible, else its digits (at least 5) so it still compares
        to itself, else ``None``.

    Examples:
        >>> phone_in("020 7946 0000", "GB"), phone_in("+44 (0)20-7946-0000", None)
        ('+442079460000', '+442079460000')
    """
    s = as_str(v)
    if s is None:
        return None
    return _phone(clean(s).strip(), region)


@lru_cache(maxsize=65536)
def _phone(s: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(s, region)
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    digits = "".join(ch for ch in s if ch.isdigit())
    return digits if len(digits) >= 5 else None


def phone(v: object) -> str | None:
    """:func:`phone_in` with :data:`DEFAULT_PHONE_REGION`."""
    return phone_in(v, DEFAULT_PHONE_REGION)


def postcode(v: object) -> str | None:
    """Postcode upper-cased without whitespace ("sw1a 1aa" -> "SW1A1AA").

    Examples:
        >>> postcode(" sw1a  1aa"), postcode(2000)
        ('SW1A1AA', '2000')
    """
    s = as_str(v)
    if s is None:
        return None
    out = "".join(clean(s).upper().split())
    return out or None


_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[t ].*)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_NUMERIC = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_DAY_MONTH_NAME = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?[ \-/]([a-z]+)\.?,?[ \-/](\d{4})$")
_MONTH_NAME_DAY = re.compile(r"^([a-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$")


def date(v: object) -> str | None:
    """A date as ISO ``yyyy-mm-dd``; an unparseable or impossible date is kept as its text.

    Reads ``yyyy-mm-dd`` (with any time after it), ``yyyymmdd``, ``dd/mm/yyyy`` (day first
    unless only month first is possible), ``12 Mar 1965``, ``March 12, 1965`` and ``date``
    objects. Keeping bad values as text (``"19651332"``) lets them still agree with the same
    typo elsewhere, and never crashes an ingest.

    Examples:
        >>> date("19650312"), date("12/03/1965"), date("03/25/1965"), date("1965-02-30")
        ('1965-03-12', '1965-03-12', '1965-03-25', '1965-02-30')
    """
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    s = as_str(v)
    if s is None:
        return None
    s = " ".join(clean(s).strip().lower().split())
    return (_parse_date(s) or s) or None


def _ymd(y: str | int, m: str | int, d: str | int) -> str | None:
    try:
        return dt.date(int(y), int(m), int(d)).isoformat()
    except ValueError:
        return None


def _parse_date(s: str) -> str | None:
    if match := _ISO.match(s) or _COMPACT.match(s):
        return _ymd(*match.groups())
    if match := _NUMERIC.match(s):
        a, b, y = match.groups()
        return _ymd(y, b, a) or _ymd(y, a, b)
    if match := _DAY_MONTH_NAME.match(s):
        d, m, y = match.groups()
        return _ymd(y, _MONTHS[m], d) if m in _MONTHS else None
    if match := _MONTH_NAME_DAY.match(s):
        m, d, y = match.groups()
        return _ymd(y, _MONTHS[m], d) if m in _MONTHS else None
    return None
