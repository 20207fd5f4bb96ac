"""Golden records, their history and the xref, for any valid key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.deps import Caller, HubDep, ReadSession, known_domain
from hub.api.schemas import ERRORS, GoldenOut, GoldenSummary, VersionOut, XrefOut
from hub.store import queries

router = APIRouter(prefix="/api/v1", tags=["golden records"])


@router.get("/golden/{domain}/{golden_id}", response_model=GoldenOut, responses=ERRORS)
def get_golden(
    domain: str, golden_id: str, _: Caller, hub: HubDep, session: ReadSession
) -> dict[str, Any]:
    """The golden record with lineage per field and every source's own key (xref)."""
    known_domain(hub, domain)
    return queries.golden_view(session, domain, golden_id)


@router.get("/golden/{domain}", response_model=list[GoldenSummary], responses=ERRORS)
def search_golden(
    domain: str,
    _: Caller,
    hub: HubDep,
    session: ReadSession,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Golden records whose name contains ``q`` (case-insensitive)."""
    known_domain(hub, domain)
    return queries.search_golden(session, domain, q, limit)


@router.get(
    "/golden/{domain}/{golden_id}/history", response_model=list[VersionOut], responses=ERRORS
)
def golden_history(
    domain: str, golden_id: str, _: Caller, hub: HubDep, session: ReadSession
) -> list[dict[str, Any]]:
    known_domain(hub, domain)
    return queries.golden_history(session, domain, golden_id)


@router.get("/xref/{source}/{domain}/{key}", response_model=XrefOut, responses=ERRORS)
def get_xref(
    source: str, domain: str, key: str, _: Caller, hub: HubDep, session: ReadSession
) -> dict[str, Any]:
    """Which golden record a source's record is linked to (404 until it is applied)."""
    known_domain(hub, domain)
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
