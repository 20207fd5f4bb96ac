"""Login and logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from hub.api.deps import HubDep
from hub.store import stewards
from hub.store.uow import admin_session
from stewardship import accounts
from stewardship.security import CurrentSteward, check_csrf
from stewardship.web import redirect, render

router = APIRouter(prefix="/steward", dependencies=[Depends(check_csrf)])


def _safe_next(target: str) -> str:
    """Only a path of this page: an open redirect would make the login form a phishing aid."""
    ok = target.startswith("/steward") and not target.startswith("//") and "\\" not in target
    return target if ok and "/login" not in target else "/steward/"


@router.get("/login")
def login_form(request: Request, next: str = "/steward/") -> Response:
    return render(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login")
def login(
    request: Request,
    hub: HubDep,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=500)] = "/steward/",
) -> Response:
    """Sync on purpose: argon2 takes tens of milliseconds and runs in the thread pool."""
    refused = None
    with admin_session(hub.engine) as session:  # a failure's count is committed too
        try:
            who = accounts.login(session, name, password)
        except accounts.LoginRefused as exc:
            refused = str(exc)
    if refused is not None:
        return render(
            request, "login.html", None, 401, next=_safe_next(next), error=refused, name=name
        )
    request.session.clear()  # nothing of the anonymous session (its CSRF token) carries over
    request.session["steward_id"] = who.id
    request.session["generation"] = who.generation
    return redirect(_safe_next(next))


@router.post("/logout")
def logout(request: Request, hub: HubDep, steward: CurrentSteward) -> Response:
    """Ends the session on the server too: clearing the browser's cookie alone would leave
    any copy of it working until it expires."""
    with admin_session(hub.engine) as session:
        stewards.end_sessions(session, steward.id)
    request.session.clear()
    return redirect("/steward/login")
