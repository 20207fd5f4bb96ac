"""The SQL unit of work: one session, one transaction, and the only place that commits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.domain.spec import SourceSpec
from hub.store.access import audit
from hub.store.claims import SqlClaims, SqlComments
from hub.store.inbox import SqlDeadLetters, SqlInbox
from hub.store.onboarding import SqlRuns
from hub.store.project_setup import SqlSetup
from hub.store.repositories import (
    SqlCandidates,
    SqlGolden,
    SqlKeys,
    SqlOutbox,
    SqlPending,
    SqlRecords,
    load_sources,
)
from hub.store.sql import advisory_locks, analyze, free_advisory_locks, is_transient


class SqlUnitOfWork:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def __enter__(self) -> SqlUnitOfWork:
        self.session = self._factory()
        self.inbox = SqlInbox(self.session)
        self.records = SqlRecords(self.session)
        self.golden = SqlGolden(self.session)
        self.keys = SqlKeys(self.session)
        self.pending = SqlPending(self.session)
        self.outbox = SqlOutbox(self.session)
        self.candidates = SqlCandidates(self.session)
        self.dead_letters = SqlDeadLetters(self.session)
        self.runs = SqlRuns(self.session)
        self.setup = SqlSetup(self.session)
        self.claims = SqlClaims(self.session)
        self.comments = SqlComments(self.session)
        self._sources: dict[str, SourceSpec] | None = None
        return self

    def __exit__(self, *args: object) -> None:
        self.session.rollback()
        self.session.close()

    def sources(self) -> dict[str, SourceSpec]:
        """Read once per transaction: an apply batch asked for them twice (linking, then
        survival), a statement each. Sources change by an admin's own transaction."""
        if self._sources is None:
            self._sources = load_sources(self.session)
        return dict(self._sources)

    def audit(self, actor: str, action: str, detail: dict[str, Any]) -> None:
        audit(self.session, actor, action, detail)

    def refresh_statistics(self) -> None:
        analyze(self.session)

    def lock(self, namespace: str, names: Iterable[str], wait: bool = True) -> None:
        advisory_locks(self.session, namespace, names, wait)

    def lock_free(self, namespace: str, names: Iterable[str]) -> set[str]:
        return free_advisory_locks(self.session, namespace, names)

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def savepoint(self) -> AbstractContextManager[object]:
        return self.session.begin_nested()

    def transient(self, exc: BaseException) -> bool:
        return is_transient(exc)


def session_factory(engine: Engine, readonly: bool = False) -> sessionmaker[Session]:
    bind = engine.execution_options(readonly=True) if readonly else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


@contextmanager
def admin_session(engine: Engine) -> Iterator[Session]:
    """A short transaction for an admin action (CLI): committed whole, or not at all."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
