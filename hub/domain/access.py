"""Who is calling: a source system, a subscriber, an admin or a steward key."""

from __future__ import annotations

from dataclasses import dataclass

from hub.domain.errors import Forbidden

ROLES = ("source", "subscriber", "admin", "steward")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    source: str | None = None
    domains: tuple[str, ...] = ()

    def may_write(self, source: str, domain: str) -> None:
        """A source key writes only as itself and only to its own domains."""
        if self.role != "source":
            raise Forbidden(f"a {self.role} key cannot write changes")
        if self.source != source:
            raise Forbidden(f"this key belongs to source {self.source}, not {source}")
        if domain not in self.domains:
            raise Forbidden(f"source {source} may not write domain {domain}")
