"""FastAPI dependencies both web entry points use: the hub, a read session, a row id.

No request holds one pooled connection while it waits for another (issue 19, item 2): the
read session's connection goes back on threads of its own, which never wait for a
connection themselves. Giving it back on the shared thread pool could wait behind requests
that wait, in turn, for that connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.domain.errors import RecordNotFound
from hub.domain.validation import MAX_INT
from hub.store.uow import session_factory

RowId = Annotated[int, Path(ge=1, le=MAX_INT, description="A row id (64-bit)")]


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


_RELEASE = ThreadPoolExecutor(max_workers=2, thread_name_prefix="concord-release")


async def release(session: Session) -> None:
    """End the session's transaction and return its connection to the pool, now.

    For a route that reads and then hands a command to the bus: its write must not wait for
    a connection while the read one is still held.
    """
    await asyncio.get_running_loop().run_in_executor(_RELEASE, session.close)


async def read_session(hub: HubDep) -> AsyncIterator[Session]:
    session = session_factory(hub.engine, readonly=True)()  # no connection until first used
    try:
        yield session
    finally:
        await release(session)


ReadSession = Annotated[Session, Depends(read_session)]


def known_domain(hub: Hub, domain: str) -> None:
    """A domain in a URL that the configuration does not have is a 404, like a missing record."""
    if domain not in hub.config.domains:
        raise RecordNotFound(f"unknown domain {domain!r}")
