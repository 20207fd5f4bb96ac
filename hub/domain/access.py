"""Who is calling: a source system, a subscriber, an admin or a steward key."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.domain.errors import Forbidden

ROLES = ("source", "subscriber", "admin", "steward")


@dataclass(frozen=True)
class Principal:
    """A caller. ``domains`` are what a source key writes; ``read_domains`` what the key reads
    (None: every domain) and ``personal`` whether it reads personal fields
    (docs/architecture.md, "Read scopes")."""

    name: str
    role: str
    source: str | None = None
    domains: tuple[str, ...] = ()
    read_domains: frozenset[str] | None = None
    personal: bool = False

    def may_read(self, domain: str) -> None:
        """Raises Forbidden when the key is not granted ``domain``."""
        if self.read_domains is not None and domain not in self.read_domains:
            raise Forbidden(f"this key may not read domain {domain}")

    def readable(self, domains: Iterable[str]) -> list[str]:
        """Of ``domains``, those this key reads, in their order."""
        return [d for d in domains if self.read_domains is None or d in self.read_domains]

    def hidden(self, personal_fields: frozenset[str]) -> frozenset[str]:
        """The fields to leave out of what this key reads."""
        return frozenset() if self.personal else personal_fields

    def may_write(self, source: str, domain: str) -> None:
        """A source key writes only as itself and only to its own domains."""
        if self.role != "source":
            raise Forbidden(f"a {self.role} key cannot write changes")
        if self.source != source:
            raise Forbidden(f"this key belongs to source {self.source}, not {source}")
        if domain not in self.domains:
            raise Forbidden(f"source {source} may not write domain {domain}")
