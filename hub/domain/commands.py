"""Commands: what an entry point asks the hub to do. Imperative, frozen, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass

from hub.domain.model import Change


@dataclass(frozen=True)
class AcceptChanges:
    """Store a validated batch of one source's changes in the inbox (applied later)."""

    source: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class ApplyPending:
    """Apply up to ``limit`` inbox rows in one transaction."""

    limit: int = 500


@dataclass(frozen=True)
class ReplayDeadLetters:
    """Send dead-lettered changes back to the inbox, after whatever made them fail is fixed.

    ``ids`` None means every dead letter not replayed yet.
    """

    ids: tuple[int, ...] | None
    actor: str = "cli"


@dataclass(frozen=True)
class DecideMatch:
    """A steward's decision on a match candidate: ``merge`` links the source record to the
    candidate golden record; ``reject`` remembers that they are not the same."""

    candidate_id: int
    decision: str  # merge | reject
    reason: str
    actor: str


@dataclass(frozen=True)
class RefreshStatistics:
    """Let the database re-learn the size and spread of the hot tables.

    A bulk load grows them faster than autovacuum re-analyses; with stale statistics the
    planner guesses that a batch's 500 keys match most of a table and scans all of it.
    """


Command = AcceptChanges | ApplyPending | ReplayDeadLetters | RefreshStatistics | DecideMatch
