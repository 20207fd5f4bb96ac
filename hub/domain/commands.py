"""Commands: what an entry point asks the hub to do. Imperative, frozen, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.domain.model import Change, UnreadableMessage


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
class AdvanceProjectSetup:
    """Read up to ``limit`` golden opportunity and client changes after project setup's cursor
    and make, reopen or cancel the shells they call for (docs/architecture.md)."""

    limit: int = 500


@dataclass(frozen=True)
class NoteValidatedTime:
    """Time entries a timekeeping system was told it may post, per golden project: a lost
    deal's shell with time on it is not cancelled by itself (docs/architecture.md)."""

    entries: tuple[tuple[str, int], ...]  # (golden project id, entries found ok)


@dataclass(frozen=True)
class DecideSetupException:
    """Finance operations' decision on a deal waiting as a setup exception: ``resolve`` (it
    is handled elsewhere; close it), ``defer`` (not now; it still retries itself when its
    records change) or ``override`` (make the shell anyway, without what failed)."""

    opportunity_id: str
    action: str
    reason: str
    actor: str


@dataclass(frozen=True)
class KeepUnreadable:
    """Keep messages that are not changes as dead letters, before their stream moves on."""

    messages: tuple[UnreadableMessage, ...]


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
class ClaimCandidates:
    """Hold these pending candidates for ``steward`` for ``minutes``, so that no other steward
    decides them meanwhile; those another steward holds (and whose claim has not expired) are
    left out, not taken over."""

    candidate_ids: tuple[int, ...]
    steward: str
    minutes: int


@dataclass(frozen=True)
class ReleaseClaims:
    """Give claims back: ``actor``'s own (all of them when ``candidate_ids`` is None), or,
    with ``admin``, anyone's."""

    candidate_ids: tuple[int, ...] | None
    actor: str
    admin: bool = False


@dataclass(frozen=True)
class AddComment:
    """A steward's note on a match candidate (``kind`` candidate, ``target`` its id) or a
    golden record (``kind`` golden, ``target`` its id)."""

    kind: str
    target: str
    text: str
    actor: str


@dataclass(frozen=True)
class DecideCluster:
    """A steward's answer to one incoming record with several candidates: ``chosen`` is the
    candidate it merges into (the others are rejected), or None to reject them all. One
    question, so one decision: never half of a cluster decided."""

    candidate_ids: tuple[int, ...]
    chosen: int | None
    reason: str
    actor: str


@dataclass(frozen=True)
class UndoDecision:
    """Take back a steward's recent decision on these candidates (one decision: a single
    candidate, or a whole cluster). A merge is undone by a split with the reason "undo" that
    leaves no "not a match" behind; a rejection by making the pair pending again. Refused
    after ``window_seconds`` or when already undone."""

    candidate_ids: tuple[int, ...]
    actor: str
    window_seconds: int = 600


@dataclass(frozen=True)
class RefreshEvidence:
    """Score these pending candidates again where the golden record they name has changed
    since they were scored (or was merged away), so the steward sees one snapshot."""

    candidate_ids: tuple[int, ...]


@dataclass(frozen=True)
class RefreshStatistics:
    """Let the database re-learn the size and spread of the hot tables.

    A bulk load grows them faster than autovacuum re-analyses; with stale statistics the
    planner guesses that a batch's 500 keys match most of a table and scans all of it.
    """


@dataclass(frozen=True)
class SplitRecord:
    """Detach one source record from its golden record into a golden record of its own.

    The pair is remembered as "not a match", so matching never puts them back together.
    """

    source: str
    domain: str
    source_key: str
    reason: str
    actor: str
    golden_id: str | None = None  # when given, the record must still be linked to it


@dataclass(frozen=True)
class MergeGolden:
    """Merge golden record ``loser`` into ``winner`` (same domain): every source record and
    every reference moves to the winner; subscribers hear ``merged`` and ``updated``."""

    domain: str
    loser: str
    winner: str
    reason: str
    actor: str


@dataclass(frozen=True)
class OverrideField:
    """A steward's value for one golden field; it wins over every source until removed."""

    domain: str
    golden_id: str
    field: str
    value: Any
    reason: str
    actor: str


@dataclass(frozen=True)
class RemoveOverride:
    """Give a field back to survivorship."""

    domain: str
    golden_id: str
    field: str
    reason: str
    actor: str


Command = (
    AcceptChanges
    | ApplyPending
    | ReplayDeadLetters
    | KeepUnreadable
    | RefreshStatistics
    | DecideMatch
    | DecideCluster
    | UndoDecision
    | SplitRecord
    | MergeGolden
    | OverrideField
    | RemoveOverride
)


@dataclass(frozen=True)
class ReindexGolden:
    """Recompute the key index of up to ``limit`` active golden records of ``domain`` above
    ``after`` (in id order) from their source records: after an upgrade whose index holds
    keys the old one did not (value counts for generic values), or after a change of keys."""

    domain: str
    after: str = ""
    limit: int = 500


# Administration: sources, keys, subscriptions and steward accounts. Each is audited by the
# store in the transaction that makes the change (docs/architecture.md, "The parts").


@dataclass(frozen=True)
class AddSource:
    """Register a source system; the handler answers its first key (shown once)."""

    name: str
    domains: tuple[str, ...]
    kind: str | None = None
    rank: int | None = None
    actor: str = "cli"


@dataclass(frozen=True)
class RotateSourceKey:
    """A new key for a source system; its old keys stop working at once."""

    name: str
    actor: str = "cli"


@dataclass(frozen=True)
class IssueSourceKey:
    """A further key for a source system, its other keys still working (the demo's sources,
    posted to again on every run). A source not registered yet is registered with the
    ``register_with`` domains (its kind read from its name), or refused without them. The
    handler answers the key (shown once, never stored)."""

    name: str
    register_with: tuple[str, ...] | None = None
    actor: str = "cli"


@dataclass(frozen=True)
class CreateKey:
    """A new subscriber, steward or admin key (answered once, never stored)."""

    name: str
    role: str
    read_domains: tuple[str, ...] | None = None
    personal: bool = False
    actor: str = "cli"


@dataclass(frozen=True)
class RevokeKeys:
    """Every active key of ``name`` stops working."""

    name: str
    actor: str = "cli"


@dataclass(frozen=True)
class CreateSubscription:
    """A new webhook or Kafka subscription; the handler answers its secret (shown once).

    The target URL is checked by the entry point, which knows the address policy."""

    name: str
    kind: str
    url: str
    domains: tuple[str, ...]
    source: str | None = None
    echo: bool = False
    personal: bool = False
    start: str = "now"
    actor: str = "cli"


@dataclass(frozen=True)
class SetSubscriptionStatus:
    """Pause (``paused``) or resume (``active``) a subscription, by id or name."""

    ref: str
    status: str
    actor: str = "cli"


@dataclass(frozen=True)
class DeleteSubscription:
    ref: str
    actor: str = "cli"


@dataclass(frozen=True)
class RotateSubscriptionSecret:
    """A new signing secret; the old one keeps signing for ``overlap_seconds``."""

    ref: str
    overlap_seconds: float
    actor: str = "cli"


@dataclass(frozen=True)
class ReplayDeliveries:
    """Send deliveries again: one event (and its record's later versions), every dead one,
    or everything after an outbox cursor."""

    ref: str
    event_id: str | None = None
    dead: bool = False
    after: int | None = None
    actor: str = "cli"


@dataclass(frozen=True)
class AddSteward:
    """A steward account; the password arrives hashed (the steward web site hashes it)."""

    name: str
    role: str
    password_hash: str
    actor: str = "cli"


@dataclass(frozen=True)
class SetStewardPassword:
    """A steward's new password (arriving hashed), their failed logins and lock cleared. With
    ``role_if_new`` an account that does not exist yet is made with that role (the demo's
    steward, made on the first run and given a new password on each); without, refused."""

    name: str
    password_hash: str
    role_if_new: str | None = None
    actor: str = "cli"


@dataclass(frozen=True)
class SetStewardDisabled:
    """Disable (or enable again) a steward's account."""

    name: str
    disabled: bool
    actor: str = "cli"


@dataclass(frozen=True)
class RecordLogin:
    """A steward's login attempt, its password already checked (outside any transaction:
    argon2 is slow): counted as a failure, or the count reset. Answers the account let in,
    or None when refused (unknown, disabled, locked or wrong: the caller says one thing)."""

    name: str
    password_ok: bool
    at: datetime


@dataclass(frozen=True)
class EndStewardSessions:
    """Logout: every session cookie issued to the steward so far stops working."""

    steward_id: int
