"""The outbox repository: events written in the same transaction as the change that made them,
so a crash can never lose one (docs/architecture.md, "Locks", step 4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from hub.store import tables as t
from hub.store.sql import OUTBOX_LOCK, bulk_insert, is_postgres, note_lock, table_of


class SqlOutbox:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, events: Sequence[dict[str, Any]]) -> None:
        """Append events. On PostgreSQL, sequence numbers are taken under a transaction lock,
        so they are handed out in commit order and the feed can never skip a late commit."""
        if not events:
            return
        if is_postgres(self.s):
            self.s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": OUTBOX_LOCK})
            note_lock(self.s, "outbox")
        bulk_insert(
            self.s,
            table_of(t.OutboxRow),
            [
                {
                    "event_id": e["event"]["id"],
                    "domain": e["domain"],
                    "golden_id": e["golden_id"],
                    "version": e["version"],
                    "type": e["type"],
                    "payload": e["event"],
                    "correlation_id": e.get("correlation_id"),
                    "created_at": e["at"],
                }
                for e in events
            ],
        )
