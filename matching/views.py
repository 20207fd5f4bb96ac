"""A candidate as the matcher compares it: one mapping, or several views of one golden record
that keep their compared values once computed (entity-centric matching)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import NoReturn, TypeAlias

from matching.compare import Comparison

Entity: TypeAlias = Mapping[str, object] | Sequence[Mapping[str, object]]
"""A candidate golden record: its attributes, or several views of it (see ``score``)."""


class Views(list[Mapping[str, object]]):
    """An entity's views that keep their compared values once computed.

    A candidate golden record is met by many records of one batch (all those that share its
    blocking keys); normalising its names, phones and addresses again for each of them cost
    most of the scoring. Any caller may pass a plain mapping or list instead; a ``Views`` is
    only faster. Its views must not change after it is made.
    """

    __slots__ = ("compared",)

    def __init__(self, views: Sequence[Mapping[str, object]] = ()) -> None:
        super().__init__(views)
        self.compared: dict[str, list[str | None]] = {}


class _Unread(Mapping[str, object]):
    """A view whose values were never read, only its compared values (see :func:`kept_views`):
    any look at its values is a bug, so it fails loudly rather than read as all missing."""

    def _unread(self) -> NoReturn:
        raise RuntimeError(
            "a view read only for its kept compared values was asked for its values "
            "(a comparison they do not hold?)"
        )

    def __getitem__(self, key: str) -> object:
        self._unread()

    def __iter__(self) -> Iterator[str]:
        self._unread()

    def __len__(self) -> int:
        self._unread()


UNREAD: Mapping[str, object] = _Unread()


def kept_views(count: int, values: Mapping[str, list[str | None]]) -> Views:
    """An entity of ``count`` views known only by their compared values (every comparison's,
    one per view), as stored with a golden record: nothing is read or normalised to compare
    with it, and a comparison it does not hold fails loudly instead of seeing blanks."""
    if any(len(v) != count for v in values.values()):
        raise ValueError(f"kept compared values do not hold one value for each of {count} views")
    made = Views([UNREAD] * count)
    made.compared.update(values)
    return made


def compared(entity: Entity, comp: Comparison) -> list[str | None]:
    """The compared values of every view of ``entity``, each computed once for a ``Views``."""
    if isinstance(entity, Views):
        found = entity.compared.get(comp.label)
        if found is None:
            found = entity.compared[comp.label] = [comp.value(v) for v in entity]
        return found
    group = [entity] if isinstance(entity, Mapping) else entity
    return [comp.value(v) for v in group]
