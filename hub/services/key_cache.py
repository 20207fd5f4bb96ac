"""The key index as an applier last saw it, kept between its batches.

Finding a new record's candidates reads which golden records hold each of its match keys,
and how many hold each of its values; consecutive batches ask for many of the same keys (a
name's first letters in a country, a common city). The applier keeps those answers here.

Several appliers, a steward's merge or an onboarding rollback change the index too, so the
cache is checked against the database at the start of every batch: it reads the key-change
log (hub/store/key_log.py) past its horizon and drops each key another transaction changed.
What it drops is read again from the index. The applier's own changes it patches in after
its transaction commits, rather than dropping them: a lone applier adding golden records to a
broad key would otherwise read that key again in every batch (docs/architecture.md, "Speed").

Why that is enough to stay correct:

- The batch's lookups happen after the sync, and after it took its identity-key locks, so a
  golden record another batch committed under one of those keys has been logged and dropped
  before the lookup runs; a key whose lock another batch holds is not looked up at all. The
  near-duplicate check after linking (``Linker.confirm_born``) reads the index itself, under
  its own locks, never this cache.
- What a batch reads is kept only once its transaction has committed, and only if nothing
  else changed the cache since the batch synced (``Read.generation``): otherwise a change
  logged meanwhile could be dropped before the read is kept, and the stale read would stay.
  A transaction that has already changed the index (a batch applied change by change) reads
  the index itself and keeps nothing: what it reads is not committed yet.
- A transaction's own changes are patched in, in commit order, after it commits, and its log
  rows are skipped from then on. Sets are patched by adding and removing pairs, which is
  idempotent; a count is patched by the number of pairs, and only counts read before the
  transaction changed anything are kept, so none counts a change twice.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub.services.key_ports import KeyDiff
from hub.services.ports import UnitOfWork

DEFAULT_SIZE = 2_000_000
"""Golden ids held across every cached key (a broad key holds thousands)."""
RETENTION = timedelta(minutes=15)
"""How long the key-change log keeps a row. A cache that has not synced for half of it
starts afresh, since rows it has not read may be gone."""
PRUNE_EVERY = 60.0  # seconds between an applier's prunes of the log


@dataclass
class Read:
    """One batch's view of the cache: the generation it synced at, and what it read from the
    index, kept once its transaction commits (``KeyCache.committed``)."""

    generation: int
    sets: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)


MAX_SKIPPED = 500
"""Own changes a sync skips, newest kept. A long transaction anywhere on the server holds the
horizon back, and every batch meanwhile adds its change to the list sent with the read; past
this many, the oldest are read like another writer's (their keys dropped and read again:
more misses, never a wrong answer)."""


class KeyCache:
    """Keys to the golden records holding them, and value keys to how many hold them, least
    recently used out."""

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        retention: timedelta = RETENTION,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.retention = retention
        self.clock = clock
        self._sets: OrderedDict[tuple[str, str], frozenset[str]] = OrderedDict()
        self._counts: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._held = 0  # golden ids in _sets, plus one per entry
        self._horizon: int | None = None
        self._synced_at: datetime | None = None
        self._own: set[int] = set()  # writers of this cache's committed, patched changes
        self._generation = 0
        self._next_prune = 0.0
        self._lock = threading.Lock()  # a serving process applies from more than one thread
        self._syncing = threading.Lock()
        self.hits = 0
        self.misses = 0

    # -- a batch ------------------------------------------------------------------------------

    def begin(self, uow: UnitOfWork) -> Read | None:
        """Sync with the key-change log; the batch's read, or ``None`` when it must read the
        index itself (the cache is off, or this transaction has changed the index)."""
        if self.size <= 0 or uow.keys.changed:
            return None
        with self._syncing:
            with self._lock:
                horizon, skip = self._horizon, sorted(self._own)[-MAX_SKIPPED:]
            changes = uow.keys.changes_since(horizon, skip)
            with self._lock:
                stale = self._synced_at is None or changes.at - self._synced_at > self.retention / 2
                if horizon is None or stale:
                    self._clear()
                else:
                    for domain, keys in changes.keys.items():
                        for k in keys:
                            self._drop((domain, k))
                self._horizon, self._synced_at = changes.horizon, changes.at
                self._own = {w for w in self._own if w >= changes.horizon}
                if len(self._own) > MAX_SKIPPED:  # the oldest were read as others' just now
                    self._own = set(sorted(self._own)[-MAX_SKIPPED:])
                self._generation += 1
                read = Read(self._generation)
        if self.clock() >= self._next_prune:
            self._next_prune = self.clock() + PRUNE_EVERY
            uow.keys.prune_changes(self.retention)
        return read

    def find(
        self, uow: UnitOfWork, read: Read | None, domain: str, keys: Iterable[str]
    ) -> Mapping[str, AbstractSet[str]]:
        """The golden records holding each key (absent: none), as committed. Shared sets,
        not copies: the caller copies what it will change (``MatchContext.prefetch``)."""
        if read is None:
            return uow.keys.find(domain, keys)
        out: dict[str, AbstractSet[str]] = {}
        missing: list[str] = []
        with self._lock:
            for k in set(keys):
                held = self._sets.get((domain, k))
                if held is None:
                    held = read.sets.get((domain, k))
                else:
                    self._sets.move_to_end((domain, k))
                if held is None:
                    missing.append(k)
                elif held:
                    out[k] = held
                    self.hits += 1
        self.misses += len(missing)
        if missing:
            found = uow.keys.find(domain, missing)
            for k in missing:
                read.sets[(domain, k)] = frozenset(found.get(k, ()))
            out.update(found)
        return out

    def count(
        self, uow: UnitOfWork, read: Read | None, domain: str, keys: Iterable[str]
    ) -> dict[str, int]:
        """How many golden records hold each key (absent: none), as committed."""
        if read is None:
            return uow.keys.count(domain, keys)
        out: dict[str, int] = {}
        missing: list[str] = []
        with self._lock:
            for k in set(keys):
                n = self._counts.get((domain, k), read.counts.get((domain, k)))
                if n is None:
                    missing.append(k)
                else:
                    out[k] = n
        if missing:
            found = uow.keys.count(domain, missing)
            for k in missing:
                read.counts[(domain, k)] = out[k] = found.get(k, 0)
        return {k: n for k, n in out.items() if n}

    def committed(self, reads: Sequence[Read], diffs: Sequence[KeyDiff]) -> None:
        """After the transaction of ``reads`` committed with ``diffs``: keep what it read
        (if nothing changed the cache since it synced), then patch in what it changed."""
        if self.size <= 0:
            return
        with self._lock:
            for read in reads:
                if read.generation != self._generation:
                    continue
                for k, ids in read.sets.items():
                    self._put(k, ids)
                for k, n in read.counts.items():
                    self._counts[k] = n
                    self._counts.move_to_end(k)
            for diff in diffs:
                self._patch(diff)
                self._own.add(diff.writer)
            if diffs:
                self._generation += 1
            self._evict()

    # -- inside the lock ----------------------------------------------------------------------

    def _patch(self, diff: KeyDiff) -> None:
        """One new set per key changed, not one per pair: a broad key gains hundreds of
        golden records in a batch."""
        moved: dict[str, tuple[set[str], set[str]]] = {}
        for k, gid in diff.added:
            moved.setdefault(k, (set(), set()))[0].add(gid)
        for k, gid in diff.removed:
            moved.setdefault(k, (set(), set()))[1].add(gid)
        for k, (added, removed) in moved.items():
            at = (diff.domain, k)
            held = self._sets.get(at)
            if held is not None:
                self._put(at, (held - removed) | added)
            if at in self._counts:
                self._counts[at] = max(0, self._counts[at] + len(added) - len(removed))

    def _put(self, at: tuple[str, str], ids: frozenset[str]) -> None:
        self._drop_set(at)
        self._sets[at] = ids
        self._held += len(ids) + 1

    def _drop(self, at: tuple[str, str]) -> None:
        self._drop_set(at)
        self._counts.pop(at, None)

    def _drop_set(self, at: tuple[str, str]) -> None:
        held = self._sets.pop(at, None)
        if held is not None:
            self._held -= len(held) + 1

    def _evict(self) -> None:
        while self._held > self.size and self._sets:
            _, held = self._sets.popitem(last=False)
            self._held -= len(held) + 1
        while len(self._counts) > self.size:
            self._counts.popitem(last=False)

    def _clear(self) -> None:
        self._sets.clear()
        self._counts.clear()
        self._held = 0
        self._own.clear()

    def __len__(self) -> int:
        return len(self._sets) + len(self._counts)
