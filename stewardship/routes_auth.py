"""Login and logout."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from hub.bootstrap import Hub
from hub.domain.commands import EndStewardSessions
from hub.web.deps import HubDep
from stewardship import accounts
from stewardship.security import CurrentSteward, check_csrf
from stewardship.throttle import LoginThrottle
from stewardship.web import redirect, render

router = APIRouter(prefix="/steward", dependencies=[Depends(check_csrf)])


def _safe_next(target: str) -> str:
    """Only a path of this page: an open redirect would make the login form a phishing aid."""
    ok = target.startswith("/steward") and not target.startswith("//") and "\\" not in target
    return target if ok and "/login" not in target else "/steward/"


@router.get("/login")
def login_form(request: Request, next: str = "/steward/") -> Response:
    return render(request, "login.html", None, next=_safe_next(next), error=None)


def _throttle(request: Request) -> LoginThrottle:
    state = request.app.state
    if getattr(state, "login_throttle", None) is None:
        state.login_throttle = LoginThrottle()
    throttle: LoginThrottle = state.login_throttle
    return throttle


def _check(hub: Hub, name: str, password: str) -> accounts.LoggedIn | str:
    try:
        return accounts.login(hub.engine, hub.bus, name, password)
    except accounts.LoginRefused as exc:
        return str(exc)


@router.post("/login")
async def login(
    request: Request,
    hub: HubDep,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=500)] = "/steward/",
) -> Response:
    """The argon2 check waits for a hashing slot on the event loop, not on a worker thread,
    so a crowd of logins cannot take the threads every other request needs."""
    throttle = _throttle(request)
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address)
    if wait:
        page = render(
            request,
            "login.html",
            None,
            429,
            next=_safe_next(next),
            error=f"too many failed logins from your address: try again in {wait} s",
            name=name,
        )
        page.headers["Retry-After"] = str(wait)
        return page
    who = await anyio.to_thread.run_sync(
        partial(_check, hub, name, password), limiter=throttle.hashing
    )
    if isinstance(who, str):
        throttle.failed(address)
        return render(request, "login.html", None, 401, next=_safe_next(next), error=who, name=name)
    request.session.clear()  # nothing of the anonymous session (its CSRF token) carries over
    request.session["steward_id"] = who.id
    request.session["generation"] = who.generation
    return redirect(_safe_next(next))


@router.post("/logout")
def logout(request: Request, hub: HubDep, steward: CurrentSteward) -> Response:
    """Ends the session on the server too: clearing the browser's cookie alone would leave
    any copy of it working until it expires."""
    hub.bus.handle(EndStewardSessions(steward.id))
    request.session.clear()
    return redirect("/steward/login")
