"""Checking one change's attributes against its domain, before anything is stored.

The API validates a whole batch with this and refuses it whole, so a bad field never leaves a
batch half-applied. Values are checked, not coerced, except dates, which are kept as ISO text.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub.domain.spec import DomainSpec, FieldSpec

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_TEXT = 10_000
MAX_LIST = 500
# The integers JSON columns and every subscriber's 64-bit number type can hold; beyond,
# orjson refuses to write the value and the change would fail at the store (issue 19, 11).
MIN_INT, MAX_INT = -(2**63), 2**63 - 1


# What both stores can hold and hand back as a Python datetime: UTC years 1 to 9999, less a
# day at each end, so that a reader in any time zone (PostgreSQL converts to the session's)
# still gets a value in range. Outside it, PostgreSQL stores the value and then fails every
# read of it, and SQLite cannot store it at all.
EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def check_timestamp(value: datetime) -> str | None:
    """Why ``value`` (aware) cannot be stored and read back by every store, or None.

    Examples:
        >>> from datetime import timezone
        >>> check_timestamp(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))
        'must lie between 0001-01-02T00:00:00Z and 9999-12-30T23:59:59Z'
    """
    naive = value.replace(tzinfo=None)
    offset = value.utcoffset() or timedelta(0)
    # Compared without converting, since the conversion itself is what overflows.
    if (
        naive - EARLIEST.replace(tzinfo=None) < offset
        or LATEST.replace(tzinfo=None) - naive < -offset
    ):
        return "must lie between 0001-01-02T00:00:00Z and 9999-12-30T23:59:59Z"
    return None


def _nul(text: str) -> str | None:
    return text_problem(text)


def text_problem(text: str) -> str | None:
    """Why text cannot be stored, or None. PostgreSQL text and JSONB cannot hold NUL, and a
    lone UTF-16 surrogate (JSON allows ``"\\ud800"``) is no character: UTF-8 cannot encode it.
    Refused here rather than failing at the store."""
    if "\x00" in text:
        return "text must not contain a NUL character"
    if _SURROGATE.search(text):
        return "text must not contain a lone surrogate (\\ud800-\\udfff): it is not a character"
    return None


def printable(name: str) -> str:
    """A name as it may be echoed in an answer: lone surrogates written as ``\\udXXX``."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _int_problem(value: int | float) -> str | None:
    if isinstance(value, int) and not MIN_INT <= value <= MAX_INT:
        return "integer outside the 64-bit range; send a decimal number or text"
    return None


def check_value(spec: FieldSpec, value: Any) -> str | None:
    """Why ``value`` is not a valid ``spec`` value, or None when it is (None is always valid)."""
    if value is None:
        return None
    if spec.type == "string":
        if not isinstance(value, str):
            return f"expected text, got {type(value).__name__}"
        if len(value) > MAX_TEXT:
            return f"text longer than {MAX_TEXT} characters"
        return text_problem(value)
    if spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {type(value).__name__}"
        if isinstance(value, float) and not math.isfinite(value):
            return "expected a finite number"
        return _int_problem(value)
    if spec.type == "boolean":
        return None if isinstance(value, bool) else f"expected true or false, got {value!r:.40}"
    if spec.type == "date":
        if not isinstance(value, str):
            return f"expected a date as YYYY-MM-DD, got {type(value).__name__}"
        # fromisoformat alone also takes week dates ("2026-W01-1") and compact forms.
        if not _ISO_DATE.fullmatch(value):
            return f"expected a date as YYYY-MM-DD, got {value!r:.40}"
        try:
            date.fromisoformat(value)
        except ValueError:
            return f"expected a date as YYYY-MM-DD, got {value!r:.40} (no such day)"
        return None
    if spec.type == "list":
        if not isinstance(value, list):
            return f"expected a list of text, got {type(value).__name__}"
        if len(value) > MAX_LIST:
            return f"list longer than {MAX_LIST} items"
        if any(not isinstance(v, str) or len(v) > MAX_TEXT for v in value):
            return "expected a list of text"
        return next((why for v in value if (why := text_problem(v))), None)
    if spec.type == "map":
        return _check_map(value)
    return f"unknown field type {spec.type}"


def _check_map(value: Any) -> str | None:
    """A map names things (a rate card's roles) and gives each a number or a text: nested
    structures would have no survivorship rule and no column in a subscriber's table."""
    if not isinstance(value, dict):
        return f"expected a mapping of names to values, got {type(value).__name__}"
    if len(value) > MAX_LIST:
        return f"mapping with more than {MAX_LIST} entries"
    for k, v in value.items():
        if not k.strip() or len(k) > 200 or text_problem(k):
            return f"entry name {k!r:.40} must be non-empty text of at most 200 characters"
        if isinstance(v, bool) or v is None:
            return f"entry {k!r:.40}: expected a number or text, got {v!r}"
        if isinstance(v, float) and not math.isfinite(v):
            return f"entry {k!r:.40}: expected a finite number"
        if isinstance(v, str):
            if why := text_problem(v) or (len(v) > MAX_TEXT and "text too long"):
                return f"entry {k!r:.40}: {why}"
        elif not isinstance(v, int | float):
            return f"entry {k!r:.40}: expected a number or text, got {type(v).__name__}"
        elif too_big := _int_problem(v):
            return f"entry {k!r:.40}: {too_big}"
    return None


def check_attributes(
    domain: DomainSpec, attributes: dict[str, Any], op: str
) -> list[tuple[str, str]]:
    """Every (field, problem) of one change's attributes; empty when the change is valid."""
    problems: list[tuple[str, str]] = []
    for name, value in attributes.items():
        if text_problem(name):
            problems.append((printable(name), "field name: " + str(text_problem(name))))
            continue
        spec = domain.field_index.get(name)
        if spec is not None:
            why = check_value(spec, value)
            if why:
                problems.append((name, why))
            continue
        ref = domain.reference_index.get(name)
        if ref is not None:
            if value is not None and (not isinstance(value, str) or not value.strip()):
                problems.append((name, "expected the source's own key as non-empty text"))
            elif isinstance(value, str) and len(value) > 500:
                problems.append((name, "key longer than 500 characters"))
            elif isinstance(value, str) and (why := text_problem(value)):
                problems.append((name, "key: " + why))
            continue
        problems.append((name, f"unknown field for domain {domain.name}"))
    if op == "upsert":
        for ref in domain.references:
            if ref.required and attributes.get(ref.attribute) in (None, ""):
                problems.append((ref.attribute, f"required reference to {ref.target} is missing"))
    return problems


def map_from_text(text: str) -> dict[str, Any]:
    """A map typed by a person or held in a CSV cell: ``senior=1200; junior=950``.

    Numbers become numbers, anything else stays text; ValueError names the entry that has no
    ``=``, so the steward page and an onboarding file report the same mistake the same way.

    Examples:
        >>> map_from_text("senior=1200; junior=950.5; note=day rate")
        {'senior': 1200, 'junior': 950.5, 'note': 'day rate'}
    """
    out: dict[str, Any] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, eq, raw = part.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"entry {part.strip()!r:.40} is not name=value")
        raw = raw.strip()
        try:
            number = float(raw)
        except ValueError:
            out[name.strip()] = raw
            continue
        if not math.isfinite(number):
            out[name.strip()] = raw
        else:
            out[name.strip()] = int(number) if number.is_integer() and "." not in raw else number
    return out
