"""The golden-record page: attributes with provenance, history with diffs, linked records,
and the steward's actions on it (split, merge, override, remove override), all via the bus."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from hub.domain.commands import MergeGolden, OverrideField, RemoveOverride, SplitRecord
from hub.domain.errors import ConcordError
from hub.domain.validation import map_from_text
from hub.store.read import golden as read_golden
from hub.web.deps import HubDep, ReadSession, known_domain
from stewardship import lineage, records, trail
from stewardship.security import ActingSteward, CurrentSteward, check_csrf
from stewardship.web import dispatch, flash, redirect, render

router = APIRouter(prefix="/steward/golden", dependencies=[Depends(check_csrf)])
Reason = Annotated[str, Form(min_length=1, max_length=2000)]
Name = Annotated[str, Form(min_length=1, max_length=500)]


def typed_value(ftype: str, field: str, text: str) -> Any:
    """A steward's typed text as the field's type; a clear error naming the field if not.

    Examples:
        >>> typed_value("list", "skills", "java, sql")
        ['java', 'sql']
        >>> typed_value("number", "cost_rate", "85")
        85
    """
    text = text.strip()
    try:
        if ftype == "number":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
        if ftype == "boolean":
            if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "yes", "1")
        if ftype == "date":
            return date.fromisoformat(text).isoformat()
        if ftype == "list":
            return [p.strip() for p in text.split(",") if p.strip()]
        if ftype == "map":
            return map_from_text(text)
    except ValueError:
        raise ConcordError(f"field {field}: {text!r} is not a valid {ftype}") from None
    return text


@router.get("")
def search(
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: CurrentSteward,
    domain: str = "client",
    q: str = "",
) -> Response:
    known_domain(hub, domain)
    found = read_golden.search_golden(session, domain, q[:200], 50)
    return render(
        request,
        "search.html",
        steward,
        domain=domain,
        domains=list(hub.config.domains),
        q=q,
        found=found,
        display=hub.config.domain(domain).display,
    )


@router.get("/{domain}/{golden_id}")
def golden_page(
    domain: str,
    golden_id: str,
    request: Request,
    hub: HubDep,
    session: ReadSession,
    steward: CurrentSteward,
    q: str = "",
) -> Response:
    known_domain(hub, domain)
    view = read_golden.golden_view(session, domain, golden_id)
    spec = hub.config.domain(domain)
    found = (
        [
            g
            for g in read_golden.search_golden(session, domain, q, 20, active_only=True)
            if g["id"] != golden_id
        ]
        if q
        else []
    )
    return render(
        request,
        "golden.html",
        steward,
        g=view,
        fields=[f.name for f in spec.fields],
        linked=read_golden.linked_records(session, golden_id),
        competing=lineage.competing_values(session, spec, golden_id),
        trail=trail.trail(session, domain, golden_id),
        history=records.history_diffs(read_golden.golden_history(session, domain, golden_id)),
        q=q,
        found=found,
        display=spec.display,
        comments=read_golden.comments(session, "golden", golden_id),
        comment_url=f"/steward/golden/{domain}/{golden_id}/comments",
    )


def _back(domain: str, golden_id: str) -> str:
    return f"/steward/golden/{domain}/{golden_id}"


async def _act(request: Request, hub: HubDep, cmd: object, done: str) -> None:
    try:
        await dispatch(hub, cmd)
        flash(request, done)
    except ConcordError as exc:
        flash(request, str(exc), "error")


@router.post("/{domain}/{golden_id}/split")
async def split(
    domain: str,
    golden_id: str,
    request: Request,
    hub: HubDep,
    steward: ActingSteward,
    source: Name,
    source_key: Name,
    reason: Reason,
) -> Response:
    known_domain(hub, domain)
    cmd = SplitRecord(source, domain, source_key, reason, steward.name)
    await _act(request, hub, cmd, f"split {source} {source_key} into a golden record of its own")
    return redirect(_back(domain, golden_id))


@router.post("/{domain}/{golden_id}/merge")
async def merge(
    domain: str,
    golden_id: str,
    request: Request,
    hub: HubDep,
    steward: ActingSteward,
    other: Name,
    reason: Reason,
) -> Response:
    """The record found by search merges into this one; this one survives."""
    known_domain(hub, domain)
    cmd = MergeGolden(domain, other, golden_id, reason, steward.name)
    await _act(request, hub, cmd, f"merged {other} into this record")
    return redirect(_back(domain, golden_id))


@router.post("/{domain}/{golden_id}/override")
async def override(
    domain: str,
    golden_id: str,
    request: Request,
    hub: HubDep,
    steward: ActingSteward,
    field: Name,
    value: Annotated[str, Form(max_length=5000)],
    reason: Reason,
) -> Response:
    known_domain(hub, domain)
    spec = {f.name: f for f in hub.config.domain(domain).fields}
    if field not in spec:
        raise ConcordError(f"field {field!r} is not a field of {domain}")
    typed = typed_value(spec[field].type, field, value)
    cmd = OverrideField(domain, golden_id, field, typed, reason, steward.name)
    await _act(request, hub, cmd, f"{field} overridden")
    return redirect(_back(domain, golden_id))


@router.post("/{domain}/{golden_id}/override/remove")
async def remove_override(
    domain: str,
    golden_id: str,
    request: Request,
    hub: HubDep,
    steward: ActingSteward,
    field: Name,
    reason: Reason,
) -> Response:
    known_domain(hub, domain)
    cmd = RemoveOverride(domain, golden_id, field, reason, steward.name)
    await _act(request, hub, cmd, f"{field} given back to survivorship")
    return redirect(_back(domain, golden_id))
