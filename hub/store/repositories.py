"""Set-based repositories: every method is one or a few statements for a whole batch.

Per-row ORM round trips cap a hub at about a thousand changes a second (docs/architecture.md,
"Speed"), so these load by ``IN`` lists and write with ``executemany`` and ``insert ... on
conflict``. Each repository lives in its own module; this one gathers their names, so the unit
of work and the tests import them from one place."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.domain.spec import SourceSpec
from hub.store import tables as t
from hub.store.candidates import SqlCandidates
from hub.store.golden_records import SqlGolden
from hub.store.match_keys import SqlKeys
from hub.store.outbox import SqlOutbox
from hub.store.source_records import SqlPending, SqlRecords, _record
from hub.store.sql import table_of

__all__ = [
    "SqlCandidates",
    "SqlGolden",
    "SqlKeys",
    "SqlOutbox",
    "SqlPending",
    "SqlRecords",
    "_record",
    "load_sources",
]


def load_sources(session: Session) -> dict[str, SourceSpec]:
    return {
        row.name: SourceSpec(row.name, row.kind, row.rank)
        for row in session.execute(select(table_of(t.SourceSystem)))
    }
