"""POST /api/v1/changes: a source's batch, validated whole, into the durable inbox (or, in
scale-out mode, onto Kafka)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from connectors.outbound.kafka import Producer, Record
from hub.api.deps import Caller, HubDep
from hub.api.schemas import ERRORS, AcceptedOut, ChangesIn
from hub.config import Settings
from hub.domain.commands import AcceptChanges
from hub.domain.errors import BatchTooLarge, FieldProblem, Forbidden, InvalidBatch
from hub.domain.model import Change, derive_event_id
from hub.domain.validation import check_attributes, check_timestamp
from hub.logs import CORRELATION
from hub.runtime import kafka_changes

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
    now = datetime.now(UTC)
    cid = CORRELATION.get()
    problems: list[FieldProblem] = []
    changes: list[Change] = []
    for i, c in enumerate(body.changes):
        spec = hub.config.domains.get(c.domain)
        if spec is None:
            problems.append(FieldProblem(i, "domain", f"unknown domain {c.domain!r}", c.key))
            continue
        caller.may_write(source, c.domain)
        found = [
            FieldProblem(i, f"attributes.{field}", why, c.key)
            for field, why in check_attributes(spec, c.attributes, c.op)
        ]
        if found:  # and no event id derived from values that cannot even be hashed
            problems.extend(found)
            continue
        changed_at = c.changed_at or now
        if changed_at.tzinfo is None:
            changed_at = changed_at.replace(tzinfo=UTC)
        why = check_timestamp(changed_at)
        if why is not None:
            problems.append(FieldProblem(i, "changed_at", why, c.key))
        event_id = c.event_id or derive_event_id(
            source,
            c.domain,
            c.key,
            c.sequence,
            c.changed_at.isoformat() if c.changed_at else None,
            c.op,
            c.attributes,
        )
        changes.append(
            Change(
                source=source,
                domain=c.domain,
                key=c.key,
                op=c.op,
                event_id=event_id,
                attributes=c.attributes,
                changed_at=changed_at,
                sequence=c.sequence,
                run_id=c.run_id,
                correlation_id=cid,
            )
        )
    if problems:
        raise InvalidBatch(problems)
    metrics = getattr(request.app.state, "metrics", None)
    if hub.settings.kafka_bootstrap:  # scale-out: `concord worker` processes apply from Kafka
        await _publish(request, hub.settings, changes)
        if metrics is not None:  # duplicates are known only to the workers' inbox
            metrics.accepted(source, len(changes), 0)
        return AcceptedOut(accepted=len(changes), duplicates=0)
    result = await run_in_threadpool(hub.bus.accept, AcceptChanges(source, tuple(changes)))
    if metrics is not None:
        metrics.accepted(source, result.accepted, result.duplicates)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None and result.accepted:
        worker.wake()
    return AcceptedOut(accepted=result.accepted, duplicates=result.duplicates)


async def _publish(request: Request, settings: Settings, changes: list[Change]) -> None:
    """Scale-out ingest: the batch onto ``concord.changes``, answered only once the broker
    acknowledged every change (acks=all). A failure answers 503 and the source sends the batch
    again; what did reach the topic then comes back a duplicate in the workers' inbox, by id.
    Duplicates are counted there, so the 202 reports every change as accepted."""
    producer = getattr(request.app.state, "changes_producer", None)
    if producer is None:
        assert settings.kafka_bootstrap is not None
        producer = request.app.state.changes_producer = Producer(settings.kafka_bootstrap, settings)
    topic = settings.kafka_changes_topic
    records: list[Record] = [
        (topic, kafka_changes.key_of(c), kafka_changes.encode(c), []) for c in changes
    ]
    failed = [r for r in await producer.asend_all(records) if not isinstance(r, str)]
    if failed:
        raise HTTPException(
            503,
            f"the broker did not acknowledge {len(failed)} of {len(changes)} changes "
            f"({type(failed[0]).__name__}: {failed[0]}); send the batch again",
            headers={"Retry-After": "1"},
        )
