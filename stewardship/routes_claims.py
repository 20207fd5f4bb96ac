"""Work for several stewards: claims on candidates (one, or the next N of a filtered queue)
and comments on candidates and golden records. Every write goes through the bus."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from hub.domain.commands import AddComment, ClaimCandidates, ReleaseClaims
from hub.store.read import queue as read_queue
from hub.web.deps import HubDep, ReadSession, RowId, release
from stewardship.routes_queue import _filter, _url
from stewardship.security import ActingSteward, check_csrf
from stewardship.web import dispatch, flash, plural, redirect

router = APIRouter(prefix="/steward", dependencies=[Depends(check_csrf)])
CLAIM_LIMIT = 200


@router.post("/claims")
async def claim(
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: ActingSteward,
    count: Annotated[int, Form(ge=1, le=CLAIM_LIMIT)] = 20,
    candidate: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Claim one candidate, or the next ``count`` of the filtered queue that nobody else
    holds; the handler leaves out any another steward took meanwhile, and says so."""
    form = await request.form()
    f = _filter(request, hub, steward, form)
    ids = [candidate] if candidate else read_queue.first_ids(session, f, count)
    await release(session)
    done = await dispatch(
        hub, ClaimCandidates(tuple(ids), steward.name, hub.settings.claim_minutes)
    )
    n, held, gone = len(done["claimed"]), done["held"], done["not_pending"]
    said = [f"claimed {n} {plural(n, 'candidate')} until {done['until']:%H:%M} UTC"]
    if held:
        said.append("held by others: " + ", ".join(f"{i} ({w})" for i, w in sorted(held.items())))
    if gone:
        said.append("no longer pending: " + ", ".join(map(str, gone)))
    flash(request, "; ".join(said), "ok" if n else "error")
    back = str(form.get("back") or "")
    if back.startswith("/steward/candidates/"):
        return redirect(back)
    return redirect(_url("/steward/queue", f, claims="mine" if n > 1 else f.claims))


@router.post("/claims/release")
async def release_claims(
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: ActingSteward,
    candidate: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Release one claim, or all of the steward's own. An admin may release anyone's."""
    form = await request.form()
    f = _filter(request, hub, steward, form)
    await release(session)
    ids = (candidate,) if candidate else None
    n = await dispatch(hub, ReleaseClaims(ids, steward.name, admin=steward.role == "admin"))
    flash(request, f"released {n} {plural(n, 'claim')}")
    back = str(form.get("back") or "")
    if back.startswith("/steward/candidates/"):
        return redirect(back)
    return redirect(_url("/steward/queue", f))


Text = Annotated[str, Form(max_length=4000)]


@router.post("/candidates/{candidate_id}/comments")
async def comment_candidate(
    candidate_id: RowId, request: Request, hub: HubDep, steward: ActingSteward, text: Text = ""
) -> Response:
    await dispatch(hub, AddComment("candidate", str(candidate_id), text, steward.name))
    flash(request, f"comment added to candidate {candidate_id}")
    return redirect(f"/steward/candidates/{candidate_id}#comments")


@router.post("/golden/{domain}/{golden_id}/comments")
async def comment_golden(
    domain: str,
    golden_id: str,
    request: Request,
    hub: HubDep,
    steward: ActingSteward,
    text: Text = "",
) -> Response:
    hub.config.domain(domain)  # an unknown domain is refused by name
    await dispatch(hub, AddComment("golden", golden_id, text, steward.name))
    flash(request, f"comment added to golden record {golden_id}")
    return redirect(f"/steward/golden/{domain}/{golden_id}#comments")
