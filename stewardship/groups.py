"""The queue's group cursors (issue 16, must-have 1): a group's place as link text and back.

The queue lists a record's candidates together, at the place of its best one (its head); the
SQL that finds heads and pages whole groups is ``hub.store.read.groups``. Here the page rows'
group places become ``after=`` and ``before=`` values, and such values become places again.
"""

from __future__ import annotations

from typing import Any

from hub.store.read.groups import place_of


def cursor(sort: str, row: dict[str, Any]) -> str:
    """A group's place, for ``after=`` and ``before=`` links."""
    place = place_of(sort, row)
    if sort == "age":
        return str(place[0])
    if sort == "source":
        return f"{place[0]}:{place[1]}"
    return f"{place[0]!r}:{place[1]}"


def parse_cursor(sort: str, text: str) -> tuple[Any, ...] | None:
    """``0.93:1234`` (probability), ``crm:1234`` (source) or ``1234`` (age), the place of a
    group's head; None if bad."""
    try:
        head, _, cid = text.rpartition(":")
        if sort == "age":
            return (int(text),)
        if sort == "source":
            return (head, int(cid)) if head else None
        return float(head), int(cid)
    except ValueError:
        return None
