"""Candidates an applier has met before, kept between its batches.

A golden record under a broad blocking key is a candidate for records in batch after batch.
Reading it and its live source records again each time (their attributes as JSON) and
normalising its names, phones and addresses again for the matcher were most of a batch's
linking cost. The applier keeps them here and each batch checks them against the database
first, with two light queries that read no attributes: a golden record's (version, status,
updated_at) and the (source, domain, key, digest) of each of its live source records. An entry
whose stamp differs is read again in full; so several appliers, a steward's merge or an
onboarding rollback can change any of it and the next batch sees the change
(docs/architecture.md, "Speed").

Why the stamp is enough: every write of a golden record sets its ``updated_at`` (and a new
version), and a source record's digest is a hash of its attributes, so equal stamps mean equal
contents. A golden record's stamp is read with its row. Its records' part of the stamp is taken
from the records as read, since a digest can come back (a source that sends A, then B, then A
again). Only the candidates the cache holds are checked; the others are read in full at once.

Entries are shared by batches and must never be changed: the apply path only reads
candidates (a candidate it links to is re-read, locked, by survival).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.domain.model import CandidateGolden, CandidateMember
from hub.domain.spec import SourceSpec
from hub.services.ports import UnitOfWork
from matching import Views

DEFAULT_SIZE = 50_000

KeptViews = Callable[
    [CandidateGolden, Sequence[CandidateMember], Mapping[str, SourceSpec]], Views | None
]
"""A candidate read without its values (and its members'), as the matcher compares it from
its kept compared values; ``None`` when they do not hold (it is read again in full)."""


@dataclass
class Entry:
    stamp: tuple[Any, ...]
    golden: CandidateGolden
    records: list[CandidateMember]
    # the candidate as the matcher compares it, once a batch has made it (and its compared
    # values, which the matcher fills in as it goes)
    views: Views | None = field(default=None)


class CandidateCache:
    """Golden records with their live source records and views, least recently used out."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._sources: Mapping[str, SourceSpec] | None = None
        self._lock = threading.Lock()  # a serving process applies from more than one thread
        self.hits = 0
        self.misses = 0

    def fetch(
        self,
        uow: UnitOfWork,
        ids: Iterable[str],
        sources: Mapping[str, SourceSpec],
        kept: KeptViews | None = None,
    ) -> dict[str, Entry]:
        """The stored golden records among ``ids``, each as committed now: from the cache
        where its stamp still holds, read where it does not: without their values where
        ``kept`` makes their views from the compared values kept with them, in full
        otherwise."""
        wanted = set(ids)
        if not wanted:
            return {}
        with self._lock:
            if sources != self._sources:  # a source's kind or rank shapes every view
                self._entries.clear()
                self._sources = dict(sources)
            known = {gid for gid in wanted if gid in self._entries}
        # Only what the cache holds is checked; the rest is read in full straight away, its
        # stamp with it (most candidates of an onboarding load were never met before).
        stamps = uow.golden.stamps(known) if known else {}
        members = uow.records.members(stamps.keys()) if stamps else {}
        found: dict[str, Entry] = {}
        with self._lock:
            for gid, stamp in stamps.items():
                entry = self._entries.get(gid)
                if entry is not None and entry.stamp == (stamp, members.get(gid, ())):
                    self._entries.move_to_end(gid)
                    found[gid] = entry
        stale = sorted(wanted - found.keys())
        self.hits += len(found)
        if not stale:
            return found
        fresh = self._lean(uow, stale, sources, kept) if kept is not None else {}
        fresh |= self._full(uow, [gid for gid in stale if gid not in fresh])
        self.misses += len(fresh)
        with self._lock:
            for gid, entry in fresh.items():
                self._entries[gid] = entry
                self._entries.move_to_end(gid)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return found | fresh

    @staticmethod
    def _lean(
        uow: UnitOfWork, ids: list[str], sources: Mapping[str, SourceSpec], kept: KeptViews
    ) -> dict[str, Entry]:
        """The candidates among ``ids`` whose kept compared values hold, read without any
        values: their rows' stamps and compared values, and their members' (source, domain,
        key, digest). At a million golden clients most candidates are met once; read alone,
        these take a quarter (golden rows) and two fifths (members) less time than the full
        reads, though inside an onboarding commit the two together gained only 3-6 s per
        applier (docs/benchmarks/onboard-1m-100k-lean-ab-2026-12-06.txt). The stamp check is
        the same as the full read's, so a value kept stale is read in full and compared as
        before (hub/services/compared.py)."""
        goldens = uow.golden.candidates(ids, values=False)
        held = uow.records.members(goldens.keys()) if goldens else {}
        out: dict[str, Entry] = {}
        for gid, golden in goldens.items():
            stamped = held.get(gid, ())
            members = [CandidateMember(m[0], m[1], m[2], m[3], {}, gid) for m in stamped]
            if golden.status != "active":  # never compared: no views needed
                out[gid] = Entry((golden.stamp, stamped), golden, members)
            elif (views := kept(golden, members, sources)) is not None:
                out[gid] = Entry((golden.stamp, stamped), golden, members, views)
        return out

    @staticmethod
    def _full(uow: UnitOfWork, stale: list[str]) -> dict[str, Entry]:
        if not stale:
            return {}
        goldens = uow.golden.candidates(stale)
        linked = uow.records.live(stale)
        fresh: dict[str, Entry] = {}
        for gid in stale:
            golden = goldens.get(gid)
            if golden is None:  # not stored, or deleted since: as if never found
                continue
            live = linked.get(gid, [])
            # its members as read now, not as stamped a moment ago: a record changed in
            # between and changed back later would otherwise match a stamp it does not hold
            now = tuple(m[:4] for m in live)  # (source, domain, key, digest)
            fresh[gid] = Entry((golden.stamp, now), golden, live)
        return fresh

    def keep_views(self, gid: str, golden: CandidateGolden, views: Views) -> None:
        """Remember the views a batch made of ``golden``, if the cache still holds that very
        copy of it (not one read again since)."""
        with self._lock:
            entry = self._entries.get(gid)
            if entry is not None and entry.golden is golden:
                entry.views = views

    def __len__(self) -> int:
        return len(self._entries)
