"""What time-entry validation reads: keys through the xref, golden records, their history.

Set-based, because a timekeeping system sends a thousand entries at a time: the whole batch
costs six queries (two for keys, golden records, assignments, history, the caller's kind),
whatever its size up to a chunk, never one query per entry. Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import case, func, literal, select, text
from sqlalchemy.orm import Session

from hub.domain.errors import Forbidden
from hub.domain.timecheck import RETIRED, Lifespan, TimeEntry, TimeRules, parse_day
from hub.store import tables as t
from hub.store.jsonref import json_text
from hub.store.sql import chunks, is_postgres, one_of, table_of

CHUNK = 1000
TIME_KIND = "time"


@dataclass
class TimeWorld:
    """The golden records one batch of entries is judged against, keyed as the rules want."""

    projects: dict[str, Lifespan]  # by the caller's project key
    resources: dict[str, Lifespan]  # by the caller's resource key
    assignments: dict[tuple[str, str], list[Lifespan]]  # by (golden resource, golden project)


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
    """The status timeline of each record whose status ever changed, oldest first.

    Only the versions that changed the status come back (a window over the versions compares
    each with the one before), so a project edited twenty times and closed once costs one row,
    and a record whose status never changed costs none: its current status is its timeline.
    """
    gv = table_of(t.GoldenVersionRow)
    status = case(
        (gv.c.status != "active", literal(RETIRED)),
        else_=func.coalesce(json_text(gv.c.attributes, "status"), literal("")),
    )
    out: dict[str, list[tuple[date, str]]] = {}
    for part in chunks(sorted(ids), CHUNK):
        versions = (
            select(
                gv.c.golden_id,
                gv.c.version,
                gv.c.created_at,
                status.label("status"),
                func.lag(status)
                .over(partition_by=gv.c.golden_id, order_by=gv.c.version)
                .label("before"),
            )
            .where(one_of(session, gv.c.golden_id, part))
            .subquery()
        )
        v = versions.c
        rows = session.execute(
            select(v.golden_id, v.created_at, v.before, v.status)
            .where(v.before.is_not(None), v.before != v.status)
            .order_by(v.golden_id, v.version)
        )
        for gid, at, before, after in rows:
            # Before its first change, a record had the status it changed from.
            timeline = out.setdefault(gid, [(date.min, str(before))])
            timeline.append((at.date(), str(after)))
    return out


def _status(golden_status: str, status: Any) -> str:
    if golden_status != "active":
        return RETIRED
    return str(status or "")


def _flag(value: Any) -> bool | None:
    """A JSON boolean read as text: ``true`` on PostgreSQL, ``1`` on SQLite."""
    if value in (True, 1, "true"):
        return True
    if value in (False, 0, "false"):
        return False
    return None


def _columns(gr: Any) -> tuple[Any, ...]:
    """Only the members the rules read, extracted by the database: decoding every record's
    whole JSON documents was most of a batch's time."""
    return (
        gr.c.id,
        gr.c.version,
        gr.c.status.label("golden_status"),
        json_text(gr.c.attributes, "start_date").label("start_date"),
        json_text(gr.c.attributes, "end_date").label("end_date"),
        json_text(gr.c.attributes, "status").label("status"),
        json_text(gr.c.attributes, "billable").label("billable"),
        json_text(gr.c.references, "resource").label("resource"),
        json_text(gr.c.references, "project").label("project"),
    )


def _lifespan(row: Any, history: dict[str, list[tuple[date, str]]]) -> Lifespan:
    # A record with one version has one status, whatever day it was recorded on.
    statuses = history.get(row.id) or [(date.min, _status(row.golden_status, row.status))]
    return Lifespan(
        golden_id=row.id,
        start=parse_day(row.start_date),
        end=parse_day(row.end_date),
        statuses=tuple(statuses),
        billable=_flag(row.billable),
        resource=row.resource,
        project=row.project,
    )


def _with_issues(session: Session, ids: Sequence[str]) -> set[str]:
    """The golden projects among ``ids`` with open data-quality issues (the table is empty
    for a firm whose projects all check out, so this costs one indexed probe per chunk)."""
    out: set[str] = set()
    column = t.DataQuality.golden_id
    for part in chunks(ids, CHUNK):
        out.update(session.scalars(select(column).where(one_of(session, column, part))))
    return out


def _staffing(
    session: Session, cols: Sequence[Any], resources: list[str], projects: list[str]
) -> list[Any]:
    """The assignment rows of any of ``resources`` on any of ``projects``."""
    gr = table_of(t.GoldenRecordRow)
    staffed: list[Any] = []
    # The same expressions as the index on assignments by (resource, project) in
    # hub.store.tables, so the planner can use it. On SQLite the domain term is written
    # "+domain": a plain one made SQLite pick the (domain, search_name) index instead and
    # read every assignment of the hub for each batch.
    ref = json_text(gr.c.references, "resource")
    in_domain = (
        gr.c.domain == "assignment"
        if is_postgres(session)
        else text("+golden_record.domain = 'assignment'")
    )
    for part in chunks(resources if projects else [], CHUNK):
        staffed.extend(
            session.execute(
                select(*cols).where(
                    in_domain,
                    one_of(session, ref, part),
                    # Only the pairs the batch names come back, found in the index: a resource
                    # staffed on twenty projects costs the rows of the projects booked.
                    one_of(session, json_text(gr.c.references, "project"), projects),
                )
            )
        )
    return staffed


def load_world(session: Session, source: str, entries: Sequence[TimeEntry]) -> TimeWorld:
    """Resolve the entries' keys in ``source``'s own xref and load what the rules need.

    A golden record at version 1 needs no history: its current status is its only one. Only
    records changed since they were created cost a history read, and only for this batch.
    """
    project_gid = _xref(session, source, "project", (e.project_key for e in entries))
    resource_gid = _xref(session, source, "resource", (e.resource_key for e in entries))
    gr = table_of(t.GoldenRecordRow)
    cols = _columns(gr)
    goldens: dict[str, Any] = {}
    for part in chunks(sorted({*project_gid.values(), *resource_gid.values()}), CHUNK):
        for row in session.execute(select(*cols).where(one_of(session, gr.c.id, part))):
            goldens[row.id] = row
    projects = sorted(set(project_gid.values()))
    staffed = _staffing(session, cols, sorted(set(resource_gid.values())), projects)
    # The query returns every (resource, project) combination of the batch; keep the pairs
    # that some entry books before building anything from them.
    booked = {
        (resource_gid[e.resource_key], project_gid[e.project_key])
        for e in entries
        if e.resource_key in resource_gid and e.project_key in project_gid
    }
    staffed = [r for r in staffed if (r.resource, r.project) in booked]
    changed = [r.id for r in (*goldens.values(), *staffed) if r.version > 1]
    history = _history(session, changed) if changed else {}
    spans = {gid: _lifespan(row, history) for gid, row in goldens.items()}
    for gid in _with_issues(session, projects):
        spans[gid] = replace(spans[gid], invalid_dimension=True)
    assignments: dict[tuple[str, str], list[Lifespan]] = defaultdict(list)
    for row in sorted(staffed, key=lambda r: r.id):
        span = _lifespan(row, history)
        if span.resource is not None and span.project is not None:
            assignments[(span.resource, span.project)].append(span)
    return TimeWorld(
        projects={k: spans[g] for k, g in project_gid.items() if g in spans},
        resources={k: spans[g] for k, g in resource_gid.items() if g in spans},
        assignments=dict(assignments),
    )


def reference_labor_codes(session: Session, rules: TimeRules) -> frozenset[str] | None:
    """The labour codes time may be booked to, from the golden ``labor_code`` records: the
    active ones; None while the hub holds no labour codes at all (then any code passes, as
    before reference data was loaded). ``time_entries.labor_codes`` overrides these."""
    rows = session.scalars(
        select(t.GoldenRecordRow.attributes).where(
            t.GoldenRecordRow.domain == "labor_code", t.GoldenRecordRow.status == "active"
        )
    ).all()
    if not rows:
        return None
    return frozenset(
        str(a["code"])
        for a in rows
        if a.get("code") and not rules.is_inactive("labor_code", a.get("status"))
    )
