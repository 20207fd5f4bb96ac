"""Dependencies shared by the routers: the hub, a read session, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.domain.access import Principal
from hub.domain.errors import Forbidden, RecordNotFound, Unauthorized
from hub.store.access import authenticate
from hub.store.uow import session_factory

bearer = HTTPBearer(auto_error=False, description="A Concord API key")


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


def read_session(hub: HubDep) -> Iterator[Session]:
    session = session_factory(hub.engine, readonly=True)()
    try:
        yield session
    finally:
        session.close()


ReadSession = Annotated[Session, Depends(read_session)]


def current_principal(
    session: ReadSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    return authenticate(session, credentials.credentials)


Caller = Annotated[Principal, Depends(current_principal)]


def known_domain(hub: Hub, domain: str) -> None:
    """A domain in a URL that the configuration does not have is a 404, like a missing record."""
    if domain not in hub.config.domains:
        raise RecordNotFound(f"unknown domain {domain!r}")


def require_steward(caller: Principal, what: str) -> None:
    """Steward decisions need a steward or admin key; source and subscriber keys cannot."""
    if caller.role not in ("steward", "admin"):
        raise Forbidden(f"a {caller.role} key cannot {what}")
