"""A candidate as the matcher compares it: one mapping, or several views of one golden record
that keep their compared values once computed (entity-centric matching)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

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


def compared(entity: Entity, comp: Comparison) -> list[str | None]:
    """The compared values of every view of ``entity``, each computed once for a ``Views``."""
    if isinstance(entity, Views):
        found = entity.compared.get(comp.label)
        if found is None:
            found = entity.compared[comp.label] = [comp.value(v) for v in entity]
        return found
    group = [entity] if isinstance(entity, Mapping) else entity
    return [comp.value(v) for v in group]
