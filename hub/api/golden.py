"""Golden records, their history and the xref, for keys that may read the domain; personal
fields only for keys granted them (docs/architecture.md, "Read scopes")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.deps import Caller, HubDep, ReadSession, known_domain
from hub.api.schemas import ERRORS, GoldenOut, GoldenSummary, VersionOut, XrefOut
from hub.bootstrap import Hub
from hub.domain.access import Principal
from hub.domain.redaction import redact
from hub.store import queries

router = APIRouter(prefix="/api/v1", tags=["golden records"])


def _readable(hub: Hub, caller: Principal, domain: str) -> frozenset[str]:
    """Check the caller may read ``domain``; the fields to hide from it."""
    known_domain(hub, domain)
    caller.may_read(domain)
    return caller.hidden(hub.config.domain(domain).personal_fields)


@router.get("/golden/{domain}/{golden_id}", response_model=GoldenOut, responses=ERRORS)
def get_golden(
    domain: str, golden_id: str, caller: Caller, hub: HubDep, session: ReadSession
) -> dict[str, Any]:
    """The golden record with lineage per field and every source's own key (xref)."""
    hidden = _readable(hub, caller, domain)
    return redact(queries.golden_view(session, domain, golden_id), hidden)


@router.get("/golden/{domain}", response_model=list[GoldenSummary], responses=ERRORS)
def search_golden(
    domain: str,
    caller: Caller,
    hub: HubDep,
    session: ReadSession,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Golden records whose name contains ``q`` (case-insensitive)."""
    hidden = _readable(hub, caller, domain)
    return [redact(r, hidden) for r in queries.search_golden(session, domain, q, limit)]


@router.get(
    "/golden/{domain}/{golden_id}/history", response_model=list[VersionOut], responses=ERRORS
)
def golden_history(
    domain: str, golden_id: str, caller: Caller, hub: HubDep, session: ReadSession
) -> list[dict[str, Any]]:
    hidden = _readable(hub, caller, domain)
    return [redact(v, hidden) for v in queries.golden_history(session, domain, golden_id)]


@router.get("/xref/{source}/{domain}/{key}", response_model=XrefOut, responses=ERRORS)
def get_xref(
    source: str, domain: str, key: str, caller: Caller, hub: HubDep, session: ReadSession
) -> dict[str, Any]:
    """Which golden record a source's record is linked to (404 until it is applied)."""
    _readable(hub, caller, domain)
    return queries.xref_view(session, source, domain, key)


@router.get("/xref", response_model=XrefOut, responses=ERRORS)
def find_xref(
    source: Annotated[str, Query(max_length=100)],
    domain: Annotated[str, Query(max_length=50)],
    key: Annotated[str, Query(max_length=500)],
    _: Caller,
    hub: HubDep,
    session: ReadSession,
) -> dict[str, Any]:
    """The same as ``/xref/{source}/{domain}/{key}``, for any key: one with ``/`` or ``..``
    cannot travel in a URL path (clients and proxies split or resolve it), but does in a query
    parameter."""
    known_domain(hub, domain)
    return queries.xref_view(session, source, domain, key)
