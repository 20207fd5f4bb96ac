"""The key index as the apply path sees it: lookups, replacement, and the log of what each
transaction changed, which the applier's key cache reads (hub/services/key_cache.py)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class KeyDiff:
    """What one transaction changed in a domain's key index: ``(key, golden id)`` pairs
    added and removed, and the writer's mark in the key-change log (hub/store/key_log.py)."""

    writer: int
    domain: str
    added: tuple[tuple[str, str], ...]
    removed: tuple[tuple[str, str], ...]


@dataclass
class KeyChanges:
    """What a reader of the key-change log learns: the keys changed past its horizon (by
    domain), its new horizon, and the database's clock when it looked."""

    horizon: int
    at: datetime
    keys: dict[str, set[str]] = field(default_factory=dict)


class KeyIndex(Protocol):
    # whether this transaction has changed the index: what it reads is then not all
    # committed, and no cache may keep it
    changed: bool

    def find(self, domain: str, keys: Iterable[str]) -> dict[str, set[str]]: ...

    def count(self, domain: str, keys: Iterable[str]) -> dict[str, int]:
        """How many golden records hold each key (absent: none)."""
        ...

    def replace(self, domain: str, keys: Mapping[str, set[str]]) -> KeyDiff | None:
        """Make the index hold exactly ``keys`` for these golden records; returns what
        changed (``None``: nothing), logged for other appliers' caches."""
        ...

    def changes_since(self, horizon: int | None, skip: Collection[int]) -> KeyChanges:
        """The keys other transactions changed past ``horizon`` (``None``: only where the
        log stands now), leaving out the writers in ``skip``."""
        ...

    def prune_changes(self, retention: timedelta) -> int:
        """Delete the log's rows every reader has had ``retention`` to read."""
        ...
