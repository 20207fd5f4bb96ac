"""A steward's command that the database gave up on for a reason of its own (a deadlock
victim) runs again instead of answering 500; any other error is raised at once."""

from __future__ import annotations

from typing import Any

import pytest

from hub.domain.commands import MergeGolden
from hub.services.bus import MessageBus


class Deadlock(Exception):
    pass


def bus_failing(times: int, error: type[Exception]) -> tuple[MessageBus, list[int]]:
    calls: list[int] = []
    bus = MessageBus(lambda: None, None, transient=lambda exc: isinstance(exc, Deadlock))  # type: ignore[arg-type,return-value]

    def handler(cmd: Any) -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error("the database gave up")
        return "merged"

    bus._handlers[MergeGolden] = handler
    return bus, calls


def test_a_deadlock_victim_runs_again() -> None:
    bus, calls = bus_failing(2, Deadlock)
    assert bus.handle(MergeGolden("client", "a", "b", "same", "ann")) == "merged"
    assert len(calls) == 3


def test_it_gives_up_after_three_tries() -> None:
    bus, calls = bus_failing(5, Deadlock)
    with pytest.raises(Deadlock):
        bus.handle(MergeGolden("client", "a", "b", "same", "ann"))
    assert len(calls) == 3


def test_any_other_error_is_raised_at_once() -> None:
    bus, calls = bus_failing(1, ValueError)
    with pytest.raises(ValueError):
        bus.handle(MergeGolden("client", "a", "b", "same", "ann"))
    assert len(calls) == 1


def test_the_store_knows_its_transient_errors() -> None:
    from sqlalchemy.exc import OperationalError

    from hub.store.sql import is_transient

    class Orig(Exception):
        sqlstate = "40P01"

    assert is_transient(OperationalError("SELECT 1", {}, Orig()))
    assert is_transient(OperationalError("x", {}, Exception("database is locked")))
    assert not is_transient(ValueError("40P01"))
