"""What every steward page shares: templates, flash messages, dispatch to the bus, and
mounting the page on the app (one call from ``hub.app``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from hub.bootstrap import Hub
from hub.domain.errors import ConcordError, Conflict, RecordNotFound
from hub.web.deps import ReadSession
from stewardship import wording
from stewardship.accounts import LoggedIn
from stewardship.queue import BadFilter
from stewardship.security import (
    CAN_ACT,
    BadCsrf,
    LoginRequired,
    NotAllowed,
    StewardSessions,
    csrf_token,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["plural"] = lambda word, n: plural(n, word)
templates.env.filters["level"] = wording.level_label
templates.env.filters["rule"] = wording.rule_label
templates.env.filters["when"] = wording.when


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message shown once on the next page (after a redirect)."""
    request.session.setdefault("flash", []).append([kind, message])


def render(
    request: Request,
    template: str,
    steward: LoggedIn | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    messages = request.session.pop("flash", []) if "session" in request.scope else []
    undo_offer = request.session.pop("undo", None) if "session" in request.scope else None
    window = int(request.app.state.hub.settings.steward_undo_seconds) if undo_offer else 0
    if undo_offer and time.time() - float(undo_offer.get("at", 0)) > window:
        undo_offer = None
    return templates.TemplateResponse(
        request,
        template,
        {
            "steward": steward,
            "can_act": steward is not None and steward.role in CAN_ACT,
            "csrf": csrf_token(request),
            "messages": messages,
            "undo_offer": undo_offer,
            **context,
        },
        status_code=status_code,
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def dispatch(hub: Hub, cmd: object) -> Any:
    """Hand a command to the bus off the event loop (a decision is a database transaction)."""
    return await run_in_threadpool(hub.bus.handle, cmd)


def plural(n: int, word: str) -> str:
    """``candidate`` or ``candidates``: "Merge 1 candidates" read as a mistake, and was one."""
    return word if n == 1 else word + "s"


def fresh(session: ReadSession) -> None:
    """End the page's read transaction, so that what it reads next includes what the bus
    just wrote. On SQLite a read transaction is a snapshot from its first query (the
    steward's login), and the next candidate chosen from it was once the decided record's
    other candidate, already superseded, shown with no buttons."""
    session.rollback()


def _error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", None, status, title=title, message=message)


def mount(app: FastAPI) -> None:
    """Sessions, static files, the steward routers, and HTML error pages under /steward."""
    from stewardship.routes import router

    app.add_middleware(StewardSessions)
    app.mount("/steward/static", StaticFiles(directory=HERE / "static"), name="steward-static")
    app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> Response:
        wanted = "/steward/"
        if request.method == "GET":
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect("/steward/login?" + urlencode({"next": wanted}))

    @app.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, _: NotAllowed) -> Response:
        return _error_page(request, 403, "Not allowed", "A viewer can look but not act.")

    @app.exception_handler(BadCsrf)
    async def _csrf(request: Request, _: BadCsrf) -> Response:
        return _error_page(
            request,
            403,
            "Form expired",
            "The form's security token is missing or stale: reload the page and try again.",
        )

    @app.exception_handler(BadFilter)
    async def _filter(request: Request, exc: BadFilter) -> Response:
        return _error_page(request, 400, "Bad filter", str(exc))

    # Machine routes keep their JSON errors; steward pages get the same errors as HTML.
    for error, status in ((RecordNotFound, 404), (Conflict, 409), (ConcordError, 400)):
        machine = app.exception_handlers[error]

        async def _either(
            request: Request, exc: Exception, machine: Any = machine, status: int = status
        ) -> Response:
            if request.url.path.startswith("/steward"):
                return _error_page(request, status, "Cannot do that", str(exc))
            response: Response = await machine(request, exc)
            return response

        app.add_exception_handler(error, _either)

    @app.get("/", include_in_schema=False)
    async def _home() -> Response:
        return redirect("/steward/")
