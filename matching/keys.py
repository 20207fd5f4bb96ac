"""Deterministic match keys: exact, normalised field combinations tried before any fuzzy scoring.

A key such as ``tax:GB123456789|GB`` is stored in the hub's key index for every golden record; a
new record that produces the same key value links to that golden record without scoring. Keys
are declared as frozen value objects so a match spec can be written as data, compared, hashed and
validated once at start-up rather than failing on the first record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from matching.normalise import NORMALISERS

__all__ = ["DeterministicKey", "KeyPart", "key_name"]

KEY_SEPARATOR = ":"
"""Separates the key name from its value parts; key names may therefore not contain it."""

PART_SEPARATOR = "|"
"""Separates part values; occurrences inside a part are escaped (see :func:`_escape`)."""


def _escape(part: str) -> str:
    r"""Escape ``\`` and ``|`` so that different part tuples never join to the same key.

    Without it ``("a|b", "c")`` and ``("a", "b|c")`` would both give ``a|b|c``: a false exact
    match, i.e. a wrong auto-merge. Normalised values rarely contain either character, so keys
    are unchanged in practice.
    """
    return part.replace("\\", "\\\\").replace(PART_SEPARATOR, "\\" + PART_SEPARATOR)


@dataclass(frozen=True)
class KeyPart:
    """One field of a deterministic key and the normaliser applied to it.

    Attributes:
        field: Name of the field in the incoming record mapping.
        normaliser: Name of a normaliser in :data:`matching.normalise.NORMALISERS`.

    Raises:
        ValueError: If ``field`` is empty or ``normaliser`` is not a known normaliser name;
            checked here so a bad match spec fails at start-up, not on the first record.
    """

    field: str
    normaliser: str = "text"

    def __post_init__(self) -> None:
        """Validate at declaration, so a bad match spec fails when it is loaded."""
        if not self.field:
            raise ValueError("KeyPart.field must be a non-empty field name")
        if self.normaliser not in NORMALISERS:
            known = ", ".join(sorted(NORMALISERS))
            raise ValueError(
                f"unknown normaliser {self.normaliser!r} for field {self.field!r}; "
                f"known normalisers: {known}"
            )

    def value(self, record: Mapping[str, object]) -> str | None:
        """The normalised value of this part in ``record``; ``None`` if missing or unusable."""
        return NORMALISERS[self.normaliser](record.get(self.field))


@dataclass(frozen=True)
class DeterministicKey:
    """A named exact key made of one or more normalised fields.

    Attributes:
        name: Key name, used in the key value and in the match rule
            (``"deterministic:<name>"``). Must be non-empty and free of ``":"``.
        parts: The fields, in order. A list is accepted and stored as a tuple so the key stays
            hashable.

    Raises:
        ValueError: On an empty or ``":"``-containing name, or no parts.
    """

    name: str
    parts: tuple[KeyPart, ...]

    def __post_init__(self) -> None:
        """Validate at declaration and freeze ``parts`` into a tuple."""
        if not self.name or KEY_SEPARATOR in self.name:
            raise ValueError(
                f"key name must be non-empty and must not contain {KEY_SEPARATOR!r}: {self.name!r}"
            )
        parts = tuple(self.parts)
        if not parts:
            raise ValueError(f"key {self.name!r} has no parts")
        for part in parts:
            if not isinstance(part, KeyPart):
                raise ValueError(f"key {self.name!r}: parts must be KeyPart, got {part!r}")
        object.__setattr__(self, "parts", parts)

    def value(self, record: Mapping[str, object]) -> str | None:
        """``f"{name}:{p1}|{p2}..."`` from the normalised parts.

        Returns ``None`` if any part normalises to ``None``: a key with a missing part would
        equate records that merely share the fields they do have, e.g. every client with no
        tax id in the same country.
        """
        values: list[str] = []
        for part in self.parts:
            v = part.value(record)
            if v is None:
                return None
            values.append(_escape(v))
        return f"{self.name}{KEY_SEPARATOR}{PART_SEPARATOR.join(values)}"

    @staticmethod
    def key_name(key_value: str) -> str:
        """Name of the key that produced ``key_value``; same as module-level :func:`key_name`."""
        return key_name(key_value)


def key_name(key_value: str) -> str:
    """The key name in a key value: the text before the first ``":"``.

    The hub uses it to name the rule of a deterministic link (``"deterministic:<name>"``) from
    the key value it found in its index.

    Raises:
        ValueError: If ``key_value`` has no ``":"`` or an empty name, i.e. it was not produced by
            :meth:`DeterministicKey.value`.
    """
    name, sep, _ = key_value.partition(KEY_SEPARATOR)
    if not sep or not name:
        raise ValueError(f"not a deterministic key value: {key_value!r}")
    return name
