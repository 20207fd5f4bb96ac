"""The ports the use cases need, as Protocols: storage (unit of work) and matching.

The SQL store and the in-memory fakes of the unit tests both satisfy these, and any matcher
(the deterministic one today, Fellegi-Sunter later) plugs in without a change to the core.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hub.domain.accounts import LoggedIn
from hub.domain.admin import Subscription, SubscriptionSecret
from hub.domain.model import (
    CandidateGolden,
    CandidateMember,
    Change,
    GoldenRecord,
    SourceRecord,
    UnreadableMessage,
)
from hub.domain.spec import SourceSpec
from hub.services.key_ports import KeyIndex
from hub.services.matcher_port import Matcher as Matcher  # its own module, re-exported

RecordKey = tuple[str, str, str]  # (source, domain, source_key)


class InboxRepo(Protocol):
    def add(self, changes: Sequence[Change], received_at: datetime) -> int: ...

    # rows the last claim could not read back: already dead-lettered, in the claim's transaction
    dead_at_claim: int
    # partitions with pending rows that the last claim found another applier holding
    busy_at_claim: int

    def claim(self, limit: int, applier: str = "") -> list[tuple[int, Change]]:
        """Lock up to ``limit`` pending rows for this transaction, oldest first (of the
        partitions ``applier`` could take, where appliers share the inbox)."""
        ...

    def mark(self, statuses: Mapping[int, str], at: datetime) -> None: ...


class RecordRepo(Protocol):
    def load(self, keys: Iterable[RecordKey]) -> dict[RecordKey, SourceRecord]: ...

    def linked_to(self, golden_ids: Iterable[str]) -> dict[str, list[SourceRecord]]: ...

    def live(self, golden_ids: Iterable[str]) -> dict[str, list[CandidateMember]]:
        """Per golden record, its live source records in id order, only as far as linking
        compares with them (a candidate's read, not survival's)."""
        ...

    def members(self, golden_ids: Iterable[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
        """Per golden record, its live source records as (source, domain, key, digest), in
        id order: what ``linked_to`` would return, without the attributes (a cache's check)."""
        ...

    def save(self, records: Sequence[SourceRecord], at: datetime) -> None: ...


class GoldenRepo(Protocol):
    def load(self, ids: Iterable[str], lock: bool = False) -> dict[str, GoldenRecord]: ...

    def candidates(self, ids: Iterable[str], values: bool = True) -> dict[str, CandidateGolden]:
        """The stored golden records among ``ids`` as linking compares them (no lock), each
        with the stamp ``stamps`` would read of it; without ``values``, their attributes and
        references are not read (``None``), only their kept compared values."""
        ...

    def stamps(self, ids: Iterable[str]) -> dict[str, tuple[int, str, object]]:
        """(version, status, updated_at) of each stored golden record: every write changes
        the last, so equal stamps mean an unchanged row (a cache's check)."""
        ...

    def referring_to(self, ids: Iterable[str]) -> set[str]:
        """Golden records whose references name any of ``ids``."""
        ...

    def active_ids(self, domain: str, after: str, limit: int) -> list[str]:
        """Up to ``limit`` ids of active golden records of ``domain`` above ``after``, in
        order: a walk over a whole domain in pages (``concord match reindex``)."""
        ...

    def save(
        self,
        records: Sequence[tuple[GoldenRecord, list[str], str]],
        search_names: Mapping[str, str],
        at: datetime,
        compared: Mapping[str, Any] | None = None,
    ) -> None: ...

    def keep_compared(self, compared: Mapping[str, Any]) -> None:
        """Store compared values made again for golden records whose version stays (their
        stamp is unchanged too: a candidate read from before is only compared afresh)."""
        ...


class PendingRefs(Protocol):
    def waiting_for(self, targets: Iterable[RecordKey]) -> set[str]: ...

    def replace(self, golden_ids: Iterable[str], rows: Sequence[dict[str, Any]]) -> None: ...


class Outbox(Protocol):
    def add(self, events: Sequence[dict[str, Any]]) -> None: ...


class CandidateRepo(Protocol):
    def add(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def rejected(self, key: RecordKey) -> set[str]:
        """Golden records a steward said this source record is not."""
        ...

    def exclude(self, key: RecordKey, golden_id: str, by: str, reason: str, at: datetime) -> None:
        """Remember that ``key`` is not ``golden_id`` (a steward's split)."""

    def kept_apart(self, a: str, b: str) -> bool:
        """Whether a steward said a record of one of these golden records is not the other."""
        ...

    def follow(self, merged: Mapping[str, str], retired: Collection[str], at: datetime) -> None:
        """Pending candidates of a merged golden record move to its winner (their evidence
        to be scored again); those against a retired one, against the golden record their
        record is on already, or twice against one golden record, are superseded."""

    def refresh(self, candidate_id: int, scored: Mapping[str, Any] | None, at: datetime) -> None:
        """Store evidence scored again (probability, weights, notes, levels,
        golden_version, golden_id); ``None``: the pair no longer reaches review, superseded."""

    def get(self, candidate_id: int, lock: bool = True) -> dict[str, Any] | None:
        """A candidate with its source record's key, for a decision (row-locked unless
        ``lock`` is false: the locks of docs/architecture.md come first)."""
        ...

    def decide(self, candidate_id: int, status: str, by: str, reason: str, at: datetime) -> None:
        """Record a decision; a merge supersedes the record's other pending candidates."""
        ...

    def superseded_by(self, candidate_id: int) -> list[dict[str, Any]]:
        """The record's other candidates that this merged one's decision superseded (unlocked
        reads, with their source record's key), so that an undo can put them back."""
        ...

    def forget_exclusion(self, key: RecordKey, golden_id: str, by: str, reason: str) -> int:
        """Drop the "not a match" that ``by``'s split of ``key`` off ``golden_id`` for
        ``reason`` left (the undo of a merge is no verdict on the pair); how many went."""
        ...


class DeadLetters(Protocol):
    def add(self, inbox_id: int, change: Change, reason: str, at: datetime) -> None: ...

    def add_unreadable(self, messages: Sequence[UnreadableMessage], at: datetime) -> int:
        """Keep messages that never reached the inbox; one already kept is skipped. Returns
        how many were new."""
        ...

    def replay(self, ids: Sequence[int] | None, at: datetime) -> int:
        """Send dead changes back to the inbox (all not yet replayed when ``ids`` is None)."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Only the unit of work commits; leaving without commit rolls back."""

    @property
    def inbox(self) -> InboxRepo: ...

    @property
    def records(self) -> RecordRepo: ...

    @property
    def golden(self) -> GoldenRepo: ...

    @property
    def keys(self) -> KeyIndex: ...

    @property
    def pending(self) -> PendingRefs: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def candidates(self) -> CandidateRepo: ...

    @property
    def dead_letters(self) -> DeadLetters: ...

    def sources(self) -> dict[str, SourceSpec]: ...

    def audit(self, actor: str, action: str, detail: dict[str, Any]) -> None:
        """Append to the hash-chained audit log, in this transaction."""
        ...

    def refresh_statistics(self) -> None:
        """Ask the database to re-analyse the tables the apply path reads by key."""
        ...

    def lock(self, namespace: str, names: Iterable[str], wait: bool = True) -> None:
        """Hold transaction locks on these names, so that concurrent workers touching the same
        source record or match key serialise instead of overwriting each other. With
        ``wait=False`` (a lock asked for out of order) raise ``LockBusy`` rather than wait."""
        ...

    def lock_free(self, namespace: str, names: Iterable[str]) -> set[str]:
        """Take those of these locks that no other transaction holds, without waiting;
        returns the names taken."""
        ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *args: object) -> None: ...

    def commit(self) -> None: ...

    def savepoint(self) -> AbstractContextManager[object]:
        """A part of the transaction that an exception undoes alone (locks it took included),
        leaving the rest, and the claim, in place."""
        ...

    def transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the store's passing trouble (deadlock, serialization failure,
        lost connection) rather than something wrong with the work: try again."""
        ...

    def rollback(self) -> None: ...


class ChangeSink(Protocol):
    """Where ``AcceptChanges`` makes a batch durable before the source hears "accepted": the
    inbox (embedded mode, and every worker) or the changes topic (scale-out HTTP ingest).

    Returns (accepted, duplicates); a sink that cannot tell duplicates (the topic: the
    workers' inbox counts them) answers 0. A sink that could not make the whole batch durable
    raises (``hub.domain.errors.Unavailable``), so the source sends it again."""

    def write(self, changes: Sequence[Change]) -> tuple[int, int]: ...


class Administration(Protocol):
    """One admin transaction over sources, keys, subscriptions and steward accounts. Each
    change is written to the audit log in the same transaction; only ``commit`` keeps it."""

    def __enter__(self) -> Administration: ...

    def __exit__(self, *args: object) -> None: ...

    def commit(self) -> None: ...

    def add_source(
        self, name: str, domains: Sequence[str], kind: str | None, rank: int | None, actor: str
    ) -> str: ...

    def rotate_source_key(self, name: str, actor: str) -> str: ...

    def has_source(self, name: str) -> bool: ...

    def issue_source_key(self, name: str, actor: str) -> str:
        """A further key for a registered source; its other keys keep working."""
        ...

    def create_key(
        self, name: str, role: str, read_domains: Sequence[str] | None, personal: bool, actor: str
    ) -> str: ...

    def revoke_keys(self, name: str, actor: str) -> int: ...

    def subscription_names(self) -> set[str]: ...

    def create_subscription(self, fields: Mapping[str, Any], actor: str) -> SubscriptionSecret:
        """``fields``: name, kind, url, domains, source, echo, personal, start."""
        ...

    def set_subscription_status(self, ref: str, status: str, actor: str) -> Subscription: ...

    def delete_subscription(self, ref: str, actor: str) -> None: ...

    def rotate_subscription_secret(
        self, ref: str, overlap_seconds: float, actor: str
    ) -> SubscriptionSecret: ...

    def replay_deliveries(
        self, ref: str, event_id: str | None, dead: bool, after: int | None, actor: str
    ) -> int: ...

    def add_steward(self, name: str, role: str, password_hash: str, actor: str) -> None: ...

    def set_steward_disabled(self, name: str, disabled: bool, actor: str) -> None: ...

    def has_steward(self, name: str) -> bool: ...

    def set_steward_password(self, name: str, password_hash: str, actor: str) -> None: ...

    def record_login(
        self, name: str, ok: bool, at: datetime, lock_for: Callable[[int], int]
    ) -> LoggedIn | None:
        """Under the name's lock: count a failure (locking for ``lock_for(failures)``
        seconds) or reset the count; the account if let in."""
        ...

    def end_steward_sessions(self, steward_id: int) -> None: ...


@dataclass(frozen=True)
class SlotState:
    """The hub's memory of one logical decoding slot: was its snapshot read, where is it."""

    source: str
    slot: str
    snapshot_lsn: int | None
    snapshot_rows: int
    snapshot_done_at: datetime | None
    confirmed_lsn: int | None


class SlotMemory(Protocol):
    """Where the logical decoding connector keeps its slots' state: in the hub, never in the
    source database, which the connector changes only by its slot. Each call commits alone."""

    def get(self, source: str, slot: str) -> SlotState | None: ...

    def begin(self, source: str, slot: str, snapshot_lsn: int | None, done: bool) -> None:
        """A new slot: its snapshot is to be read (or, with ``done``, is not wanted)."""

    def finish_snapshot(self, source: str, slot: str, rows: int) -> None: ...

    def confirm(self, source: str, slot: str, lsn: int) -> None: ...


class ClaimRepo(Protocol):
    def lock_pending(self, ids: Collection[int]) -> list[int]:
        """Row-lock these candidates in id order; return those still pending."""
        ...

    def holders(self, ids: Collection[int], now: datetime) -> dict[int, str]:
        """Who holds each of these candidates at ``now`` (expired claims hold nothing)."""
        ...

    def take(self, ids: Collection[int], steward: str, now: datetime, until: datetime) -> None: ...

    def held_by(self, steward: str) -> list[int]: ...

    def release(self, ids: Collection[int]) -> int: ...


class CommentRepo(Protocol):
    def add(self, kind: str, target: str, author: str, text: str, at: datetime) -> int: ...


class StewardUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that also keeps stewards' claims and comments (the SQL one does; the
    unit tests' in-memory fake does not)."""

    @property
    def claims(self) -> ClaimRepo: ...

    @property
    def comments(self) -> CommentRepo: ...
