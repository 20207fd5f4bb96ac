"""What project setup needs of the store, as ports: its cursor, shells, exceptions, the
data-quality issues it finds and the time validated per project (``hub.store.project_setup``
implements them on SQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from hub.services.ports import UnitOfWork


class ShellRow(Protocol):
    code: str
    status: str


class SetupRepo(Protocol):
    def claim_cursor(self) -> int | None: ...

    def move_cursor(self, seq: int) -> None: ...

    def events_after(
        self, seq: int, domains: tuple[str, ...], limit: int
    ) -> list[tuple[int, str, str, datetime]]: ...

    def mark(self, opportunity_id: str, milestone: str, at: datetime) -> None: ...

    def shell(self, opportunity_id: str) -> ShellRow | None: ...

    def add_shell(
        self,
        opportunity_id: str,
        client_id: str | None,
        code_for: Any,
        at: datetime,
        contracted_at: datetime | None = None,
    ) -> str: ...

    def set_shell_status(self, opportunity_id: str, status: str, at: datetime) -> None: ...

    def open_exception(
        self,
        opportunity_id: str,
        client_id: str | None,
        problems: list[dict[str, str]],
        at: datetime,
    ) -> None: ...

    def resolve_exception(self, opportunity_id: str, at: datetime) -> None: ...

    def waiting_on(self, client_ids: set[str]) -> set[str]: ...

    def waiting_since(self, opportunity_id: str) -> datetime | None: ...

    def exception(self, opportunity_id: str) -> Any: ...

    def decide_exception(
        self, opportunity_id: str, status: str, by: str, reason: str, at: datetime
    ) -> None: ...

    def set_issues(
        self, domain: str, issues: dict[str, list[dict[str, str]]], at: datetime
    ) -> None: ...

    def issues_of(self, golden_ids: list[str]) -> dict[str, list[dict[str, str]]]: ...

    def active_ids(self, domain: str, limit: int | None = None) -> list[str]: ...

    def note_time(self, entries: dict[str, int], at: datetime) -> None: ...

    def time_on(self, golden_id: str) -> tuple[int, datetime | None]: ...


class SetupUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that also keeps project setup's state (the SQL one does)."""

    @property
    def setup(self) -> SetupRepo: ...
