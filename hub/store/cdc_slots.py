"""The hub's memory of each logical decoding slot (``SlotMemory``): was its snapshot finished,
where is it.

Kept in the hub's database (table ``cdc_slot``), not in the source: the connector writes
nothing to a source database but its slot.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from hub.domain.errors import Forbidden
from hub.services.ports import SlotState
from hub.store import tables as t
from hub.store.uow import admin_session


class SlotStore:
    """Each call is one short committed transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, source: str, slot: str) -> SlotState | None:
        with admin_session(self.engine) as s:
            row = s.get(t.CdcSlot, (source, slot))
            if row is None:
                return None
            return SlotState(
                row.source,
                row.slot,
                row.snapshot_lsn,
                row.snapshot_rows,
                row.snapshot_done_at,
                row.confirmed_lsn,
            )

    def begin(self, source: str, slot: str, snapshot_lsn: int | None, done: bool) -> None:
        """A new slot: its snapshot is to be read (or, with ``done``, is not wanted)."""
        now = datetime.now(UTC)
        with admin_session(self.engine) as s:
            row = s.get(t.CdcSlot, (source, slot))
            if row is None:
                row = t.CdcSlot(source=source, slot=slot)
                s.add(row)
            row.snapshot_lsn = snapshot_lsn
            row.snapshot_rows = 0
            row.snapshot_done_at = now if done else None
            row.confirmed_lsn = snapshot_lsn
            row.updated_at = now

    def finish_snapshot(self, source: str, slot: str, rows: int) -> None:
        now = datetime.now(UTC)
        with admin_session(self.engine) as s:
            row = s.get_one(t.CdcSlot, (source, slot))
            row.snapshot_rows, row.snapshot_done_at, row.updated_at = rows, now, now

    def confirm(self, source: str, slot: str, lsn: int) -> None:
        with admin_session(self.engine) as s:
            row = s.get_one(t.CdcSlot, (source, slot))
            row.confirmed_lsn, row.updated_at = lsn, datetime.now(UTC)

    def all(self) -> list[SlotState]:
        with admin_session(self.engine) as s:
            return [
                SlotState(
                    r.source,
                    r.slot,
                    r.snapshot_lsn,
                    r.snapshot_rows,
                    r.snapshot_done_at,
                    r.confirmed_lsn,
                )
                for r in s.scalars(select(t.CdcSlot).order_by(t.CdcSlot.source, t.CdcSlot.slot))
            ]


def check_source(engine: Engine, source: str, domains: set[str]) -> None:
    """A connector writes as one registered source system, and only to its domains, as the
    HTTP API's source keys do.

    Raises:
        Forbidden: naming the source and the domain.
    """
    with admin_session(engine) as s:
        row = s.get(t.SourceSystem, source)
        if row is None:
            raise Forbidden(
                f"source {source!r} is not registered (concord sources add {source} "
                f"--domains {','.join(sorted(domains))})"
            )
        for domain in sorted(domains - set(row.domains)):
            raise Forbidden(f"source {source!r} may not write {domain} records")
