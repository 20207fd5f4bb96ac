"""What one apply transaction knows and what it reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hub.domain.model import GoldenRecord, SourceRecord
from hub.domain.spec import SourceSpec
from hub.services.ports import RecordKey


@dataclass
class ApplyReport:
    applied: int = 0
    stale: int = 0
    dead: int = 0
    events: int = 0
    created: int = 0
    split: int = 0  # batches that failed whole and were applied change by change
    by_source: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, outcome)

    def add(self, other: ApplyReport) -> None:
        for name in ("applied", "stale", "dead", "events", "created", "split"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.by_source.update(other.by_source)


@dataclass
class Batch:
    """What one transaction knows: loaded rows plus the decisions made so far."""

    records: dict[RecordKey, SourceRecord]
    goldens: dict[str, GoldenRecord] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    newly_linked: list[RecordKey] = field(default_factory=list)
    key_cache: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    merged: dict[str, str] = field(default_factory=dict)  # loser -> winner
    unborn: list[str] = field(default_factory=list)
    unresolved_new: set[str] = field(default_factory=set)
    pool: dict[str, GoldenRecord] = field(default_factory=dict)  # candidates' golden records
    # candidates' live source records, as stored: the views entity-centric matching compares
    members: dict[str, list[SourceRecord]] = field(default_factory=dict)
    # (domain, value key) -> how many golden records hold that value (generic values, TF)
    holders: dict[tuple[str, str], int] = field(default_factory=dict)
    population: dict[str, int] = field(default_factory=dict)  # domain -> golden records
    sources: dict[str, SourceSpec] | None = None  # read once, when a view first needs one
    fresh: dict[str, dict[str, Any]] = field(default_factory=dict)  # goldens born this batch
    # per record: the view its keys were computed from, its deterministic and blocking keys
    keys_of: dict[RecordKey, tuple[dict[str, Any], list[str], list[str]]] = field(
        default_factory=dict
    )
    candidates: list[dict[str, Any]] = field(default_factory=list)
    # golden id -> correlation ids of the changes that touched it in this batch
    causes: dict[str, set[str]] = field(default_factory=dict)
