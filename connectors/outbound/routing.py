"""Who gets which event, and in what shape: the echo rule and each subscriber's own keys.

The echo rule (a subscription naming its source, without ``echo: true``): an event is an echo
of source S, and is not sent to S, when it is a ``created`` or ``updated`` event, at least one
field or reference changed, and every changed field's value was chosen from S's own records
(per the event's provenance: ``provenance[field]``, ``provenance["ref:" + reference]``; a
``union`` field counts when all its contributors are S). Anything a steward override, another
system or a merge contributed makes the event news to S, and it is sent. Merges, retirements
and link-only changes (no changed fields: a new xref from another system) are always sent,
because S cannot know them from its own writes. The rule errs towards sending: a needless
event costs S a no-op, a suppressed one would leave S wrong.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import orjson

from hub.domain.redaction import event_domain, redact_event

ECHO_KINDS = ("created", "updated")


def _sources(entry: Any) -> set[str]:
    if not isinstance(entry, dict):
        return set()
    if "sources" in entry and isinstance(entry["sources"], list):
        return {str(s.get("source")) for s in entry["sources"] if isinstance(s, dict)}
    return {str(entry["source"])} if entry.get("source") else set()


def is_echo(event: dict[str, Any], source: str) -> bool:
    """Whether every change in ``event`` came from ``source`` alone (see the module doc)."""
    kind = str(event.get("type", "")).rsplit(".", 1)[-1]
    data = event.get("data") or {}
    changed = data.get("changed_fields") or []
    if kind not in ECHO_KINDS or not changed or data.get("merge"):
        return False
    provenance = data.get("provenance") or {}
    for field in changed:
        entry = provenance.get(field, provenance.get("ref:" + field))
        if _sources(entry) != {source}:
            return False
    return True


def your_keys(event: dict[str, Any], source: str) -> list[str]:
    """The subscriber's own keys for the record, from the event's xref."""
    xref = (event.get("data") or {}).get("xref") or []
    return sorted(str(x["key"]) for x in xref if isinstance(x, dict) and x.get("source") == source)


def body(event: dict[str, Any], source: str | None, hidden: Collection[str] = ()) -> bytes:
    """The request body: the CloudEvent, with ``data.your_keys`` when the subscription names
    its source, without the ``hidden`` (personal) fields the subscription is not granted.
    The same event gives the same bytes on every attempt."""
    event = redact_event(event, hidden)
    if source is not None:
        event = {
            **event,
            "data": {**(event.get("data") or {}), "your_keys": your_keys(event, source)},
        }
    return orjson.dumps(event)


def hidden_fields(
    event: dict[str, Any], personal: bool, personal_fields: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """The fields of ``event`` a subscription leaves out: its domain's personal fields, unless
    the subscription was granted them."""
    return frozenset() if personal else personal_fields.get(event_domain(event), frozenset())
