"""The queue, the compare page and decisions (one, or in bulk), and the dashboard."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from hub.api.deps import HubDep, ReadSession, release
from hub.api.schemas import RowId
from hub.domain.commands import DecideMatch
from hub.domain.errors import ConcordError
from stewardship import queue, records
from stewardship.queue import BANDS, BULK_LIMIT, QueueFilter
from stewardship.security import ActingSteward, CurrentSteward, check_csrf
from stewardship.web import dispatch, flash, redirect, render

router = APIRouter(prefix="/steward", dependencies=[Depends(check_csrf)])
Reason = Annotated[str, Form(max_length=2000)]


def _filter(request: Request, hub: HubDep, params: object = None) -> QueueFilter:
    return QueueFilter.parse(params or request.query_params, set(hub.config.domains))


def _url(path: str, f: QueueFilter, **extra: object) -> str:
    query = urlencode(f.query(**extra))
    return f"{path}?{query}" if query else path


def _cursor(text: str) -> tuple[float, int] | None:
    """``after=0.93:1234``: the last row of the previous page."""
    try:
        p, cid = text.split(":")
        return float(p), int(cid)
    except ValueError:
        return None


@router.get("/")
@router.get("/queue")
def queue_page(
    request: Request, hub: HubDep, session: ReadSession, steward: CurrentSteward, after: str = ""
) -> Response:
    f = _filter(request, hub)
    rows = queue.page(session, f, _cursor(after) if after else None)
    last = rows[-1] if len(rows) == queue.PAGE_SIZE else None
    return render(
        request,
        "queue.html",
        steward,
        f=f,
        rows=rows,
        counts=queue.counts_by_domain(session, f),
        domains=list(hub.config.domains),
        display={d: spec.display for d, spec in hub.config.domains.items()},
        bands=BANDS,
        next_url=_url("/steward/queue", f, after=f"{last['probability']!r}:{last['id']}")
        if last
        else None,
        first_url=_url("/steward/queue", f) if after else None,
        compare_url=lambda cid: _url(f"/steward/candidates/{cid}", f),
        url=_url,
    )


@router.get("/candidates/{candidate_id}")
def compare_page(
    candidate_id: RowId,
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: CurrentSteward,
) -> Response:
    f = _filter(request, hub)
    view = records.compare(session, candidate_id)
    prev, nxt = queue.neighbours(session, f, candidate_id)
    return render(
        request,
        "compare.html",
        steward,
        f=f,
        v=view,
        c=view["candidate"],
        prev_url=_url(f"/steward/candidates/{prev}", f) if prev else None,
        next_url=_url(f"/steward/candidates/{nxt}", f) if nxt else None,
        queue_url=_url("/steward/queue", f),
        keep=f.query(),
        display=hub.config.domain(view["candidate"].domain).display,
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
    f = _filter(request, hub, await request.form())
    if decision != "skip":
        await release(session)  # no read connection held while the decision waits for one
        try:
            await dispatch(hub, DecideMatch(candidate_id, decision, reason, steward.name))
            flash(
                request,
                f"candidate {candidate_id}: {'merged' if decision == 'merge' else 'not a match'}",
            )
        except ConcordError as exc:
            flash(request, str(exc), "error")
    _, nxt = queue.neighbours(session, f, candidate_id)
    if nxt is None:
        nxt = queue.first(session, f)  # wrap round to what was skipped
    if nxt is None or nxt == candidate_id:
        return redirect(_url("/steward/queue", f))
    return redirect(_url(f"/steward/candidates/{nxt}", f))


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
    """Say how many candidates a bulk decision covers before it is made."""
    f = _filter(request, hub)
    if decision not in ("merge", "reject"):
        raise ConcordError(f"decision: {decision!r} is not merge or reject")
    t = _threshold(threshold)
    ids = queue.bulk_selection(session, f, decision, t)
    return render(
        request,
        "bulk.html",
        steward,
        f=f,
        decision=decision,
        threshold=t,
        count=len(ids),
        too_many=len(ids) > BULK_LIMIT,
        limit=BULK_LIMIT,
        keep=f.query(),
        queue_url=_url("/steward/queue", f),
    )


@router.post("/bulk")
async def bulk_decide(
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: ActingSteward,
    decision: Annotated[str, Form(pattern="^(merge|reject)$")],
    threshold: Annotated[str, Form(max_length=20)],
    expected: Annotated[int, Form(ge=0)],
    reason: Reason = "",
) -> Response:
    """Each candidate is its own decision (own transaction, own audit entry), so one that
    someone else decided meanwhile fails alone and the rest still go through."""
    f = _filter(request, hub, await request.form())
    t = _threshold(threshold)
    ids = queue.bulk_selection(session, f, decision, t)
    if len(ids) != expected or len(ids) > BULK_LIMIT:
        flash(request, f"the selection changed ({expected} → {len(ids)}): confirm again", "error")
        return redirect(_url("/steward/bulk", f, decision=decision, threshold=t))
    done, failed = 0, 0
    note = reason or f"bulk {decision} at probability {'≥' if decision == 'merge' else '<'} {t}"
    await release(session)  # no read connection held while each decision waits for one
    for cid in ids:
        try:
            await dispatch(hub, DecideMatch(cid, decision, note, steward.name))
            done += 1
        except ConcordError:
            failed += 1
    verb = "merged" if decision == "merge" else "rejected"
    flash(request, f"{verb} {done} candidates" + (f"; {failed} could not be" if failed else ""))
    return redirect(_url("/steward/queue", f))


@router.get("/dashboard")
def dashboard(request: Request, session: ReadSession, steward: CurrentSteward) -> Response:
    data = records.dashboard(session)
    peak = max((n for _, n in data["hourly"]), default=0) or 1
    return render(request, "dashboard.html", steward, d=data, peak=peak)
