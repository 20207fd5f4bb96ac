"""The queue, the compare page and decisions (one, or in bulk), and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from hub.domain.commands import DecideCluster, DecideMatch, RefreshEvidence
from hub.domain.errors import ClaimHeld, ConcordError
from hub.store import queries
from hub.store.read import candidates as read_candidates
from hub.store.read import overview
from hub.store.read import queue as read_queue
from hub.web.deps import HubDep, ReadSession, RowId, release
from stewardship import bulk, clusters, known, lineage, productivity, queue, records, undo
from stewardship.accounts import LoggedIn
from stewardship.queue import BANDS, BULK_LIMIT, QueueFilter
from stewardship.security import ActingSteward, CurrentSteward, check_csrf
from stewardship.web import dispatch, flash, fresh, plural, redirect, render

router = APIRouter(prefix="/steward", dependencies=[Depends(check_csrf)])
Reason = Annotated[str, Form(max_length=2000)]


def _filter(request: Request, hub: HubDep, steward: LoggedIn, params: object = None) -> QueueFilter:
    return QueueFilter.parse(
        params or request.query_params, set(hub.config.domains), me=steward.name
    )


def _url(path: str, f: QueueFilter, **extra: object) -> str:
    query = urlencode(f.query(**extra))
    return f"{path}?{query}" if query else path


@router.get("/")
@router.get("/queue")
def queue_page(
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: CurrentSteward,
    after: str = "",
    before: str = "",
) -> Response:
    f = _filter(request, hub, steward)
    start = queue.parse_cursor(f.sort, after) if after else None
    end = queue.parse_cursor(f.sort, before) if before else None
    rows = queue.page(session, f, start, queue.PAGE_SIZE, before=end)
    stale = [r["id"] for r in rows if r["stale"]]
    if stale:  # this page's evidence from one snapshot: score it again, then read it again
        hub.bus.handle(RefreshEvidence(tuple(stale)))
        fresh(session)
        rows = queue.page(session, f, start, queue.PAGE_SIZE, before=end)
    several = read_queue.pending_per_record(session, [r["source_record_id"] for r in rows])
    later = bool(rows) and read_queue.more(session, f, rows[-1], later=True)
    earlier = bool(rows) and read_queue.more(session, f, rows[0], later=False)
    return render(
        request,
        "queue.html",
        steward,
        f=f,
        rows=rows,
        several=several,
        counts=read_queue.counts_by_domain(session, f),
        domains=list(hub.config.domains),
        sources=known.sources(session),
        runs=known.runs(session),
        sorts=queue.SORTS,
        claim_views=queue.CLAIMS,
        display={d: spec.display for d, spec in hub.config.domains.items()},
        bands=BANDS,
        next_url=_url("/steward/queue", f, after=queue.cursor(f.sort, rows[-1])) if later else None,
        prev_url=_url("/steward/queue", f, before=queue.cursor(f.sort, rows[0]))
        if earlier
        else None,
        first_url=_url("/steward/queue", f) if earlier else None,
        compare_url=lambda cid: _url(f"/steward/candidates/{cid}", f),
        url=_url,
        keep=f.query(),
    )


@router.get("/candidates/{candidate_id}")
def compare_page(
    candidate_id: RowId,
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: CurrentSteward,
) -> Response:
    f = _filter(request, hub, steward)
    if read_queue.stale(session, [candidate_id]):
        hub.bus.handle(RefreshEvidence((candidate_id,)))
        fresh(session)
    view = records.compare(session, candidate_id)
    prev, nxt = read_queue.neighbours(session, f, candidate_id)
    spec = hub.config.domain(view["candidate"].domain)
    pending = view["candidate"].status == "pending"
    record_id = view["candidate"].source_record_id
    cluster = read_candidates.side_by_side(session, record_id) if pending else []
    undo_ids = read_candidates.undoable(session, candidate_id, hub.settings.steward_undo_seconds)
    claim = read_candidates.claims_of(session, [candidate_id], datetime.now(UTC))
    return render(
        request,
        "compare.html",
        steward,
        f=f,
        v=view,
        c=view["candidate"],
        others=[o for o in cluster if o["id"] != candidate_id],
        cluster=cluster if len(cluster) > 1 else [],
        cluster_rows=clusters.field_rows(
            view["record"].attributes, cluster, [f.name for f in spec.fields]
        ),
        cluster_ids=",".join(str(o["id"]) for o in cluster),
        undo_ids=",".join(map(str, undo_ids)),
        preview=lineage.as_rows(lineage.preview(session, spec, view["golden"], view["record"]))
        if pending
        else [],
        compare_url=lambda cid: _url(f"/steward/candidates/{cid}", f),
        prev_url=_url(f"/steward/candidates/{prev}", f) if prev else None,
        next_url=_url(f"/steward/candidates/{nxt}", f) if nxt else None,
        queue_url=_url("/steward/queue", f),
        keep=f.query(),
        display=spec.display,
        claim=claim.get(candidate_id),
        comments=read_candidates.comments(session, "candidate", str(candidate_id)),
        comment_url=f"/steward/candidates/{candidate_id}/comments",
    )


@router.post("/candidates/{candidate_id}/decide")
async def decide(
    candidate_id: RowId,
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: ActingSteward,
    decision: Annotated[str, Form(pattern="^(merge|reject|skip)$")],
    reason: Reason = "",
) -> Response:
    """Merge, not a match, or skip; then the next candidate of the same filtered queue."""
    f = _filter(request, hub, steward, await request.form())
    if decision != "skip":
        display = _display_of(hub, session, candidate_id)
        record, golden = undo.names(session, [candidate_id], display)
        await release(session)  # no read connection held while the decision waits for one
        try:
            await dispatch(hub, DecideMatch(candidate_id, decision, reason, steward.name))
            chosen = candidate_id if decision == "merge" else None
            undo.offer(request, [candidate_id], undo.message(record, golden, chosen, 0))
        except ClaimHeld:
            raise  # 409: another steward holds it; the page says who
        except ConcordError as exc:
            flash(request, str(exc), "error")
    fresh(session)
    _, nxt = read_queue.neighbours(session, f, candidate_id)
    if nxt is None:
        nxt = read_queue.first(session, f)  # wrap round to what was skipped
    if nxt is None or nxt == candidate_id:
        return redirect(_url("/steward/queue", f))
    return redirect(_url(f"/steward/candidates/{nxt}", f))


@router.post("/candidates/{candidate_id}/cluster")
async def decide_cluster(
    candidate_id: RowId,
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: ActingSteward,
    ids: Annotated[str, Form(max_length=2000)],
    chosen: Annotated[str, Form(max_length=30)],
    reason: Reason = "",
) -> Response:
    """One of a record's candidates (the others rejected), or none: one decision."""
    f = _filter(request, hub, steward, await request.form())
    listed, pick = clusters.parse_choice(ids, chosen)
    record, golden = undo.names(session, list(listed), _display_of(hub, session, candidate_id))
    await release(session)
    try:
        await dispatch(hub, DecideCluster(listed, pick, reason, steward.name))
        n = len(listed) - (pick is not None)
        text = undo.message(record, golden, pick, n)
        undo.offer(
            request,
            sorted(listed),
            text if pick is not None else f"{text}: {n} {plural(n, 'candidate')} not a match",
        )
    except ConcordError as exc:
        flash(request, str(exc), "error")
    fresh(session)
    nxt = read_queue.first(session, f)
    if nxt is None or nxt in listed:
        return redirect(_url("/steward/queue", f))
    return redirect(_url(f"/steward/candidates/{nxt}", f))


def _display_of(hub: HubDep, session: ReadSession, candidate_id: int) -> tuple[str, ...]:
    """The display fields of the candidate's domain (a name for the flash)."""
    domain = read_candidates.domain_of(session, candidate_id)
    return tuple(hub.config.domain(domain).display) if domain else ()


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ConcordError(f"threshold: {text!r} is not a probability between 0 and 1")
    return value


@router.get("/bulk")
def bulk_confirm(
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: ActingSteward,
    decision: str = "merge",
    threshold: str = "0.9",
) -> Response:
    """List every candidate a bulk decision covers, and those it leaves out, before it is
    made."""
    f = _filter(request, hub, steward)
    if decision not in ("merge", "reject"):
        raise ConcordError(f"decision: {decision!r} is not merge or reject")
    t = _threshold(threshold)
    chosen = bulk.select_for(session, f, decision, t)
    return render(
        request,
        "bulk.html",
        steward,
        f=f,
        decision=decision,
        threshold=t,
        s=chosen,
        count=len(chosen.ids),
        ids=",".join(map(str, chosen.ids)),
        limit=BULK_LIMIT,
        keep=f.query(),
        queue_url=_url("/steward/queue", f),
        compare_url=lambda cid: _url(f"/steward/candidates/{cid}", f),
        display={d: spec.display for d, spec in hub.config.domains.items()},
    )


@router.post("/bulk")
async def bulk_decide(
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: ActingSteward,
    decision: Annotated[str, Form(pattern="^(merge|reject)$")],
    threshold: Annotated[str, Form(max_length=20)],
    ids: Annotated[str, Form(max_length=BULK_LIMIT * 21)],
    reason: Reason = "",
) -> Response:
    """Decide exactly the candidates the confirmation page listed. Each is its own decision
    (own transaction, own audit entry), so one that someone else decided meanwhile fails
    alone and the rest still go through."""
    f = _filter(request, hub, steward, await request.form())
    t = _threshold(threshold)
    listed = bulk.parse_ids(ids)
    chosen = bulk.select_for(session, f, decision, t)
    if chosen.too_many or sorted(chosen.ids) != sorted(listed) or not listed:
        flash(
            request,
            f"the selection changed ({len(listed)} listed, {len(chosen.ids)} now): confirm again",
            "error",
        )
        return redirect(_url("/steward/bulk", f, decision=decision, threshold=t))
    done, failed = 0, 0
    note = reason or f"bulk {decision} at probability {'≥' if decision == 'merge' else '<'} {t}"
    await release(session)  # no read connection held while each decision waits for one
    for cid in chosen.ids:
        try:
            await dispatch(hub, DecideMatch(cid, decision, note, steward.name))
            done += 1
        except ConcordError:
            failed += 1
    verb = "merged" if decision == "merge" else "rejected"
    flash(
        request,
        f"{verb} {done} {plural(done, 'candidate')}"
        + (f"; {failed} could not be" if failed else "")
        + (
            f"; {len(chosen.several)} {plural(len(chosen.several), 'candidate')} of records "
            "with several candidates left for a steward"
            if chosen.several
            else ""
        ),
    )
    return redirect(_url("/steward/queue", f))


@router.get("/dashboard")
def dashboard(
    request: Request, hub: HubDep, session: ReadSession, steward: CurrentSteward
) -> Response:
    now = datetime.now(UTC)
    data = overview.dashboard(session, now)
    data["per_steward"] = productivity.decisions(session, now)
    data["backlog"] = productivity.backlog(session, now)
    peak = max((n for _, n in data["hourly"]), default=0) or 1
    kpi = queries.all_kpis(session, 28, known_stage=hub.config.project_setup.known_stage)
    return render(
        request, "dashboard.html", steward, d=data, peak=peak, k=kpi, charts=kpi_charts(kpi)
    )


def kpi_charts(kpi: dict[str, Any]) -> dict[str, Any]:
    """Bar heights (0-100) for the dashboard's KPI charts: the setup cycle per week (hours
    from contract to PSA's project) and the reconciliation work per day."""
    weeks = [(w["week"], (w["linked_p50_seconds"] or 0) / 3600) for w in kpi["setup_cycle"]]
    days = [
        (r["day"], r["steward_decisions"] + r["setup_exceptions"]) for r in kpi["reconciliation"]
    ][-28:]
    top_week = max((h for _, h in weeks), default=0) or 1
    top_day = max((n for _, n in days), default=0) or 1
    return {
        "weeks": [(w, h, round(h / top_week * 100, 1)) for w, h in weeks][-12:],
        "days": [(d, n, round(n / top_day * 100, 1)) for d, n in days],
    }
