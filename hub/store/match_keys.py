"""The blocking-key index: which golden records hold a match key, for candidate search and
for the key locks a batch takes before it creates golden records."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.services.key_ports import KeyChanges, KeyDiff
from hub.store import tables as t
from hub.store.key_log import changes_since, log_change, prune
from hub.store.sql import bulk_insert, chunks, one_of, table_of


class SqlKeys:
    def __init__(self, session: Session) -> None:
        self.s = session
        self.changed = False

    def find(self, domain: str, keys: Iterable[str]) -> dict[str, set[str]]:
        bk = table_of(t.BlockingKeyRow)
        out: dict[str, set[str]] = {}
        for part in chunks(set(keys)):
            stmt = select(bk.c.key, bk.c.golden_id).where(
                bk.c.domain == domain, one_of(self.s, bk.c.key, part)
            )
            for key, gid in self.s.execute(stmt):
                out.setdefault(key, set()).add(gid)
        return out

    def count(self, domain: str, keys: Iterable[str]) -> dict[str, int]:
        bk = table_of(t.BlockingKeyRow)
        out: dict[str, int] = {}
        for part in chunks(set(keys)):
            stmt = (
                select(bk.c.key, func.count())
                .where(bk.c.domain == domain, one_of(self.s, bk.c.key, part))
                .group_by(bk.c.key)
            )
            out.update((key, int(n)) for key, n in self.s.execute(stmt))
        return out

    def replace(self, domain: str, keys: Mapping[str, set[str]]) -> KeyDiff | None:
        """Make the index hold exactly ``keys`` for these golden records, writing only the
        difference: most updates change no key, and rewriting them all churned the index.
        The keys changed are logged for the appliers that cache the index."""
        bk = table_of(t.BlockingKeyRow)
        held: dict[tuple[str, str], int] = {}
        for part in chunks(keys, 1000):
            stmt = select(bk.c.id, bk.c.key, bk.c.golden_id).where(
                one_of(self.s, bk.c.golden_id, part)
            )
            held.update(((k, g), i) for i, k, g in self.s.execute(stmt))
        wanted = {(k[:600], g) for g, ks in keys.items() for k in ks}
        stale = {kg: i for kg, i in held.items() if kg not in wanted}
        for ids in chunks(stale.values(), 1000):
            self.s.execute(delete(bk).where(one_of(self.s, bk.c.id, ids)))
        added = sorted(wanted - held.keys())
        if added:
            bulk_insert(
                self.s, bk, [{"domain": domain, "key": k, "golden_id": g} for k, g in added]
            )
        if not added and not stale:
            return None
        self.changed = True
        writer = log_change(self.s, domain, {k for k, _ in added} | {k for k, _ in stale})
        return KeyDiff(writer, domain, tuple(added), tuple(sorted(stale)))

    def changes_since(self, horizon: int | None, skip: Collection[int]) -> KeyChanges:
        return changes_since(self.s, horizon, skip)

    def prune_changes(self, retention: timedelta) -> int:
        return prune(self.s, retention)
