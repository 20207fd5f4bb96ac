"""The golden records repository: current rows and their version history.

A batch saves its golden records in three statements (new rows, changed rows, versions) so the
write cost does not grow with round trips (docs/architecture.md, "Speed")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, or_, select, type_coerce
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from hub.domain.errors import LockBusy
from hub.domain.model import CandidateGolden, GoldenRecord
from hub.store import tables as t
from hub.store.sql import (
    LOCK_RANK,
    Built,
    among,
    bulk_insert,
    chunks,
    driver_error,
    held_rank,
    listed,
    table_of,
)
from hub.store.update_rows import update_rows


def _golden(row: Any) -> GoldenRecord:
    return GoldenRecord(
        id=row.id,
        domain=row.domain,
        version=row.version,
        status=row.status,
        attributes=row.attributes,
        provenance=row.provenance,
        references=row.references,
        overrides=row.overrides or {},
        xref=row.xref or [],
        created_at=row.created_at,
        merged_into=row.merged_into,
        compared=row.compared,
    )


_GR = table_of(t.GoldenRecordRow)


def _by_id(pg: bool) -> Any:
    return select(_GR).where(among(_GR.c.id, "ids", pg))


# locked in id order, so two batches lock their common rows in one order; tried: not waited
# for (SQLite has one writer, and renders no row locks)
_READ = Built(_by_id)
_LOCKED = Built(lambda pg: _by_id(pg).order_by(_GR.c.id).with_for_update())
_TRIED = Built(lambda pg: _by_id(pg).order_by(_GR.c.id).with_for_update(nowait=True))
# A stamp's time is only ever compared with another read the same way, so it is taken as
# the driver gives it: SQLite's text, not parsed into a datetime (2 us a row, thousands of
# candidates a batch; hub/services/candidate_cache.py).
_STAMP_AT = type_coerce(_GR.c.updated_at, String())
_STAMP_COLUMNS = (_GR.c.id, _GR.c.domain, _GR.c.version, _GR.c.status, _STAMP_AT)
_CANDIDATES = Built(
    lambda pg: select(*_STAMP_COLUMNS, _GR.c.compared, _GR.c.attributes, _GR.c.references).where(
        among(_GR.c.id, "ids", pg)
    )
)
_CANDIDATE_STAMPS = Built(
    lambda pg: select(*_STAMP_COLUMNS, _GR.c.compared).where(among(_GR.c.id, "ids", pg))
)
_STAMPS = Built(
    lambda pg: select(_GR.c.id, _GR.c.version, _GR.c.status, _STAMP_AT).where(
        among(_GR.c.id, "ids", pg)
    )
)


class SqlGolden:
    def __init__(self, session: Session) -> None:
        self.s = session

    def referring_to(self, ids: Iterable[str]) -> set[str]:
        """A text search of the references: merges are rare, and a golden id (a UUID) cannot
        appear in the JSON by accident. One statement for all of a batch's merges."""
        gr = table_of(t.GoldenRecordRow)
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        refs = cast(gr.c.references, String)
        stmt = select(gr.c.id).where(or_(*(refs.like(f"%{gid}%") for gid in wanted)))
        return set(self.s.scalars(stmt))

    def active_ids(self, domain: str, after: str, limit: int) -> list[str]:
        gr = table_of(t.GoldenRecordRow)
        stmt = (
            select(gr.c.id)
            .where(gr.c.domain == domain, gr.c.status == "active", gr.c.id > after)
            .order_by(gr.c.id)
            .limit(limit)
        )
        return list(self.s.scalars(stmt))

    def load(self, ids: Iterable[str], lock: bool = False) -> dict[str, GoldenRecord]:
        out: dict[str, GoldenRecord] = {}
        # After the outbox lock (the one-by-one fallback's second change) a row lock is
        # tried, not waited for: the outbox lock comes last in the order, and a holder of a
        # row we want may be waiting for it (docs/architecture.md, "Locks").
        late = lock and held_rank(self.s) >= LOCK_RANK["outbox"]
        stmt = (_TRIED if late else _LOCKED if lock else _READ)(self.s)
        for part in chunks(sorted(set(ids))):
            try:
                rows = self.s.execute(stmt, {"ids": listed(self.s, part)}).all()
            except OperationalError as exc:
                if late and exc.orig is not None and driver_error(exc.orig, "LockNotAvailable"):
                    raise LockBusy("a golden record is locked by another transaction") from exc
                raise
            for row in rows:
                out[row.id] = _golden(row)
        return out

    def candidates(self, ids: Iterable[str], values: bool = True) -> dict[str, CandidateGolden]:
        out: dict[str, CandidateGolden] = {}
        stmt = (_CANDIDATES if values else _CANDIDATE_STAMPS)(self.s)
        for part in chunks(sorted(set(ids))):
            rows = self.s.execute(stmt, {"ids": listed(self.s, part)}).all()
            for gid, domain, version, status, at, kept, *given in rows:
                attrs, refs = given if given else (None, None)
                out[gid] = CandidateGolden(gid, domain, version, status, attrs, refs, at, kept)
        return out

    def stamps(self, ids: Iterable[str]) -> dict[str, tuple[int, str, object]]:
        out: dict[str, tuple[int, str, object]] = {}
        stmt = _STAMPS(self.s)
        for part in chunks(sorted(set(ids))):
            rows = self.s.execute(stmt, {"ids": listed(self.s, part)}).all()
            out.update((gid, (v, st, at)) for gid, v, st, at in rows)
        return out

    def save(
        self,
        records: Sequence[tuple[GoldenRecord, list[str], str]],
        search_names: Mapping[str, str],
        at: datetime,
        compared: Mapping[str, Any] | None = None,
    ) -> None:
        """Every record's row is written whole; ``compared`` holds the stamped compared
        values of those that have them (hub/services/compared.py), the others' are cleared."""
        if not records:
            return
        kept = compared or {}
        new = [g for g, _, _ in records if g.version == 1]
        old = [g for g, _, _ in records if g.version > 1]
        if new:
            self._insert(new, search_names, kept, at)
        if old:
            self._update(old, search_names, kept, at)
        self._add_versions(records, at)

    def keep_compared(self, compared: Mapping[str, Any]) -> None:
        gr = table_of(t.GoldenRecordRow)
        rows = [{"id": gid, "compared": kept} for gid, kept in sorted(compared.items())]
        update_rows(self.s, gr, ("id",), rows)

    def _insert(
        self,
        new: Sequence[GoldenRecord],
        search_names: Mapping[str, str],
        compared: Mapping[str, Any],
        at: datetime,
    ) -> None:
        rows = [
            {"id": g.id, "domain": g.domain, "created_at": at}
            | _written(g, search_names, compared, at)
            for g in new
        ]
        bulk_insert(self.s, table_of(t.GoldenRecordRow), rows)

    def _update(
        self,
        old: Sequence[GoldenRecord],
        search_names: Mapping[str, str],
        compared: Mapping[str, Any],
        at: datetime,
    ) -> None:
        rows = [
            {"id": g.id, "merged_into": g.merged_into} | _written(g, search_names, compared, at)
            for g in old
        ]
        update_rows(self.s, table_of(t.GoldenRecordRow), ("id",), rows)

    def _add_versions(
        self, records: Sequence[tuple[GoldenRecord, list[str], str]], at: datetime
    ) -> None:
        bulk_insert(
            self.s,
            table_of(t.GoldenVersionRow),
            [
                {
                    "golden_id": g.id,
                    "version": g.version,
                    "domain": g.domain,
                    "status": g.status,
                    "attributes": g.attributes,
                    "provenance": g.provenance,
                    "references": g.references,
                    "xref": g.xref,
                    "changed_fields": changed,
                    "cause": kind,
                    "created_at": at,
                }
                for g, changed, kind in records
            ],
        )


def _written(
    g: GoldenRecord, search_names: Mapping[str, str], compared: Mapping[str, Any], at: datetime
) -> dict[str, Any]:
    """The columns every write of a golden record sets, new or stored."""
    return {
        "version": g.version,
        "status": g.status,
        "attributes": g.attributes,
        "provenance": g.provenance,
        "references": g.references,
        "overrides": g.overrides,
        "xref": g.xref,
        "search_name": search_names.get(g.id, "")[:500],
        "compared": compared.get(g.id),
        "updated_at": at,
    }
