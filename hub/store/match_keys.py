"""The blocking-key index: which golden records hold a match key, for candidate search and
for the key locks a batch takes before it creates golden records."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from hub.services.key_ports import KeyChanges, KeyDiff
from hub.store import tables as t
from hub.store.key_log import changes_since, log_change, prune
from hub.store.sql import Built, among, bulk_insert, chunks, listed, table_of

_BK = table_of(t.BlockingKeyRow)
KEY_LENGTH = 600  # the index's column: a longer key is kept cut to this
_IN_DOMAIN = _BK.c.domain == bindparam("domain")
_FIND = Built(
    lambda pg: select(_BK.c.key, _BK.c.golden_id).where(_IN_DOMAIN, among(_BK.c.key, "keys", pg))
)
_COUNT = Built(
    lambda pg: (
        select(_BK.c.key, func.count())
        .where(_IN_DOMAIN, among(_BK.c.key, "keys", pg))
        .group_by(_BK.c.key)
    )
)
_HELD = Built(
    lambda pg: select(_BK.c.id, _BK.c.key, _BK.c.golden_id).where(among(_BK.c.golden_id, "ids", pg))
)
_DROP = Built(lambda pg: delete(_BK).where(among(_BK.c.id, "ids", pg)))


class SqlKeys:
    def __init__(self, session: Session) -> None:
        self.s = session
        self.changed = False

    def find(self, domain: str, keys: Iterable[str]) -> dict[str, set[str]]:
        asked = _as_stored(keys)
        out: dict[str, set[str]] = {}
        stmt = _FIND(self.s)
        for part in chunks(asked):
            given = {"domain": domain, "keys": listed(self.s, part)}
            for key, gid in self.s.execute(stmt, given).all():
                for original in asked[key]:
                    out.setdefault(original, set()).add(gid)
        return out

    def count(self, domain: str, keys: Iterable[str]) -> dict[str, int]:
        asked = _as_stored(keys)
        out: dict[str, int] = {}
        stmt = _COUNT(self.s)
        for part in chunks(asked):
            rows = self.s.execute(stmt, {"domain": domain, "keys": listed(self.s, part)}).all()
            out.update((original, int(n)) for key, n in rows for original in asked[key])
        return out

    def replace(self, domain: str, keys: Mapping[str, set[str]]) -> KeyDiff | None:
        """Make the index hold exactly ``keys`` for these golden records, writing only the
        difference: most updates change no key, and rewriting them all churned the index.
        The keys changed are logged for the appliers that cache the index."""
        held: dict[tuple[str, str], int] = {}
        stmt = _HELD(self.s)
        for part in chunks(keys, 1000):
            rows = self.s.execute(stmt, {"ids": listed(self.s, part)}).all()
            held.update(((k, g), i) for i, k, g in rows)
        wanted = {(k[:KEY_LENGTH], g) for g, ks in keys.items() for k in ks}
        stale = {kg: i for kg, i in held.items() if kg not in wanted}
        for ids in chunks(stale.values(), 1000):
            self.s.execute(_DROP(self.s), {"ids": listed(self.s, ids)})
        added = sorted(wanted - held.keys())
        if added:
            bulk_insert(
                self.s, _BK, [{"domain": domain, "key": k, "golden_id": g} for k, g in added]
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


def _as_stored(keys: Iterable[str]) -> dict[str, list[str]]:
    """The keys as the index holds them (cut to ``KEY_LENGTH``), each with the keys asked
    for that it stands for: a longer key (an identifier can be up to 10,000 characters) was
    looked up whole, and found nothing on either database."""
    out: dict[str, list[str]] = {}
    for k in set(keys):
        out.setdefault(k[:KEY_LENGTH], []).append(k)
    return out
