"""Plain words for what the steward pages would otherwise show as internal names (issue 16,
must-have 9): a comparison level ``else`` or ``missing``, a survivorship rule's name, a
timestamp with microseconds. The internal name stays beside the label where it helps a
steward who reads the matching configuration."""

from __future__ import annotations

import re
from datetime import datetime

RULES = {
    "source_priority": "owner's source",
    "most_recent": "most recent",
    "most_complete": "most complete",
    "most_frequent": "most sources agree",
    "union": "all values combined",
    "override": "steward's override",
}

_LEVELS = {
    "exact": "same",
    "else": "different",
    "missing": "blank",
    "swapped": "same, fields swapped",
    "typo": "one typo apart",
}


def level_label(level: str) -> str:
    """``jw>=0.92`` reads "similar (jw>=0.92)"; ``else`` reads "different"."""
    if not level:
        return ""
    if level in _LEVELS:
        return _LEVELS[level]
    if re.match(r"^\w+(>=|<=)", level) or level.startswith("within "):
        return f"similar ({level})"
    return level


def rule_label(rule: str) -> str:
    return RULES.get(rule, rule.replace("_", " "))


def when(value: object) -> str:
    """A timestamp to the second, in UTC: ``2026-12-04 13:05:09 UTC``."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if value.tzinfo else "")
    if isinstance(value, str):
        try:
            return when(datetime.fromisoformat(value))
        except ValueError:
            return value
    return "" if value is None else str(value)
