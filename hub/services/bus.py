"""The message bus: the one door every entry point (API, CLI, workers) goes through."""

from __future__ import annotations

import copy
import functools
import random
import time
from collections.abc import Callable
from typing import Any

from hub.domain.commands import (
    AcceptChanges,
    AddComment,
    AdvanceProjectSetup,
    ApplyPending,
    ClaimCandidates,
    DecideCluster,
    DecideMatch,
    DecideSetupException,
    KeepUnreadable,
    MergeGolden,
    NoteValidatedTime,
    OverrideField,
    RefreshEvidence,
    RefreshStatistics,
    ReindexGolden,
    ReleaseClaims,
    RemoveOverride,
    ReplayDeadLetters,
    SplitRecord,
    UndoDecision,
)
from hub.domain.errors import ConcordError
from hub.domain.onboarding import RecordRun, RollbackRun
from hub.services import admin_handlers
from hub.services.apply import Applier, ApplyReport
from hub.services.decisions import (
    add_comment,
    claim_candidates,
    decide_cluster,
    decide_match,
    release_claims,
)
from hub.services.handlers import (
    Accepted,
    InboxSink,
    UowFactory,
    accept_changes,
    apply_pending,
    keep_unreadable,
    merge_golden,
    override_field,
    refresh_evidence,
    refresh_statistics,
    reindex_golden,
    replay_dead_letters,
    split_record,
)
from hub.services.onboarding import record_run, rollback_run
from hub.services.ports import ChangeSink
from hub.services.project_setup import ProjectSetup
from hub.services.undo import undo_decision


class StatisticsSchedule:
    """When to re-analyse the hot tables: each time the work done doubles (2k, 4k, 8k...,
    then every 500k), so a bulk load never runs long on statistics of a much smaller table."""

    def __init__(self) -> None:
        self.done = 0
        self.next = 2_000

    def due(self, done: int) -> bool:
        self.done += done
        if self.done < self.next:
            return False
        self.next = self.done + min(self.done, 500_000)
        return True


RETRIES = 3


def _admin(
    handler: Callable[[Any, admin_handlers.AdminFactory], Any],
    admin: admin_handlers.AdminFactory,
    cmd: object,
) -> Any:
    return handler(cmd, admin)


def _setup(setup: ProjectSetup | None) -> ProjectSetup:
    if setup is None:
        raise ConcordError("this hub runs no project setup")
    return setup


class MessageBus:
    def __init__(
        self,
        uow_factory: UowFactory,
        applier: Applier,
        setup: ProjectSetup | None = None,
        transient: Callable[[BaseException], bool] = lambda exc: False,
        intake: ChangeSink | None = None,
        admin: admin_handlers.AdminFactory | None = None,
    ) -> None:
        """``intake``: where ``AcceptChanges`` writes (default the inbox); ``admin``: the
        store of sources, keys, subscriptions and stewards (none: those commands fail)."""
        self.uow_factory = uow_factory
        self.intake: ChangeSink = intake or InboxSink(uow_factory)
        self.applier = applier
        self.setup = setup
        self.transient = transient
        self._handlers: dict[type, Callable[[Any], Any]] = {
            AcceptChanges: lambda cmd: accept_changes(cmd, self.intake),
            ApplyPending: lambda cmd: apply_pending(cmd, uow_factory, applier),
            ReplayDeadLetters: lambda cmd: replay_dead_letters(cmd, uow_factory()),
            KeepUnreadable: lambda cmd: keep_unreadable(cmd, uow_factory()),
            RefreshStatistics: lambda cmd: refresh_statistics(cmd, uow_factory()),
            DecideMatch: lambda cmd: decide_match(cmd, uow_factory(), applier),
            DecideCluster: lambda cmd: decide_cluster(cmd, uow_factory(), applier),
            UndoDecision: lambda cmd: undo_decision(cmd, uow_factory(), applier),
            RefreshEvidence: lambda cmd: refresh_evidence(cmd, uow_factory(), applier),
            ClaimCandidates: lambda cmd: claim_candidates(cmd, uow_factory()),
            ReleaseClaims: lambda cmd: release_claims(cmd, uow_factory()),
            AddComment: lambda cmd: add_comment(cmd, uow_factory()),
            SplitRecord: lambda cmd: split_record(cmd, uow_factory(), applier),
            MergeGolden: lambda cmd: merge_golden(cmd, uow_factory(), applier),
            OverrideField: lambda cmd: override_field(cmd, uow_factory(), applier),
            RemoveOverride: lambda cmd: override_field(cmd, uow_factory(), applier),
            RecordRun: lambda cmd: record_run(cmd, uow_factory()),
            RollbackRun: lambda cmd: rollback_run(cmd, uow_factory(), applier),
            ReindexGolden: lambda cmd: reindex_golden(cmd, uow_factory(), applier),
            AdvanceProjectSetup: lambda cmd: (
                setup.advance(uow_factory(), cmd.limit) if setup is not None else 0
            ),
            DecideSetupException: lambda cmd: _setup(setup).decide_exception(uow_factory(), cmd),
            NoteValidatedTime: lambda cmd: (
                setup.note_time(uow_factory(), cmd) if setup is not None else 0
            ),
        }
        if admin is not None:
            for kind, handler in admin_handlers.HANDLERS.items():
                self._handlers[kind] = functools.partial(_admin, handler, admin)

    def publishing_to(self, intake: ChangeSink) -> MessageBus:
        """This bus with changes accepted into ``intake`` (scale-out HTTP ingest: the topic)
        and every other command handled as here."""
        bus = copy.copy(self)
        bus.intake = intake
        bus._handlers = dict(self._handlers)
        bus._handlers[AcceptChanges] = lambda cmd: accept_changes(cmd, intake)
        return bus

    def accept(self, cmd: AcceptChanges) -> Accepted:
        result: Accepted = self.handle(cmd)
        return result

    def apply(self, cmd: ApplyPending) -> ApplyReport:
        result: ApplyReport = self.handle(cmd)
        return result

    def handle(self, cmd: object) -> Any:
        """Run ``cmd``'s handler; a steward's or an admin's command that the database gave up
        on for a reason of its own (a deadlock victim) runs again, up to three times.

        Every write path takes its locks in one order (docs/architecture.md, "Locks"); a
        lock asked for out of it is not waited for (``LockBusy``), and PostgreSQL fails one
        side of any cycle left: the side that is a person's click must not see a 500 for it.
        Ingest and apply have their own answers (idempotent resends; the batch's retries and
        its one-by-one fallback)."""
        handler = self._handlers.get(type(cmd))
        if handler is None:
            raise TypeError(f"no handler for {type(cmd).__name__}")
        if isinstance(cmd, AcceptChanges | ApplyPending):
            return handler(cmd)
        for attempt in range(RETRIES):
            try:
                return handler(cmd)
            except Exception as exc:
                if attempt == RETRIES - 1 or not self.transient(exc):
                    raise
                time.sleep(0.05 * 2**attempt * (1 + random.random()))
        raise AssertionError("unreachable")

    def drain(self, limit: int = 500) -> ApplyReport:
        """Apply until the inbox is empty and project setup has read every golden change
        (it may add shells to the inbox) (CLI, tests, demo)."""
        total = ApplyReport()
        schedule = StatisticsSchedule()
        while True:
            r = self.apply(ApplyPending(limit))
            if r.applied + r.stale + r.dead == 0 and r.others_hold_work:
                time.sleep(0.02)  # another applier holds those records: their turn comes
                continue
            if r.applied + r.stale + r.dead == 0:
                if self.handle(AdvanceProjectSetup(limit)):
                    continue
                return total
            total.add(r)
            if schedule.due(r.applied + r.stale):
                self.handle(RefreshStatistics())
