"""Sessions, the logged-in steward, roles and CSRF for the steward page.

The session is Starlette's signed cookie (HttpOnly, SameSite=Lax); it holds only the
steward's id and a CSRF token. Lax, not Strict: a link to a candidate from a mail or a chat
would arrive without a Strict cookie, and the login page it lands on would replace the
steward's session. Cross-site POSTs carry no Lax cookie anyway, and every form checks a token.

The steward's row is read again on every request, so disabling an account or changing a role
takes effect at once, not when the cookie expires; and the cookie's session generation must be
the row's, which logout advances, so a copied cookie dies with the logout (issue 19, item 12).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.config import Settings
from hub.domain.errors import ConcordError
from hub.store import stewards
from hub.store.db import sqlite_file
from hub.store.uow import session_factory
from hub.web.deps import HubDep
from stewardship.accounts import LoggedIn

CAN_ACT = ("steward", "admin")
SECRET_SUFFIX = ".session-secret"


class LoginRequired(Exception):
    """No (valid) session: the page sends the browser to the login form."""


class NotAllowed(Exception):
    """Logged in, but the role may not do this (a viewer pressing Merge)."""


class BadCsrf(Exception):
    """A form posted without the session's CSRF token."""


def session_secret(settings: Settings) -> str:
    """The configured secret; for an SQLite hub, one generated once and kept beside the file.

    Raises:
        ConcordError: PostgreSQL without ``CONCORD_SESSION_SECRET``: several API processes
            must share one secret, and no process can invent it for the others.
    """
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    database = sqlite_file(settings.database_url)
    if database is None:
        raise ConcordError(
            "CONCORD_SESSION_SECRET is not set: the steward page needs it (32+ characters, "
            "the same in every API process)"
        )
    path = Path(database + SECRET_SUFFIX)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = path.open("x", encoding="ascii")  # "x": two processes starting cannot both write
        with fd:
            fd.write(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text(encoding="ascii").strip()


# A second line behind autoescaping: no script but our own file runs, and no other site can
# frame the page to trick a steward's click or key press. Bars and bands are style attributes.
HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *HEADERS]
        await send(message)

    return wrapped


class StewardSessions:
    """Starlette's SessionMiddleware (and the security headers) for the steward page, the
    middleware built on the first request from the hub's settings.

    The app may be created before its hub (``concord serve`` bootstraps in the lifespan), so
    the secret cannot be read when the middleware is added.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inner: SessionMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/steward"):
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        if self.inner is None:
            settings: Settings = scope["app"].state.hub.settings
            try:
                secret = session_secret(settings)
            except ConcordError as exc:  # say so on the page, instead of a bare 500
                await PlainTextResponse(str(exc), status_code=503)(scope, receive, send)
                return
            self.inner = SessionMiddleware(
                self.app,
                secret_key=secret,
                session_cookie="concord_steward",
                max_age=settings.session_max_age_seconds,
                path="/steward",
                same_site="lax",
                https_only=settings.session_https_only,
            )
        await self.inner(scope, receive, send)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Every POST carries the session's token in a ``csrf`` form field."""
    if request.method != "POST":
        return
    form = await request.form()
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and secrets.compare_digest(sent, expected)
    ):
        raise BadCsrf()


def current_steward(request: Request, hub: HubDep) -> LoggedIn:
    """On a session of its own, given back at once: a page that then writes must not hold
    this connection while it waits for its unit of work's (issue 19, item 2)."""
    steward_id = request.session.get("steward_id")
    with session_factory(hub.engine, readonly=True)() as session:
        row = stewards.get(session, steward_id) if isinstance(steward_id, int) else None
        generation = request.session.get("generation")
        if row is None or row.disabled or generation != row.session_generation:
            request.session.pop("steward_id", None)
            raise LoginRequired()
        return LoggedIn(row.id, row.name, row.role, row.session_generation)


CurrentSteward = Annotated[LoggedIn, Depends(current_steward)]


def acting_steward(steward: CurrentSteward) -> LoggedIn:
    """The steward, if their role may change anything; a viewer only looks."""
    if steward.role not in CAN_ACT:
        raise NotAllowed()
    return steward


ActingSteward = Annotated[LoggedIn, Depends(acting_steward)]

CAN_SET_UP = ("finance", "admin")


def finance_steward(steward: CurrentSteward) -> LoggedIn:
    """Finance operations (or an admin): they decide setup exceptions; a steward who decides
    matches does not, and a finance user decides no match."""
    if steward.role not in CAN_SET_UP:
        raise NotAllowed()
    return steward


FinanceSteward = Annotated[LoggedIn, Depends(finance_steward)]
