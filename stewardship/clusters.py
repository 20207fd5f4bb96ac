"""A record's candidates together: an incoming record with two or more pending candidates
is one question (which golden record, if any), not two unrelated rows. The queue says how
many candidates each row's record has, and the compare page lists the others beside it
(issue 16, must-have 1, in part). The candidates are read by ``hub.store.read``; here they
are laid out field by field."""

from __future__ import annotations

from typing import Any

from hub.domain.errors import ConcordError


def field_rows(
    record: dict[str, Any], columns: list[dict[str, Any]], fields: list[str]
) -> list[dict[str, Any]]:
    """One row per field: the incoming value, then each candidate's, with whether it agrees."""
    rows = []
    for f in fields:
        mine = record.get(f)
        theirs = [(c.get("golden_attributes") or {}).get(f) for c in columns]
        if mine in (None, "") and all(t in (None, "") for t in theirs):
            continue
        rows.append({"field": f, "record": mine, "theirs": theirs})
    return rows


def parse_choice(ids: str, chosen: str) -> tuple[tuple[int, ...], int | None]:
    """The form's ``ids`` ("12,13") and ``chosen`` (an id, or "none")."""
    try:
        listed = tuple(int(p) for p in ids.split(",") if p.strip())
        pick = None if chosen == "none" else int(chosen)
    except ValueError:
        raise ConcordError(f"candidates {ids!r}, choice {chosen!r}: not candidate ids") from None
    return listed, pick
