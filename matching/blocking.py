"""Blocking rules: which pairs are worth comparing at all, as a union of exact keys.

Comparing every record with every other is quadratic; a blocking rule says "only pairs that
agree on these (normalised, possibly truncated) fields". A record's blocking keys are plain
strings such as ``b:name4+country:acme|GB`` that the hub stores in its key index next to the
deterministic keys, so one incoming record finds its candidates by key lookup, never a scan.
The ``b:`` prefix keeps them apart from deterministic keys, which link without scoring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from matching.keys import PART_SEPARATOR, _escape
from matching.normalise import NORMALISERS

__all__ = ["BLOCKING_PREFIX", "BlockOn", "BlockPart", "Or", "block_on"]

BLOCKING_PREFIX = "b"
"""Key name of every blocking key value (``b:<rule>:<values>``)."""


@dataclass(frozen=True)
class BlockPart:
    """One field of a blocking rule: normalised, then optionally cut down.

    Attributes:
        field: Canonical field name.
        normaliser: Name of a normaliser in :data:`matching.normalise.NORMALISERS`.
        length: Keep only the first ``length`` characters (after ``first_token``), so small
            typos late in a value still meet.
        first_token: Keep only the first word ("acme" of "acme international").

    Raises:
        ValueError: On an empty field, unknown normaliser or a length below 1.
    """

    field: str
    normaliser: str = "text"
    length: int | None = None
    first_token: bool = False

    def __post_init__(self) -> None:
        """Validate at declaration."""
        if not self.field:
            raise ValueError("BlockPart.field must be non-empty")
        if self.normaliser not in NORMALISERS:
            raise ValueError(
                f"blocking field {self.field!r}: unknown normaliser {self.normaliser!r}"
            )
        if self.length is not None and self.length < 1:
            raise ValueError(f"blocking field {self.field!r}: length must be at least 1")

    @property
    def name(self) -> str:
        """Short name used in the key: ``name``, ``name4``, ``name.w`` (first word)."""
        return self.field + (".w" if self.first_token else "") + (str(self.length or ""))

    def value(
        self, record: Mapping[str, object], memo: dict[tuple[str, str], str | None] | None = None
    ) -> str | None:
        """The blocking value of this part, ``None`` if missing.

        ``memo`` holds one record's normalised values across the rules of an :class:`Or`:
        a field appears in many rules, and normalising it is most of the cost of blocking.
        """
        if memo is None:
            v = NORMALISERS[self.normaliser](record.get(self.field))
        else:
            slot = (self.field, self.normaliser)
            if slot in memo:
                v = memo[slot]
            else:
                v = memo[slot] = NORMALISERS[self.normaliser](record.get(self.field))
        if v is None:
            return None
        if self.first_token:
            v = v.split(" ", 1)[0]
        if self.length is not None:
            v = v[: self.length]
        return v or None


@dataclass(frozen=True)
class BlockOn:
    """A rule: records that agree on every part form a block.

    Attributes:
        parts: The fields, in order.
        name: Rule name in the keys; defaults to the part names joined with ``+``.

    Raises:
        ValueError: On no parts or a name containing ``":"``.
    """

    parts: tuple[BlockPart, ...]
    name: str = ""

    def __post_init__(self) -> None:
        """Freeze parts and name the rule."""
        parts = tuple(self.parts)
        if not parts:
            raise ValueError("a blocking rule needs at least one part")
        object.__setattr__(self, "parts", parts)
        if not self.name:
            object.__setattr__(self, "name", "+".join(p.name for p in parts))
        if ":" in self.name:
            raise ValueError(f"blocking rule name must not contain ':': {self.name!r}")

    def key(
        self, record: Mapping[str, object], memo: dict[tuple[str, str], str | None] | None = None
    ) -> str | None:
        """``b:<rule>:<v1>|<v2>``, or ``None`` if any part is missing (no block at all)."""
        values: list[str] = []
        for part in self.parts:
            v = part.value(record, memo)
            if v is None:
                return None
            values.append(_escape(v))
        return f"{BLOCKING_PREFIX}:{self.name}:{PART_SEPARATOR.join(values)}"


@dataclass(frozen=True)
class Or:
    """A union of blocking rules: a pair is a candidate if any rule puts it in one block.

    Examples:
        >>> rules = Or(block_on("postcode"), block_on(BlockPart("name", length=3), "country"))
        >>> rules.keys({"name": "Acme", "country": "GB", "postcode": None})
        ['b:name3+country:acm|gb']
    """

    rules: tuple[BlockOn, ...]

    def __init__(self, *rules: BlockOn) -> None:
        if not rules:
            raise ValueError("Or needs at least one blocking rule")
        object.__setattr__(self, "rules", tuple(rules))

    def keys(self, record: Mapping[str, object]) -> list[str]:
        """Every distinct blocking key of ``record``, at most one per rule.

        Two rules may share a name on purpose: ``block_on("given_name", "family_name",
        name="names")`` and ``block_on("family_name", "given_name", name="names")`` share one key
        space, so a record with its names swapped still meets the original.
        """
        memo: dict[tuple[str, str], str | None] = {}
        return list(
            dict.fromkeys(k for rule in self.rules if (k := rule.key(record, memo)) is not None)
        )


def block_on(*parts: str | BlockPart, name: str = "") -> BlockOn:
    """A blocking rule on one or more fields (strings use the ``text`` normaliser).

    Examples:
        >>> block_on("postcode").key({"postcode": "sw1a 1aa"})
        'b:postcode:sw1a 1aa'
    """
    return BlockOn(tuple(p if isinstance(p, BlockPart) else BlockPart(p) for p in parts), name)


def keys_of(rules: Or, records: Iterable[Mapping[str, object]]) -> list[list[str]]:
    """Blocking keys of many records (bulk helper)."""
    return [rules.keys(r) for r in records]
