"""The source records repository and the references waiting for a record not yet seen.

Set-based like every repository (see ``hub/store/repositories.py``): one statement per batch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from hub.domain.model import CandidateMember, SourceRecord
from hub.store import tables as t
from hub.store.sql import Built, among, bulk_insert, chunks, grouped, listed, table_of
from hub.store.update_rows import update_rows

_SR = table_of(t.SourceRecordRow)
_BY_KEY = Built(
    lambda pg: select(_SR).where(
        among(_SR.c.source_key, "keys", pg),
        _SR.c.source == bindparam("source"),
        _SR.c.domain == bindparam("domain"),
    )
)
_LINKED = Built(lambda pg: select(_SR).where(among(_SR.c.golden_id, "ids", pg)).order_by(_SR.c.id))
_MEMBER = (_SR.c.source, _SR.c.domain, _SR.c.source_key, _SR.c.digest)
# a candidate's live records in link order: its members' stamps, and with their values
_MEMBERS = Built(
    lambda pg: (
        select(_SR.c.golden_id, *_MEMBER)
        .where(among(_SR.c.golden_id, "ids", pg), _SR.c.deleted.is_(False))
        .order_by(_SR.c.id)
    )
)
_LIVE = Built(
    lambda pg: (
        select(*_MEMBER, _SR.c.attributes, _SR.c.golden_id)
        .where(among(_SR.c.golden_id, "ids", pg), _SR.c.deleted.is_(False))
        .order_by(_SR.c.id)
    )
)
_PR = table_of(t.PendingReference)
_WAITING = Built(
    lambda pg: select(_PR.c.golden_id).where(
        among(_PR.c.target_key, "keys", pg),
        _PR.c.source == bindparam("source"),
        _PR.c.target_domain == bindparam("domain"),
    )
)
_UNPEND = Built(lambda pg: delete(_PR).where(among(_PR.c.golden_id, "ids", pg)))


def _record(row: Any) -> SourceRecord:
    return SourceRecord(
        source=row.source,
        domain=row.domain,
        key=row.source_key,
        attributes=row.attributes,
        changed_at=row.changed_at,
        sequence=row.sequence,
        digest=row.digest,
        golden_id=row.golden_id,
        deleted=row.deleted,
        link_rule=row.link_rule,
        id=row.id,
        run_id=row.run_id,
        stored=True,
    )


class SqlRecords:
    def __init__(self, session: Session) -> None:
        self.s = session

    def load(
        self, keys: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], SourceRecord]:
        out: dict[tuple[str, str, str], SourceRecord] = {}
        stmt = _BY_KEY(self.s)
        for (source, domain), part in grouped(keys):
            given = {"keys": listed(self.s, part), "source": source, "domain": domain}
            for row in self.s.execute(stmt, given).all():
                out[(row.source, row.domain, row.source_key)] = _record(row)
        return out

    def linked_to(self, golden_ids: Iterable[str]) -> dict[str, list[SourceRecord]]:
        out: dict[str, list[SourceRecord]] = {}
        stmt = _LINKED(self.s)
        for part in chunks(set(golden_ids)):
            for row in self.s.execute(stmt, {"ids": listed(self.s, part)}).all():
                out.setdefault(row.golden_id, []).append(_record(row))
        return out

    def live(self, golden_ids: Iterable[str]) -> dict[str, list[CandidateMember]]:
        out: dict[str, list[CandidateMember]] = {}
        stmt = _LIVE(self.s)
        for part in chunks(set(golden_ids)):
            for row in self.s.execute(stmt, {"ids": listed(self.s, part)}).all():
                out.setdefault(row[5], []).append(CandidateMember(*row))
        return out

    def members(self, golden_ids: Iterable[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
        out: dict[str, list[tuple[str, ...]]] = {}
        stmt = _MEMBERS(self.s)
        for part in chunks(set(golden_ids)):
            for gid, *member in self.s.execute(stmt, {"ids": listed(self.s, part)}).all():
                out.setdefault(gid, []).append(tuple(member))
        return {gid: tuple(ms) for gid, ms in out.items()}

    def save(self, records: Sequence[SourceRecord], at: datetime) -> None:
        """Insert the new records and update the stored ones, one statement per shape."""
        sr = table_of(t.SourceRecordRow)
        new = [_row(r, at) for r in records if not r.stored]
        if new:
            bulk_insert(self.s, sr, new)
        old = [
            {"source_key": r.key, "source": r.source, "domain": r.domain}
            | _state(r)
            | {"updated_at": at}
            for r in records
            if r.stored
        ]
        update_rows(self.s, sr, ("source_key", "source", "domain"), old)
        for r in records:
            r.dirty = False
            r.stored = True


_STATE = ("golden_id", "attributes", "sequence", "changed_at", "digest", "deleted", "link_rule")
"""The columns an apply changes on a stored record (its identity and run stay)."""


def _state(r: SourceRecord) -> dict[str, object]:
    return {
        "golden_id": r.golden_id,
        "attributes": r.attributes,
        "sequence": r.sequence,
        "changed_at": r.changed_at,
        "digest": r.digest,
        "deleted": r.deleted,
        "link_rule": r.link_rule,
    }


def _row(r: SourceRecord, at: datetime) -> dict[str, object]:
    return {
        "source": r.source,
        "domain": r.domain,
        "source_key": r.key,
        "run_id": r.run_id,
        "updated_at": at,
    } | _state(r)


class SqlPending:
    def __init__(self, session: Session) -> None:
        self.s = session

    def waiting_for(self, targets: Iterable[tuple[str, str, str]]) -> set[str]:
        out: set[str] = set()
        stmt = _WAITING(self.s)
        for (source, domain), part in grouped(targets):
            given = {"keys": listed(self.s, part), "source": source, "domain": domain}
            out.update(self.s.execute(stmt, given).scalars())
        return out

    def replace(self, golden_ids: Iterable[str], rows: Sequence[dict[str, Any]]) -> None:
        for part in chunks(set(golden_ids)):
            self.s.execute(_UNPEND(self.s), {"ids": listed(self.s, part)})
        if rows:
            now = datetime.now().astimezone()
            bulk_insert(self.s, _PR, [{**r, "created_at": now} for r in rows])
