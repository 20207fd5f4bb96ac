"""What a firm declares about its domains, as plain frozen values.

The configuration loader (``hub.config``) validates ``concord.yaml`` and builds these; the domain
code only ever sees the validated result, so a rule never has to defend against a typo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FieldType = Literal["string", "date", "number", "boolean", "list", "map"]
FIELD_TYPES: tuple[str, ...] = ("string", "date", "number", "boolean", "list", "map")

RuleName = Literal["source_priority", "most_recent", "most_complete", "most_frequent", "union"]
RULE_NAMES: tuple[str, ...] = (
    "source_priority",
    "most_recent",
    "most_complete",
    "most_frequent",
    "union",
)

SOURCE_KINDS: tuple[str, ...] = ("crm", "psa", "time", "hr", "erp")

HUB_SOURCE = "concord"
"""The hub's own source system: the records the hub originates (project shells made from a
contracted opportunity) arrive through the inbox like any source's, as this source. It is not
registered: :func:`source_named` gives it a kind of its own that owns no field, so every
owner's value wins over the hub's once sent, and rank 0, the firm's own issuer scope."""

SOURCE_FIELD = "@source"
"""The pseudo-field of a match view that names the record's source system, so a key can be
scoped to one system. Its ``@`` keeps it apart from every attribute name a source can send."""

ISSUER_FIELD = "@issuer"
"""The pseudo-field of a match view that names the record's *issuer scope*: the source's rank
within its kind. The firm's own systems rank first (0) and share one scope, so the employee
id HR issued, carried by PSA, ERP and the time system, names one person across them; an
acquired firm's systems rank below (1, 2...) and get a scope of their own, so their employee
ids and customer numbers never collide with the firm's."""

PSEUDO_FIELDS = (SOURCE_FIELD, ISSUER_FIELD)


def reference_target(source: str, ref: ReferenceSpec, value: object) -> tuple[str, str, str] | None:
    """The source record a reference names, as (source, domain, key), or None when blank.

    A source names its references by its own keys (a PSA project's ``client_key`` is PSA's
    client key). The hub has no records of its own to name, so a record it originates names
    another source's record as ``source:key`` (a shell's client is ``crm:A-1``): resolving it
    through that record follows every merge and split of the client, as any reference does.
    """
    if value in (None, ""):
        return None
    text = str(value)
    if source == HUB_SOURCE:
        other, colon, key = text.partition(":")
        if colon and other and key:
            return (other, ref.target, key)
    return (source, ref.target, text)


@dataclass(frozen=True)
class FieldSpec:
    """One golden field: its type, who owns it and how its value survives.

    ``owners`` are kinds of source system in priority order (``("erp", "crm")``); the rule
    ``source_priority`` reads them. ``rules`` is tried in order until one yields a value.
    A ``personal`` field (a person's birth date, home address, private e-mail) is read only by
    keys and subscriptions granted personal fields (docs/architecture.md, "Read scopes").
    """

    name: str
    type: FieldType = "string"
    owners: tuple[str, ...] = ()
    rules: tuple[RuleName, ...] = ("source_priority", "most_recent")
    personal: bool = False


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

    def match_view(
        self,
        source: SourceSpec,
        attributes: Mapping[str, Any],
        resolved: Mapping[str, Any],
    ) -> dict[str, Any]:
        """A record as the matcher sees it: its attributes, each reference by its golden id
        (``None`` while pending; ``resolved`` maps a reference's name to it), its source and
        its issuer scope (see :data:`ISSUER_FIELD`).

        Linking, the key index and the onboarding preview all build views here: a key or a
        comparison computed from two different views of one record would miss its own match.
        """
        view = dict(attributes)
        for ref in self.references:
            view[ref.name] = resolved.get(ref.name)
        view[SOURCE_FIELD] = source.name
        view[ISSUER_FIELD] = f"rank:{source.rank}"
        return view

    @property
    def personal_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.personal)

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


def source_named(sources: Mapping[str, SourceSpec], name: str) -> SourceSpec:
    """The registered source ``name``, or one of its own kind at rank 0 when it is not
    registered (a record written before its source was): survivorship and key scopes then
    treat it as a first-ranked system of a kind nobody owns."""
    return sources.get(name) or SourceSpec(name, name)
