"""When a batch fails whole: apply its changes one by one, so that only a change that is bad
in itself goes to the dead letters (docs/architecture.md, "Bad input and configuration").

Two things make this safe to run beside other appliers:

- The claim is kept. Every change runs in a savepoint of the transaction that claimed the
  rows, so the rows stay locked (``FOR UPDATE``) until the last change is decided and no other
  applier can take one meanwhile; the batch's record locks are taken once, sorted, before the
  first change, as the batch takes them (docs/architecture.md, "Locks").
- A transient store error (a deadlock, a serialization failure, a lost lock or connection)
  says nothing about the change: the change is tried again, a few times with backoff; if the
  store still fails, the whole transaction gives up and its rows return to the queue, never to
  the dead letters.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from hub.domain.model import Change
from hub.services.apply import Applier
from hub.services.batch import ApplyReport
from hub.services.ports import UnitOfWork

log = logging.getLogger("concord.apply")

ATTEMPTS = 4  # per change, for transient errors
BACKOFF = 0.05  # seconds, doubled after each transient failure


class StoreUnavailable(Exception):
    """The store kept failing for a reason that is not the change's: give the rows back."""


def one_by_one(uow: UnitOfWork, applier: Applier, rows: list[tuple[int, Change]]) -> ApplyReport:
    """Decide every row of a claimed batch inside ``uow`` (the caller commits)."""
    applier.lock_records(uow, rows)
    total = ApplyReport(one_by_one=1)
    for inbox_id, change in rows:
        outcome = _attempt(uow, applier, inbox_id, change)
        if isinstance(outcome, ApplyReport):
            total.add(outcome)
            continue
        log.error(
            "change %s of %s dead-lettered: %.300s",
            change.event_id,
            change.source,
            outcome,
            extra={
                "correlation_id": change.correlation_id,
                "source": change.source,
                "key": change.key,
                "domain": change.domain,
            },
        )
        now = datetime.now(UTC)
        uow.dead_letters.add(inbox_id, change, f"{type(outcome).__name__}: {outcome}", now)
        uow.inbox.mark({inbox_id: "dead"}, now)
        total.dead += 1
        total.by_source[(change.source, "dead")] += 1
    return total


def _attempt(
    uow: UnitOfWork, applier: Applier, inbox_id: int, change: Change
) -> ApplyReport | Exception:
    """The change's report, or the error that makes it a dead letter."""
    for attempt in range(ATTEMPTS):
        try:
            with uow.savepoint():
                return applier.apply(uow, [(inbox_id, change)])
        except Exception as exc:
            if not uow.transient(exc):
                return exc
            if attempt + 1 == ATTEMPTS:
                raise StoreUnavailable(
                    f"change {change.event_id} of {change.source}: the store failed "
                    f"{ATTEMPTS} times: {exc}"
                ) from exc
            log.warning(
                "change %s of %s: transient store error, trying again: %.200s",
                change.event_id,
                change.source,
                exc,
            )
            time.sleep(BACKOFF * 2**attempt)
    raise AssertionError("unreachable")
