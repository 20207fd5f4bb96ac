"""The message bus: the one door every entry point (API, CLI, workers) goes through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.domain.commands import AcceptChanges, ApplyPending, ReplayDeadLetters
from hub.services.apply import Applier, ApplyReport
from hub.services.handlers import (
    Accepted,
    UowFactory,
    accept_changes,
    apply_pending,
    replay_dead_letters,
)


class MessageBus:
    def __init__(self, uow_factory: UowFactory, applier: Applier) -> None:
        self.uow_factory = uow_factory
        self.applier = applier
        self._handlers: dict[type, Callable[[Any], Any]] = {
            AcceptChanges: lambda cmd: accept_changes(cmd, uow_factory()),
            ApplyPending: lambda cmd: apply_pending(cmd, uow_factory, applier),
            ReplayDeadLetters: lambda cmd: replay_dead_letters(cmd, uow_factory()),
        }

    def accept(self, cmd: AcceptChanges) -> Accepted:
        result: Accepted = self.handle(cmd)
        return result

    def apply(self, cmd: ApplyPending) -> ApplyReport:
        result: ApplyReport = self.handle(cmd)
        return result

    def handle(self, cmd: object) -> Any:
        handler = self._handlers.get(type(cmd))
        if handler is None:
            raise TypeError(f"no handler for {type(cmd).__name__}")
        return handler(cmd)

    def drain(self, limit: int = 500) -> ApplyReport:
        """Apply until the inbox is empty (CLI, tests, demo)."""
        total = ApplyReport()
        while True:
            r = self.apply(ApplyPending(limit))
            if r.applied + r.stale + r.dead == 0:
                return total
            total.add(r)
