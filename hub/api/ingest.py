"""POST /api/v1/changes: a source's batch, validated whole, handed to the bus as
``AcceptChanges`` (the inbox, or in scale-out mode the changes topic: the bus's intake)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from hub.api.deps import Caller, HubDep
from hub.api.schemas import ERRORS, AcceptedOut, ChangeIn, ChangesIn
from hub.domain.access import Principal
from hub.domain.commands import AcceptChanges
from hub.domain.errors import BatchTooLarge, FieldProblem, Forbidden, InvalidBatch
from hub.domain.model import Change, derive_event_id
from hub.domain.spec import DomainSpec
from hub.domain.validation import check_attributes, check_timestamp
from hub.logs import CORRELATION

router = APIRouter(prefix="/api/v1", tags=["ingest"])


@router.post("/changes", status_code=202, response_model=AcceptedOut, responses=ERRORS)
async def post_changes(
    body: ChangesIn, caller: Caller, hub: HubDep, request: Request
) -> AcceptedOut:
    """Accept a batch of one source's changes. Nothing of a batch with a bad change is stored.

    Each change is written to the inbox before 202 is returned, so an accepted change survives
    a crash. A repeated ``event_id`` is counted as a duplicate and applied once. In scale-out
    mode (``CONCORD_KAFKA_BOOTSTRAP``) "written" means acknowledged by the Kafka brokers on
    ``concord.changes``; the workers' inbox counts the duplicates.
    """
    limit = hub.settings.max_batch
    if len(body.changes) > limit:
        raise BatchTooLarge(len(body.changes), limit)
    source = caller.source or ""
    if caller.role != "source":
        raise Forbidden(f"a {caller.role} key cannot write changes")
    problems: list[FieldProblem] = []
    changes: list[Change] = []
    now = datetime.now(UTC)
    for i, c in enumerate(body.changes):
        found = _check(i, c, source, caller, hub.config.domains.get(c.domain), now)
        if isinstance(found, Change):
            changes.append(found)
        else:
            problems.extend(found)
    if problems:
        raise InvalidBatch(problems)
    result = await run_in_threadpool(hub.bus.accept, AcceptChanges(source, tuple(changes)))
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:  # in scale-out mode duplicates are known only to the workers' inbox
        metrics.accepted(source, result.accepted, result.duplicates)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None and result.accepted:
        worker.wake()
    return AcceptedOut(accepted=result.accepted, duplicates=result.duplicates)


def _check(
    i: int, c: ChangeIn, source: str, caller: Principal, spec: DomainSpec | None, now: datetime
) -> Change | list[FieldProblem]:
    """The change as the hub keeps it, or what is wrong with it (index, field, key)."""
    if spec is None:
        return [FieldProblem(i, "domain", f"unknown domain {c.domain!r}", c.key)]
    caller.may_write(source, c.domain)
    found = [
        FieldProblem(i, f"attributes.{field}", why, c.key)
        for field, why in check_attributes(spec, c.attributes, c.op)
    ]
    if found:  # and no event id derived from values that cannot even be hashed
        return found
    changed_at = c.changed_at or now
    if changed_at.tzinfo is None:
        changed_at = changed_at.replace(tzinfo=UTC)
    why = check_timestamp(changed_at)
    if why is not None:
        return [FieldProblem(i, "changed_at", why, c.key)]
    stamp = c.changed_at.isoformat() if c.changed_at else None
    return Change(
        source=source,
        domain=c.domain,
        key=c.key,
        op=c.op,
        event_id=c.event_id
        or derive_event_id(source, c.domain, c.key, c.sequence, stamp, c.op, c.attributes),
        attributes=c.attributes,
        changed_at=changed_at,
        sequence=c.sequence,
        run_id=c.run_id,
        correlation_id=CORRELATION.get(),
    )
