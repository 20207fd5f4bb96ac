"""The flash after a decision names both records and offers to undo it for a while
(issue 16, must-have 3); the undo itself is one command, ``UndoDecision``."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from hub.domain.commands import UndoDecision
from hub.domain.errors import ConcordError
from hub.store.read import candidates
from hub.web.deps import HubDep, ReadSession, release
from stewardship.clusters import parse_choice
from stewardship.security import ActingSteward, check_csrf
from stewardship.web import dispatch, flash, redirect

router = APIRouter(prefix="/steward", dependencies=[Depends(check_csrf)])


def _name(attrs: dict[str, Any] | None, display: tuple[str, ...] | list[str]) -> str:
    parts = [str(attrs[f]) for f in display if attrs and attrs.get(f)]
    return "“" + (" ".join(parts) if parts else "(no name)") + "”"


def names(session: ReadSession, ids: list[int], display: Any) -> tuple[str, dict[int, str]]:
    """The incoming record's display name and each candidate's golden record's, read before
    the decision changes them."""
    rows = candidates.names(session, ids)
    record = _name(rows[0][1], display) if rows else "the record"
    return record, {int(cid): _name(gattrs, display) for cid, _, gattrs in rows}


def message(record: str, golden: dict[int, str], chosen: int | None, rejected: int) -> str:
    """``“Acme Corp” merged into “ACME International”`` or ``“Acme Corp” is not ...``."""
    if chosen is not None:
        text = f"{record} merged into {golden.get(chosen, 'its golden record')}"
        return text + (
            f"; {rejected} other{'s' if rejected != 1 else ''} not a match" * bool(rejected)
        )
    if len(golden) == 1:
        return f"{record} is not {next(iter(golden.values()))}"
    return f"{record} is none of its {len(golden)} candidates"


def offer(request: Request, ids: list[int], text: str) -> None:
    """The next page's flash, with an undo button while the window lasts."""
    request.session["undo"] = {"ids": ids, "text": text, "at": time.time()}


@router.post("/undo")
async def undo(
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: ActingSteward,
    ids: Annotated[str, Form(max_length=2000)],
) -> Response:
    listed, _ = parse_choice(ids, "none")
    await release(session)
    window = hub.settings.steward_undo_seconds
    try:
        done = await dispatch(hub, UndoDecision(listed, steward.name, window))
        back = done.get("restored") or []
        flash(
            request,
            f"undone: candidate {', '.join(map(str, listed))} as before the decision"
            + (f"; pending again: {', '.join(map(str, back))}" if back else ""),
        )
    except ConcordError as exc:
        flash(request, str(exc), "error")
    return redirect(f"/steward/candidates/{min(listed)}" if listed else "/steward/queue")
