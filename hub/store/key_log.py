"""The key-change log: which match keys each transaction changed, so an applier that caches
the key index (hub/services/key_cache.py) learns what another writer changed since it last
looked, without reading the index again (docs/architecture.md, "Speed").

A reader keeps a *horizon* and reads the changes past it. The hard part is commit order:
numbers handed out while transactions run do not follow the order they commit in, so "every
row after the last one I saw" would miss a change that committed late with an early number.
On PostgreSQL each row carries its writer's transaction id; the horizon is the oldest
transaction still running when the reader last looked (``pg_snapshot_xmin``), and a read
returns every visible row whose writer is at or past it. A transaction that had not
committed then has an id at or past that horizon, so its rows are read once it commits;
rows read twice only make the reader drop a key once more. SQLite lets one writer at a time
hold the database until it commits, so its row ids follow commit order and the horizon is
simply the last id read.

The log is pruned through marks: a mark records the horizon at a time, and rows older than a
mark that is itself older than the retention are deleted. A reader that has not looked for
half the retention starts afresh (``KeyChanges.at``), so none misses a deleted row.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, literal_column, select, text
from sqlalchemy.orm import Session

from hub.services.key_ports import KeyChanges
from hub.store import tables as t
from hub.store.sql import Built, is_postgres, table_of

_XID = "pg_current_xact_id()::text::bigint"
_XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


_KC = table_of(t.KeyChangeRow)
_LOGGED = Built(
    lambda pg: (
        insert(_KC)
        .values(writer=text(_XID), domain=bindparam("domain"), keys=bindparam("keys"))
        .returning(_KC.c.writer)
        if pg
        else insert(_KC)
        .values(domain=bindparam("domain"), keys=bindparam("keys"))
        .returning(_KC.c.id)
    )
)
# one statement, so the horizon and the rows come from one snapshot (PostgreSQL)
_NOW = select(literal_column(_XMIN).label("horizon"), func.statement_timestamp().label("at"))
_S = _NOW.cte("s")
_SINCE_PG = select(_S.c.horizon, _S.c.at, _KC.c.domain, _KC.c["keys"]).outerjoin(
    _KC,
    (_KC.c.writer >= bindparam("horizon")) & _KC.c.writer.not_in(bindparam("skip", expanding=True)),
)


def log_change(session: Session, domain: str, keys: Collection[str]) -> int:
    """Record that this transaction changed ``keys``; returns the writer's mark (its
    transaction id on PostgreSQL, the row's id on SQLite) for the writer's own cache."""
    stmt = _LOGGED(session)
    return int(session.execute(stmt, {"domain": domain, "keys": sorted(keys)}).scalar_one())


def changes_since(session: Session, horizon: int | None, skip: Collection[int]) -> KeyChanges:
    """The keys changed by transactions past ``horizon`` (``None``: only where the log
    stands now), leaving out the writers in ``skip`` (the reader's own, already known)."""
    kc = _KC
    if is_postgres(session):
        if horizon is None:
            h, at = session.execute(_NOW).one()
            return KeyChanges(int(h), _utc(at))
        rows = session.execute(_SINCE_PG, {"horizon": horizon, "skip": list(skip) or [-1]}).all()
        out = KeyChanges(int(rows[0][0]), _utc(rows[0][1]))
        for _, _, domain, keys in rows:
            if domain is not None:
                out.keys.setdefault(domain, set()).update(keys)
        return out
    at = datetime.now(UTC)
    if horizon is None:
        last = session.execute(select(func.max(kc.c.id))).scalar()
        return KeyChanges(int(last or 0), at)
    out = KeyChanges(horizon, at)
    for i, domain, keys in session.execute(
        select(kc.c.id, kc.c.domain, kc.c["keys"]).where(kc.c.id > horizon)
    ):
        out.horizon = max(out.horizon, int(i))
        if i not in skip:
            out.keys.setdefault(domain, set()).update(keys)
    return out


def prune(session: Session, retention: timedelta) -> int:
    """Mark where the log stands now, and delete the rows older than the newest mark that is
    older than ``retention``; returns how many rows went."""
    kc, mark = table_of(t.KeyChangeRow), table_of(t.KeyChangeMark)
    if is_postgres(session):
        # the time is read after the snapshot: a mark never claims an earlier time than its
        # horizon was true at
        session.execute(
            insert(mark).from_select(
                ["at", "horizon"], select(func.clock_timestamp(), literal_column(_XMIN))
            )
        )
        now = _utc(session.execute(select(func.clock_timestamp())).scalar_one())
    else:
        last = session.execute(select(func.max(kc.c.id))).scalar() or 0
        now = datetime.now(UTC)
        session.execute(insert(mark).values(at=now, horizon=last + 1))
    old = session.execute(
        select(mark.c.id, mark.c.horizon)
        .where(mark.c.at < now - retention)
        .order_by(mark.c.at.desc())
        .limit(1)
    ).first()
    if old is None:
        return 0
    # rows another applier's prune holds are skipped, not waited for: this runs inside a
    # batch, which must not queue behind another batch's transaction for housekeeping
    col = kc.c.writer if is_postgres(session) else kc.c.id
    rows = select(kc.c.id).where(col < old.horizon).with_for_update(skip_locked=True)
    gone = session.execute(delete(kc).where(kc.c.id.in_(rows))).rowcount  # type: ignore[attr-defined]
    marks = select(mark.c.id).where(mark.c.id != old.id, mark.c.at < now - retention)
    session.execute(delete(mark).where(mark.c.id.in_(marks.with_for_update(skip_locked=True))))
    return int(gone or 0)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
