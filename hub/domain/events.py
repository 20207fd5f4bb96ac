"""Golden-record events, as subscribers receive them (CloudEvents 1.0).

The id of an event is derived from the golden id and version, so the same version sent twice
carries the same id and a subscriber can drop the repeat.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

EVENT_NAMESPACE = uuid.UUID("3f1c6d9e-7c1a-4a55-9d0b-6b1f0e0c2a11")


def event_id(golden_id: str, version: int, kind: str) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{golden_id}/{version}/{kind}"))


@dataclass(frozen=True)
class QualityChanged:
    """The data-quality issues of a golden record changed without a new version (reference
    data changed under it, or its own change was checked after it was published): its
    subscribers learn what is wrong with it now, or that nothing is any more."""

    domain: str
    golden_id: str
    version: int
    issues: list[dict[str, str]]
    at: datetime

    @property
    def type(self) -> str:
        return f"concord.{self.domain}.quality_changed"

    def cloud_event(self, source: str = "concord") -> dict[str, Any]:
        # Several checks may find a new set of issues at one version: the time tells them apart.
        seed = f"{self.golden_id}/{self.version}/quality/{self.at.isoformat()}"
        data = {
            "id": self.golden_id,
            "domain": self.domain,
            "version": self.version,
            "issues": self.issues,
        }
        eid = str(uuid.uuid5(EVENT_NAMESPACE, seed))
        return _envelope(eid, source, self.type, self.at, self.golden_id, data)


@dataclass(frozen=True)
class GoldenRecordChanged:
    """A golden record has a new version: created, updated or retired."""

    domain: str
    golden_id: str
    version: int
    kind: str  # created | updated | retired | merged
    attributes: dict[str, Any]
    provenance: dict[str, Any]
    references: dict[str, Any]
    changed_fields: list[str]
    xref: list[dict[str, str]]
    status: str
    at: datetime
    merged_into: str | None = None

    @property
    def type(self) -> str:
        return f"concord.{self.domain}.{self.kind}"

    def cloud_event(self, source: str = "concord") -> dict[str, Any]:
        eid = event_id(self.golden_id, self.version, self.kind)
        return _envelope(
            eid,
            source,
            self.type,
            self.at,
            self.golden_id,
            {
                "id": self.golden_id,
                "domain": self.domain,
                "version": self.version,
                "status": self.status,
                "attributes": self.attributes,
                "changed_fields": self.changed_fields,
                "provenance": self.provenance,
                "references": self.references,
                "xref": self.xref,
                **(
                    {"merge": {"loser": self.golden_id, "winner": self.merged_into}}
                    if self.merged_into
                    else {}
                ),
            },
        )


def _envelope(
    eid: str, source: str, type_: str, at: datetime, subject: str, data: dict[str, Any]
) -> dict[str, Any]:
    """The CloudEvents 1.0 envelope every event of the hub goes out in."""
    return {
        "specversion": "1.0",
        "id": eid,
        "source": source,
        "type": type_,
        "time": at.isoformat().replace("+00:00", "Z"),
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }
