"""The codes the hub's reference data holds, read once at start to check the firm's rules.

A dimension rule naming a code that no active reference record holds would send every deal
it applies to into the setup exceptions; the start reads what each reference domain holds so
that mistake stops ``concord serve`` and ``concord worker`` with the rule's name instead."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.store import tables as t
from hub.store.jsonref import json_text
from hub.store.sql import table_of


def reference_codes(
    session: Session, domains: Iterable[str]
) -> dict[str, list[tuple[Any, Any]] | None]:
    """Per domain, the (code, status) attributes of its active golden records; None for a
    domain without any golden record (active or not): there is nothing to check against."""
    gr = table_of(t.GoldenRecordRow)
    out: dict[str, list[tuple[Any, Any]] | None] = {}
    for domain in sorted(set(domains)):
        if session.scalar(select(gr.c.id).where(gr.c.domain == domain).limit(1)) is None:
            out[domain] = None
            continue
        rows = session.execute(
            select(json_text(gr.c.attributes, "code"), json_text(gr.c.attributes, "status")).where(
                gr.c.domain == domain, gr.c.status == "active"
            )
        )
        out[domain] = [(code, status) for code, status in rows]
    return out
