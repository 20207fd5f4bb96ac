"""What one apply transaction knows and what it reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from hub.domain.model import CandidateGolden, CandidateMember, GoldenRecord, SourceRecord
from hub.domain.spec import SourceSpec
from hub.services.key_cache import Read
from hub.services.key_ports import KeyDiff
from hub.services.ports import RecordKey
from matching import Views

K = TypeVar("K")


def identity_lock(domain: str, key: str) -> str:
    """The name of the lock a batch holds while it links by an identity key (``"key"``
    locks, docs/architecture.md, "Locks")."""
    return f"{domain}\x00{key}"


def absent(ids: Iterable[K], held: Mapping[K, Any]) -> set[K]:
    """The ``ids`` not in ``held``, in time of ``ids`` alone: ``ids - held.keys()`` walks the
    whole mapping, and a batch's candidates grow to tens of thousands while each record looks
    up fifty (at 1M golden clients that walk was the largest line of an onboarding load)."""
    return {i for i in ids if i not in held}


@dataclass
class ApplyReport:
    applied: int = 0
    stale: int = 0
    dead: int = 0
    events: int = 0
    created: int = 0
    one_by_one: int = 0  # batches that failed whole and were applied change by change
    # claimed rows left pending because another batch was applying one of their records
    deferred: int = 0
    # inbox partitions with pending rows that another applier held, so this one left them
    busy: int = 0
    by_source: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, outcome)
    # what the transaction read of the key index and changed in it: the applier's key cache
    # keeps them once it commits (``KeyCache.committed``), then they are let go
    key_reads: list[Read] = field(default_factory=list)
    key_diffs: list[KeyDiff] = field(default_factory=list)

    def add(self, other: ApplyReport) -> None:
        for f in fields(self):  # every count (and key list, joined); none can be forgotten
            if f.name != "by_source":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.by_source.update(other.by_source)

    @property
    def others_hold_work(self) -> bool:
        """Pending work was left because another applier holds it: an empty turn then does
        not mean an empty inbox, so "until the inbox is empty" loops wait and look again."""
        return self.deferred > 0 or self.busy > 0


@dataclass(frozen=True)
class Compared:
    """A new record's levels against its candidates, compared with the batch's other new
    records before any was linked (``MatchContext.compare_ahead``)."""

    view: dict[str, Any]
    pool: list[tuple[str, Views]]
    levels: Any


@dataclass
class Batch:
    """What one transaction knows: the rows it loaded and the decisions made so far."""

    # the source records this transaction holds (locked), as it will write them back
    records: dict[RecordKey, SourceRecord]
    # the golden records it will recompute, and those recomputed so far
    goldens: dict[str, GoldenRecord] = field(default_factory=dict)
    to_resurvive: set[str] = field(default_factory=set)
    # golden id -> its records updated in this batch (or sent again with the image held):
    # survived again only if that could change a value, a lineage or a key
    # (``hub.domain.golden.update_changes_nothing``)
    updated: dict[str, list[RecordKey]] = field(default_factory=dict)
    # those records' images as the batch found them, before its first change of each
    before: dict[RecordKey, dict[str, Any]] = field(default_factory=dict)
    newly_linked: list[RecordKey] = field(default_factory=list)
    # (domain, match key) -> the golden records holding it, as found or decided so far
    key_hits: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # the identity-key locks it holds (``identity_lock``): a key is looked up only under one
    key_locks: set[str] = field(default_factory=set)
    merges: dict[str, str] = field(default_factory=dict)  # loser -> winner
    # golden records created in this batch and left without a record: never stored
    never_stored: list[str] = field(default_factory=list)
    # golden records born in this batch whose key waits on a reference it may resolve
    awaiting_reference: set[str] = field(default_factory=set)
    # candidates' golden records, as stored, and their live source records: the views
    # entity-centric matching compares a record with
    candidate_goldens: dict[str, CandidateGolden] = field(default_factory=dict)
    candidate_records: dict[str, list[CandidateMember]] = field(default_factory=dict)
    # candidates as the matcher compares them, made once a batch (``MatchContext.entity``)
    entities: dict[str, Views] = field(default_factory=dict)
    # (domain, value key) -> how many golden records hold that value (generic values, TF),
    # as committed when counted, and how many golden records born in this batch hold it
    value_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    born_values: Counter[tuple[str, str]] = field(default_factory=Counter)
    population: dict[str, int] = field(default_factory=dict)  # domain -> golden records
    sources: dict[str, SourceSpec] | None = None  # read once, when a view first needs one
    # golden records born in this batch -> the view a later record of it is compared with
    new_views: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per record: the view its keys were computed from, its deterministic and blocking keys
    keys_of: dict[RecordKey, tuple[dict[str, Any], list[str], list[str]]] = field(
        default_factory=dict
    )
    candidates: list[dict[str, Any]] = field(default_factory=list)
    compared: dict[RecordKey, Compared] = field(default_factory=dict)
    # golden id -> correlation ids of the changes that touched it in this batch
    causes: dict[str, set[str]] = field(default_factory=dict)
    # the applier's key cache as this batch synced it (None: the batch reads the index)
    key_read: Read | None = None
    key_diffs: list[KeyDiff] = field(default_factory=list)  # what survival changed in it

    def winner(self, golden_id: str) -> str:
        """Where ``golden_id`` went if this batch merged it away (followed to the last winner
        of a chain), else itself."""
        while golden_id in self.merges:
            golden_id = self.merges[golden_id]
        return golden_id
