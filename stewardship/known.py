"""What the queue's drop-downs offer: the sources the hub knows and the onboarding runs, by
name and date, so a steward picks one instead of typing an id they would have to look up."""

from __future__ import annotations

from hub.store.read import overview
from hub.web.deps import ReadSession

RUNS_LISTED = 100


def sources(session: ReadSession) -> list[str]:
    return overview.source_names(session)


def runs(session: ReadSession) -> list[tuple[str, str]]:
    """(run id, "file · date · source") for the newest runs that loaded records."""
    return [
        (rid, f"{name.rsplit('/', 1)[-1]} · {at:%Y-%m-%d %H:%M} · {source}")
        for rid, name, source, at in overview.loading_runs(session, RUNS_LISTED)
    ]
