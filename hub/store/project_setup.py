"""What project setup keeps: its outbox cursor, the shells it made, the exceptions that wait.

The cursor row is locked for the whole round (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so
several appliers never make two shells for one opportunity: the one that holds it advances,
the others skip the round (docs/architecture.md, "Project setup").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from hub.store import tables as t
from hub.store.sql import (
    Built,
    among,
    bulk_insert,
    chunks,
    insert_ignoring,
    listed,
    table_of,
)

CURSOR = "project_setup"


_CURSOR = table_of(t.SetupCursor)
_SEQ = select(_CURSOR.c.seq).where(_CURSOR.c.name == CURSOR)
# the cursor row locked for the round (SQLite has one writer, and renders no row locks)
_SEQ_LOCKED = _SEQ.with_for_update(skip_locked=True)
_MOVE = update(_CURSOR).where(_CURSOR.c.name == CURSOR).values(seq=bindparam("seq"))
_OUT = table_of(t.OutboxRow)
_AFTER = Built(
    lambda pg: (
        select(_OUT.c.seq, _OUT.c.domain, _OUT.c.golden_id, _OUT.c.created_at)
        .where(_OUT.c.seq > bindparam("seq"), among(_OUT.c.domain, "domains", pg))
        .order_by(_OUT.c.seq)
        .limit(bindparam("limit"))
    )
)
_EXC = table_of(t.SetupException)
_WAITING = Built(
    lambda pg: select(_EXC.c.opportunity_id).where(
        among(_EXC.c.client_id, "ids", pg), _EXC.c.status.in_(("open", "deferred"))
    )
)


class SqlSetup:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_cursor(self) -> int | None:
        """The cursor, locked for this transaction; None while another process holds it."""
        locked = _SEQ_LOCKED
        seq = self.session.execute(locked).scalar_one_or_none()
        if seq is not None:
            return int(seq)
        if self.session.execute(_SEQ).scalar_one_or_none() is not None:
            return None  # it exists: another process holds it
        first = insert_ignoring(self.session, t.SetupCursor).values(name=CURSOR, seq=0)
        self.session.execute(first)
        seq = self.session.execute(locked).scalar_one_or_none()
        return None if seq is None else int(seq)

    def move_cursor(self, seq: int) -> None:
        self.session.execute(_MOVE, {"seq": seq})

    def events_after(
        self, seq: int, domains: Sequence[str], limit: int
    ) -> list[tuple[int, str, str, datetime]]:
        """(seq, domain, golden id, committed at) of the golden changes after ``seq``, in
        commit order."""
        given = {"seq": seq, "domains": listed(self.session, domains), "limit": limit}
        rows = self.session.execute(_AFTER(self.session), given).all()
        return [(int(s), str(d), str(g), at) for s, d, g, at in rows]

    def last_seq(self) -> int:
        return int(self.session.scalar(select(func.coalesce(func.max(t.OutboxRow.seq), 0))) or 0)

    def shell(self, opportunity_id: str) -> t.ProjectShell | None:
        return self.session.get(t.ProjectShell, opportunity_id)

    def add_shell(
        self,
        opportunity_id: str,
        client_id: str | None,
        code_for: Any,
        at: datetime,
        contracted_at: datetime | None = None,
    ) -> str:
        """A new shell numbered after the last (the cursor lock keeps numbering single)."""
        number = int(self.session.scalar(select(func.max(t.ProjectShell.number))) or 0)
        code = str(code_for(number + 1))
        self.session.add(
            t.ProjectShell(
                opportunity_id=opportunity_id,
                number=number + 1,
                code=code,
                status="created",
                client_id=client_id,
                contracted_at=contracted_at,
                created_at=at,
                updated_at=at,
            )
        )
        return code

    def mark(self, opportunity_id: str, milestone: str, at: datetime) -> None:
        """``published`` or ``linked``: the first time only, for the setup cycle KPI."""
        column = getattr(t.ProjectShell, f"{milestone}_at")
        self.session.execute(
            update(t.ProjectShell)
            .where(t.ProjectShell.opportunity_id == opportunity_id, column.is_(None))
            .values({column: at})
        )

    def set_shell_status(self, opportunity_id: str, status: str, at: datetime) -> None:
        self.session.execute(
            update(t.ProjectShell)
            .where(t.ProjectShell.opportunity_id == opportunity_id)
            .values(status=status, updated_at=at)
        )

    def open_exception(
        self,
        opportunity_id: str,
        client_id: str | None,
        problems: list[dict[str, str]],
        at: datetime,
    ) -> None:
        row = self.session.get(t.SetupException, opportunity_id)
        if row is None:
            self.session.add(
                t.SetupException(
                    opportunity_id=opportunity_id,
                    client_id=client_id,
                    status="open",
                    problems=problems,
                    created_at=at,
                    updated_at=at,
                )
            )
        elif row.status == "deferred" and row.problems == problems:
            return  # finance put it off; it waits, deferred, until something else fails
        elif row.status != "open" or row.problems != problems or row.client_id != client_id:
            if row.status not in ("open", "deferred"):  # opened again: it waits from now
                row.created_at = at
            row.status, row.problems, row.client_id, row.updated_at = (
                "open",
                problems,
                client_id,
                at,
            )

    def resolve_exception(self, opportunity_id: str, at: datetime) -> None:
        self.session.execute(
            update(t.SetupException)
            .where(
                t.SetupException.opportunity_id == opportunity_id,
                t.SetupException.status.in_(("open", "deferred")),
            )
            .values(status="resolved", decided_by="concord", updated_at=at)
        )

    def set_issues(
        self, domain: str, issues: dict[str, list[dict[str, str]]], at: datetime
    ) -> None:
        """Replace the data-quality issues of these golden records (none: no row)."""
        ids = list(issues)
        for part in chunks(ids):
            self.session.execute(delete(t.DataQuality).where(t.DataQuality.golden_id.in_(part)))
        rows = [
            {"golden_id": gid, "domain": domain, "issues": found, "updated_at": at}
            for gid, found in issues.items()
            if found
        ]
        if rows:
            bulk_insert(self.session, table_of(t.DataQuality), rows)

    def note_time(self, entries: dict[str, int], at: datetime) -> None:
        """Add to each project's count of validated entries; its first time is kept. Row
        locks in golden id order, so two validations of the same projects wait in turn."""
        ids = sorted(entries)
        found = {
            row.golden_id: row
            for row in self.session.scalars(
                select(t.ProjectTime)
                .where(t.ProjectTime.golden_id.in_(ids))
                .order_by(t.ProjectTime.golden_id)
                .with_for_update()
            )
        }
        for gid in ids:
            row = found.get(gid)
            if row is None:
                self.session.add(
                    t.ProjectTime(golden_id=gid, entries=entries[gid], first_at=at, last_at=at)
                )
            else:
                row.entries, row.last_at = row.entries + entries[gid], at
        self.session.flush()

    def time_on(self, golden_id: str) -> tuple[int, datetime | None]:
        """Entries validated against a golden project and the golden records merged into
        it (time booked on a duplicate of the project counts), and since when."""
        merged = select(t.GoldenRecordRow.id).where(t.GoldenRecordRow.merged_into == golden_id)
        row = self.session.execute(
            select(
                func.coalesce(func.sum(t.ProjectTime.entries), 0), func.min(t.ProjectTime.first_at)
            ).where((t.ProjectTime.golden_id == golden_id) | t.ProjectTime.golden_id.in_(merged))
        ).one()
        return int(row[0]), row[1]

    def issues_of(self, golden_ids: list[str]) -> dict[str, list[dict[str, str]]]:
        """The open issues of these golden records, as last checked (none: not in the map)."""
        out: dict[str, list[dict[str, str]]] = {}
        for part in chunks(golden_ids):
            stmt = select(t.DataQuality.golden_id, t.DataQuality.issues).where(
                t.DataQuality.golden_id.in_(part)
            )
            out.update({gid: list(found or []) for gid, found in self.session.execute(stmt)})
        return out

    def active_ids(self, domain: str, limit: int | None = None) -> list[str]:
        stmt = select(t.GoldenRecordRow.id).where(
            t.GoldenRecordRow.domain == domain, t.GoldenRecordRow.status == "active"
        )
        return list(self.session.scalars(stmt.limit(limit) if limit else stmt))

    def exception(self, opportunity_id: str) -> t.SetupException | None:
        return self.session.get(t.SetupException, opportunity_id, with_for_update=True)

    def decide_exception(
        self, opportunity_id: str, status: str, by: str, reason: str, at: datetime
    ) -> None:
        self.session.execute(
            update(t.SetupException)
            .where(t.SetupException.opportunity_id == opportunity_id)
            .values(status=status, decided_by=by, reason=reason, updated_at=at)
        )

    def waiting_since(self, opportunity_id: str) -> datetime | None:
        """When the deal's exception opened: a retried deal's setup cycle counts from then."""
        row = self.session.get(t.SetupException, opportunity_id)
        waiting = row is not None and row.status in ("open", "deferred")
        return row.created_at if row is not None and waiting else None

    def waiting_on(self, client_ids: Iterable[str]) -> set[str]:
        """Opportunities whose open exception waits on one of these clients."""
        ids = list(client_ids)
        if not ids:
            return set()
        given = {"ids": listed(self.session, ids)}
        return set(self.session.execute(_WAITING(self.session), given).scalars())


def list_exceptions(
    session: Session, status: str = "open", limit: int = 100
) -> list[dict[str, Any]]:
    """Setup exceptions, newest first, for finance operations (API and steward pages)."""
    rows = session.scalars(
        select(t.SetupException)
        .where(t.SetupException.status == status)
        .order_by(t.SetupException.updated_at.desc())
        .limit(limit)
    )
    return [
        {
            "opportunity_id": r.opportunity_id,
            "client_id": r.client_id,
            "status": r.status,
            "problems": r.problems,
            "decided_by": r.decided_by,
            "reason": r.reason,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        for r in rows
    ]


def list_shells(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(t.ProjectShell).order_by(t.ProjectShell.number.desc()).limit(limit)
    )
    return [
        {
            "opportunity_id": r.opportunity_id,
            "code": r.code,
            "status": r.status,
            "client_id": r.client_id,
            "contracted_at": r.contracted_at,
            "created_at": r.created_at,
            "published_at": r.published_at,
            "linked_at": r.linked_at,
        }
        for r in rows
    ]
