"""Value transforms a mapping applies to a source column on its way to a canonical field.

Each takes one value and returns the cleaned value, or raises ``ValueProblem`` saying what is
wrong with it; the mapping adds the record and the column to the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

Transform = Callable[[Any], Any]
_EPOCH = date(1970, 1, 1)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ValueProblem(ValueError):
    """Raised by a transform; the caller adds the record and column."""


def _trim(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None  # a blank is no value: it must never win survivorship
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def text(value: Any) -> Any:
    """Numbers as text, for ids that a source stores as integers but the hub holds as codes."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueProblem(f"expected text or a number, got {value!r}")
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    raise ValueProblem(f"expected text or a number, got {type(value).__name__}")


def _number(value: Any) -> Any:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueProblem(f"expected a number, got {value!r:.40}") from None
        return int(number) if number.is_integer() and "." not in value else number
    raise ValueProblem(f"expected a number, got {type(value).__name__}")


def date_transform(fmt: str) -> Transform:
    """A date in the source's shape to ISO ``YYYY-MM-DD``.

    ``fmt`` is a ``strptime`` format, or ``epoch_days`` / ``epoch_millis`` / ``epoch_micros``
    for the integers Debezium sends for DATE and TIMESTAMP columns without the schema wrapper.
    """
    units = {"epoch_days": 86_400_000_000, "epoch_millis": 1_000, "epoch_micros": 1}

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if fmt in units:
            if isinstance(value, str) and _ISO_DATE.match(value):
                return value[:10]  # already decoded (a Debezium schema said it was a date)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueProblem(f"expected an integer ({fmt}), got {value!r:.40}")
            return (_EPOCH + timedelta(microseconds=value * units[fmt])).isoformat()
        if not isinstance(value, str):
            raise ValueProblem(f"expected a date as text ({fmt}), got {value!r:.40}")
        try:
            return datetime.strptime(value.strip(), fmt).date().isoformat()
        except ValueError:
            raise ValueProblem(f"expected a date like {fmt!r}, got {value!r:.40}") from None

    return convert


def enum_transform(table: Mapping[str, Any]) -> Transform:
    """Source codes to the hub's values; a code the map does not know is refused, not guessed."""
    codes = {str(k): v for k, v in table.items()}

    def convert(value: Any) -> Any:
        if value is None:
            return None
        try:
            return codes[str(value)]
        except KeyError:
            known = ", ".join(sorted(codes))
            raise ValueProblem(f"{value!r:.40} is not in the enum map ({known})") from None

    return convert


SIMPLE_TRANSFORMS: dict[str, Transform] = {
    "trim": _trim,
    "upper": _upper,
    "lower": _lower,
    "text": text,
    "number": _number,
}
