"""What the queue's drop-downs offer: the sources the hub knows and the onboarding runs, by
name and date, so a steward picks one instead of typing an id they would have to look up."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.store.tables import OnboardingRun, SourceSystem

RUNS_LISTED = 100


def sources(session: Session) -> list[str]:
    return list(session.scalars(select(SourceSystem.name).order_by(SourceSystem.name)))


def runs(session: Session) -> list[tuple[str, str]]:
    """(run id, "file · date · source") for the newest runs that loaded records."""
    r = OnboardingRun
    stmt = (
        select(r.id, r.file_name, r.source, r.created_at)
        .where(r.status != "dry_run")
        .order_by(r.created_at.desc())
        .limit(RUNS_LISTED)
    )
    return [
        (rid, f"{name.rsplit('/', 1)[-1]} · {at:%Y-%m-%d %H:%M} · {source}")
        for rid, name, source, at in session.execute(stmt)
    ]
