"""Personal fields left out of what a reader is not granted (docs/architecture.md, "Read
scopes").

A golden record, a version of it and an event all carry a field in up to four places: its
value (``attributes``), its lineage (``provenance``, which names the source record the value
came from), a steward's override of it (``overrides``) and the list of what changed
(``changed_fields``). A field hidden from a reader goes from all four, so the record does not
say that a person's birth date changed, or from which source it came.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

PLACES = ("attributes", "provenance", "overrides")


def redact(record: dict[str, Any], hidden: Collection[str]) -> dict[str, Any]:
    """A copy of ``record`` (a golden view, a version or an event's ``data``) without the
    ``hidden`` fields; the record itself when nothing is hidden.

    Examples:
        >>> redact({"attributes": {"name": "Ada", "date_of_birth": "1985-12-10"},
        ...         "changed_fields": ["date_of_birth"]}, {"date_of_birth"})
        {'attributes': {'name': 'Ada'}, 'changed_fields': []}
    """
    if not hidden:
        return record
    out = dict(record)
    for place in PLACES:
        value = out.get(place)
        if isinstance(value, dict):
            out[place] = {k: v for k, v in value.items() if k not in hidden}
    changed = out.get("changed_fields")
    if isinstance(changed, list):
        out["changed_fields"] = [f for f in changed if f not in hidden]
    return out


def redact_event(event: dict[str, Any], hidden: Collection[str]) -> dict[str, Any]:
    """A CloudEvent with its ``data`` redacted."""
    data = event.get("data")
    if not hidden or not isinstance(data, dict):
        return event
    return {**event, "data": redact(data, hidden)}


def event_domain(event: dict[str, Any]) -> str:
    """The domain of a Concord event, from its type ``concord.<domain>.<kind>``."""
    parts = str(event.get("type", "")).split(".")
    return parts[1] if len(parts) > 2 else ""
