"""What time-entry validation reads: keys through the xref, golden records, their history.

Set-based, because a timekeeping system sends a thousand entries at a time: the whole batch
costs five queries (keys, golden records, assignments, history, the caller's kind), whatever
its size up to a chunk, never one query per entry. Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hub.domain.errors import Forbidden
from hub.domain.timecheck import RETIRED, Lifespan, TimeEntry, parse_day
from hub.store import tables as t
from hub.store.jsonref import json_text
from hub.store.sql import chunks, one_of, table_of

CHUNK = 1000
TIME_KIND = "time"


@dataclass
class TimeWorld:
    """The golden records one batch of entries is judged against, keyed as the rules want."""

    projects: dict[str, Lifespan]  # by the caller's project key
    resources: dict[str, Lifespan]  # by the caller's resource key
    assignments: dict[str, list[Lifespan]]  # by golden resource id


def require_time_source(session: Session, source: str | None) -> None:
    """Only a timekeeping source validates: the entries' keys are read in the caller's own
    keys, so a CRM key would resolve nothing (or, worse, the CRM's unrelated codes)."""
    if source is None:
        raise Forbidden("only a timekeeping source's key (kind time) may validate time entries")
    row = session.get(t.SourceSystem, source)
    if row is None or row.kind != TIME_KIND:
        kind = row.kind if row is not None else "unknown"
        raise Forbidden(
            f"source {source} is of kind {kind}: only a timekeeping source (kind time) may "
            "validate time entries, because their keys are read in the calling source's keys"
        )


def _xref(session: Session, source: str, domain: str, keys: Iterable[str]) -> dict[str, str]:
    sr = table_of(t.SourceRecordRow)
    out: dict[str, str] = {}
    for part in chunks(sorted(set(keys)), CHUNK):
        rows = session.execute(
            select(sr.c.source_key, sr.c.golden_id).where(
                one_of(session, sr.c.source_key, part),
                sr.c.source == source,
                sr.c.domain == domain,
                sr.c.deleted.is_(False),
                sr.c.golden_id.is_not(None),
            )
        )
        out.update({k: g for k, g in rows})
    return out


def _history(session: Session, ids: Sequence[str]) -> dict[str, list[tuple[date, str]]]:
    """(day recorded, status) per version of the golden records that have more than one."""
    gv = table_of(t.GoldenVersionRow)
    out: dict[str, list[tuple[date, str]]] = defaultdict(list)
    for part in chunks(sorted(ids), CHUNK):
        rows = session.execute(
            select(gv.c.golden_id, gv.c.status, gv.c.attributes, gv.c.created_at)
            .where(one_of(session, gv.c.golden_id, part))
            .order_by(gv.c.golden_id, gv.c.version)
        )
        for gid, status, attributes, at in rows:
            out[gid].append((at.date(), _status(status, attributes)))
    return out


def _status(golden_status: str, attributes: dict[str, Any]) -> str:
    if golden_status != "active":
        return RETIRED
    return str(attributes.get("status") or "")


def _lifespan(row: Any, history: dict[str, list[tuple[date, str]]]) -> Lifespan:
    attrs = row.attributes or {}
    billable = attrs.get("billable")
    refs = row.references or {}
    statuses = history.get(row.id) or [(row.updated_at.date(), _status(row.status, attrs))]
    return Lifespan(
        golden_id=row.id,
        start=parse_day(attrs.get("start_date")),
        end=parse_day(attrs.get("end_date")),
        statuses=tuple(statuses),
        billable=billable if isinstance(billable, bool) else None,
        resource=refs.get("resource"),
        project=refs.get("project"),
    )


def load_world(session: Session, source: str, entries: Sequence[TimeEntry]) -> TimeWorld:
    """Resolve the entries' keys in ``source``'s own xref and load what the rules need.

    A golden record at version 1 needs no history: its current status is its only one. Only
    records changed since they were created cost a history read, and only for this batch.
    """
    project_gid = _xref(session, source, "project", (e.project_key for e in entries))
    resource_gid = _xref(session, source, "resource", (e.resource_key for e in entries))
    gr = table_of(t.GoldenRecordRow)
    cols = (gr.c.id, gr.c.version, gr.c.status, gr.c.attributes, gr.c.references, gr.c.updated_at)
    goldens: dict[str, Any] = {}
    for part in chunks(sorted({*project_gid.values(), *resource_gid.values()}), CHUNK):
        for row in session.execute(select(*cols).where(one_of(session, gr.c.id, part))):
            goldens[row.id] = row
    staffed: list[Any] = []
    # The same expression and literal condition as the partial index on assignments by
    # resource (hub.store.tables), so both planners use it: a bound 'assignment' would not do.
    ref = json_text(gr.c.references, "resource")
    for part in chunks(sorted(set(resource_gid.values())), CHUNK):
        staffed.extend(
            session.execute(
                select(*cols).where(
                    text("golden_record.domain = 'assignment'"),
                    one_of(session, ref, part),
                )
            )
        )
    changed = [r.id for r in (*goldens.values(), *staffed) if r.version > 1]
    history = _history(session, changed) if changed else {}
    spans = {gid: _lifespan(row, history) for gid, row in goldens.items()}
    assignments: dict[str, list[Lifespan]] = defaultdict(list)
    for row in staffed:
        span = _lifespan(row, history)
        if span.resource is not None:
            assignments[span.resource].append(span)
    return TimeWorld(
        projects={k: spans[g] for k, g in project_gid.items() if g in spans},
        resources={k: spans[g] for k, g in resource_gid.items() if g in spans},
        assignments=dict(assignments),
    )
