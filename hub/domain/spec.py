"""What a firm declares about its domains, as plain frozen values.

The configuration loader (``hub.config``) validates ``concord.yaml`` and builds these; the domain
code only ever sees the validated result, so a rule never has to defend against a typo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal["string", "date", "number", "boolean", "list"]
FIELD_TYPES: tuple[str, ...] = ("string", "date", "number", "boolean", "list")

RuleName = Literal["source_priority", "most_recent", "most_complete", "most_frequent", "union"]
RULE_NAMES: tuple[str, ...] = (
    "source_priority",
    "most_recent",
    "most_complete",
    "most_frequent",
    "union",
)

SOURCE_KINDS: tuple[str, ...] = ("crm", "psa", "time", "hr", "erp")


@dataclass(frozen=True)
class FieldSpec:
    """One golden field: its type, who owns it and how its value survives.

    ``owners`` are kinds of source system in priority order (``("erp", "crm")``); the rule
    ``source_priority`` reads them. ``rules`` is tried in order until one yields a value.
    """

    name: str
    type: FieldType = "string"
    owners: tuple[str, ...] = ()
    rules: tuple[RuleName, ...] = ("source_priority", "most_recent")


@dataclass(frozen=True)
class ReferenceSpec:
    """A link from a record to another domain, sent as the source's own key.

    ``attribute`` is the key's name on the wire (``client_key``); ``name`` is the name of the
    resolved golden id on the golden record (``client``).
    """

    name: str
    attribute: str
    target: str
    required: bool = False
    owners: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeySpec:
    """A deterministic key: every part must be present for the key to exist."""

    name: str
    parts: tuple[tuple[str, str], ...]  # (field, normaliser)


@dataclass(frozen=True)
class DomainSpec:
    name: str
    fields: tuple[FieldSpec, ...]
    references: tuple[ReferenceSpec, ...] = ()
    keys: tuple[KeySpec, ...] = ()
    display: tuple[str, ...] = ("name",)
    field_index: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)
    reference_index: dict[str, ReferenceSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_index", {f.name: f for f in self.fields})
        object.__setattr__(self, "reference_index", {r.attribute: r for r in self.references})

    def display_name(self, attributes: dict[str, object]) -> str:
        """The text a person searches for: a client's name, a person's full name."""
        parts = [str(attributes[f]) for f in self.display if attributes.get(f) not in (None, "")]
        return " ".join(parts)


@dataclass(frozen=True)
class SourceSpec:
    """A source system as survivorship sees it: its kind and its rank within that kind."""

    name: str
    kind: str
    rank: int = 0
