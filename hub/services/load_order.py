"""The order a bulk load's rows enter the inbox in: neighbours by blocking keys.

An acquired firm's file comes in its own order (by its ids, say), and the appliers take the
inbox in the order it was filled. At a million golden records each batch of such a file then
met candidates that no batch before it had read: a candidate read (its golden record, its
live source records, their names, phones and addresses normalised) was the largest part of
an onboarding commit, and the applier's candidate cache almost never held one again. Sorted
by their blocking keys, rows that reach the same golden records (one name in one country, one
city, one website) are applied in the same batch, which reads each candidate once for all of
them, or in the next, whose cache still holds it (docs/architecture.md, "Speed").

The order changes only when a row is applied, never what it says. Each record's rows keep
their order: every row of one record key sorts where that key's first row sorts, in file
order among themselves (the sort is stable), so a file that names a record twice still ends
with its last row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


R = TypeVar("R", bound=Keyed)


def neighbourhood_order(rows: Sequence[R], blocking_keys: Callable[[R], Sequence[str]]) -> list[R]:
    """``rows`` sorted by the blocking keys of each record key's first row, in rule order,
    then by where that first row stood. A row whose record can fill no blocking rule sorts
    first, in file order: it meets no candidate, so where it goes costs nothing."""
    place: dict[str, tuple[tuple[str, ...], int]] = {}
    for position, row in enumerate(rows):
        if row.key not in place:
            place[row.key] = (_keys(blocking_keys, row), position)
    return sorted(rows, key=lambda row: place[row.key])


def _keys(blocking_keys: Callable[[R], Sequence[str]], row: R) -> tuple[str, ...]:
    """A row whose keys cannot be made sorts first, as one that fills no rule: the order is
    only a speed-up, so it must not stop a load: the apply path meets the same error and
    sends that row alone to the dead letters with its reason, while the rest load
    (``hub.services.fallback``)."""
    try:
        return tuple(blocking_keys(row))
    except Exception:  # the apply path meets and reports the same error for this row
        return ()
