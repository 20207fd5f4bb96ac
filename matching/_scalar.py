"""Scalar coercion shared by every normaliser module (private).

Kept apart from :mod:`matching.normalise` so that the name and format normalisers can use the
same coercion rules without a circular import.
"""

from __future__ import annotations

import math
import unicodedata
import uuid
from decimal import Decimal

__all__ = ["as_str", "clean"]


def as_str(v: object) -> str | None:
    """Coerce a scalar to ``str``; ``None`` for anything that is not a sensible scalar.

    Integral floats are rendered without ``.0`` because spreadsheets and CSV readers routinely
    turn the identifier ``123`` into ``123.0``; both must give the same key. Numbers too large
    to print (Python limits int-to-str conversion to 4300 digits) give ``None``.
    """
    try:
        return _scalar_str(v)
    except (ValueError, ArithmeticError):
        return None


def _scalar_str(v: object) -> str | None:
    """The conversion behind :func:`as_str`, which turns its exceptions into ``None``."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        return str(int(v)) if v.is_integer() else repr(float(v))
    if isinstance(v, Decimal):
        if not v.is_finite():
            return None
        return str(int(v)) if v == v.to_integral_value() else str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, bytes | bytearray):
        try:
            return bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def clean(s: str) -> str:
    """NFKC-normalise and drop invisible format characters.

    NFKC folds full-width digits and letters, ligatures and composed/decomposed accents to one
    form. Format characters (Unicode category ``Cf``: BOM, zero-width space, soft hyphen) are
    invisible in every UI yet make two values differ, and a BOM regularly leaks out of CSV files.
    """
    if s.isascii():  # NFKC leaves ASCII as it is and no format character is ASCII
        return s
    s = unicodedata.normalize("NFKC", s)
    return "".join(ch for ch in s if unicodedata.category(ch) != "Cf")
