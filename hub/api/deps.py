"""Dependencies of the API's routers: the caller, and (from ``hub.web.deps``, which the steward
site shares) the hub and a read session.

The caller's key is checked on a session of its own, given back before the route runs, so a
write route's only connection is its unit of work's (issue 19, item 2).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.domain.access import Principal
from hub.domain.errors import Forbidden, Unauthorized
from hub.store.access import authenticate
from hub.store.uow import session_factory
from hub.web.deps import HubDep, ReadSession, get_hub, known_domain, read_session, release

__all__ = [
    "Caller",
    "HubDep",
    "ReadSession",
    "current_principal",
    "get_hub",
    "known_domain",
    "read_session",
    "release",
    "require_steward",
]

bearer = HTTPBearer(auto_error=False, description="A Concord API key")


def current_principal(
    hub: HubDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    with session_factory(hub.engine, readonly=True)() as session:
        return authenticate(session, credentials.credentials)


Caller = Annotated[Principal, Depends(current_principal)]


def require_steward(caller: Principal, what: str) -> None:
    """Steward decisions need a steward or admin key; source and subscriber keys cannot."""
    if caller.role not in ("steward", "admin"):
        raise Forbidden(f"a {caller.role} key cannot {what}")
