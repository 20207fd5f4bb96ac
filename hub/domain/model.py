"""Changes, source records and the order between them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

Op = Literal["upsert", "delete"]


@dataclass(frozen=True)
class Change:
    """One create, update or delete of one record in one source system.

    ``attributes`` is the full image of the record: the hub replaces what it holds with it, so
    applying the newest change gives the same result whatever order the others arrived in.
    """

    source: str
    domain: str
    key: str
    op: Op
    event_id: str
    attributes: dict[str, Any]
    changed_at: datetime
    sequence: int | None = None
    run_id: str | None = None
    correlation_id: str | None = None  # the request that brought it, for the logs


@dataclass
class SourceRecord:
    """The hub's latest copy of one record of one source system; also its xref."""

    source: str
    domain: str
    key: str
    attributes: dict[str, Any]
    changed_at: datetime
    sequence: int | None
    digest: str
    golden_id: str | None = None
    deleted: bool = False
    link_rule: str = ""
    id: int | None = None
    run_id: str | None = None  # the onboarding run that created it, if one did
    dirty: bool = field(default=False, compare=False)
    stored: bool = field(default=False, compare=False)  # in the store already (update, not insert)


def attributes_digest(attributes: dict[str, Any], op: str = "upsert") -> str:
    """A stable fingerprint of a record image, used to break exact ties between changes."""
    raw = json.dumps([op, attributes], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class UnreadableMessage:
    """A message from a stream that is not a change: kept whole as a dead letter, because a
    stream's offset moves on and the message would otherwise be gone (docs/architecture.md,
    "Bad input and configuration").

    ``origin`` names where it came from (``kafka:<topic>``), ``position`` where in it
    (``<partition>@<offset>``): together they identify it, so a redelivery is kept once.
    """

    origin: str
    position: str
    payload: dict[str, Any]
    reason: str


def derive_event_id(
    source: str,
    domain: str,
    key: str,
    sequence: int | None,
    changed_at: str | None,
    op: str,
    attributes: dict[str, Any],
) -> str:
    """An event id for a change its source did not name, so a resend is still a duplicate."""
    raw = json.dumps(
        [source, domain, key, sequence, changed_at, op, attributes],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return "derived-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def is_newer(change: Change, digest: str, held: SourceRecord) -> bool:
    """Whether ``change`` may replace what the hub holds for that source record.

    A total order, so that any delivery order converges on one state: a change with a
    ``sequence`` outranks one without (a source's sequence is its own word on order, a clock
    is a guess; comparing a mixed pair by clock made "newer" cyclic); two with one compare by
    it, two without by ``changed_at``. An exact tie is broken by the digest of the images, not
    by arrival (docs/architecture.md, "The path of one change").
    """
    if (change.sequence is None) != (held.sequence is None):
        return change.sequence is not None
    if change.sequence is not None and held.sequence is not None:
        if change.sequence != held.sequence:
            return change.sequence > held.sequence
    elif change.changed_at != held.changed_at:
        return change.changed_at > held.changed_at
    return digest > held.digest


@dataclass(frozen=True, slots=True)
class CandidateGolden:
    """A golden record as linking compares and guards against it: its values and status,
    not its lineage, overrides or cross-references. Reading those for every candidate (up to
    50 a record, most of a million golden records met once) was a fifth of an onboarding
    load's apply at 1M golden clients; a candidate that is linked to is read again in full,
    locked, by survival.

    ``attributes`` and ``references`` are ``None`` when they were not read: a candidate whose
    kept compared values hold is compared by those alone (``GoldenRepo.candidates``)."""

    id: str
    domain: str
    version: int
    status: str
    attributes: dict[str, Any] | None
    references: dict[str, Any] | None
    # as stored, read with the row: with version and status, the stamp an applier's cache
    # checks the record by later (hub/services/candidate_cache.py)
    updated_at: object = None
    # the stamped compared values of its views, as survival stored them, if it did
    # (hub/services/compared.py)
    compared: dict[str, Any] | None = None

    @property
    def stamp(self) -> tuple[int, str, object]:
        return (self.version, self.status, self.updated_at)


class CandidateMember(NamedTuple):
    """A candidate's live source record as linking compares with it: whose it is, its
    digest (for the applier's cache stamp) and its values. Its timestamps, sequence and
    lineage are not read: at 1M golden clients, reading whole source records for every
    candidate (every column, deleted ones too, a dataclass with converted timestamps each)
    was an eighth of an onboarding load's apply; this read made the commit 4-7% faster.
    The members of a candidate read without its values (``CandidateGolden.attributes`` is
    ``None``) have empty ``attributes``: they were not read either."""

    source: str
    domain: str
    key: str
    digest: str
    attributes: dict[str, Any]
    golden_id: str


@dataclass
class GoldenRecord:
    """The one authoritative record of a client, project or resource.

    ``version`` 0 means created in this transaction and not yet stored.
    """

    id: str
    domain: str
    version: int
    status: str
    attributes: dict[str, Any]
    provenance: dict[str, Any]
    references: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)
    xref: list[dict[str, str]] = field(default_factory=list)
    created_at: datetime | None = None
    merged_into: str | None = None
    # the matcher's compared values of its views, as stored (hub/services/compared.py): not
    # part of the record, only what survival checks before it makes them again
    compared: Any = field(default=None, compare=False, repr=False)

    def differs(
        self,
        status: str,
        attributes: dict[str, Any],
        provenance: dict[str, Any],
        references: dict[str, Any],
        xref: list[dict[str, str]],
    ) -> list[str] | None:
        """The changed field names if anything about the record changed, else None.

        A new link (xref) alone is a change too: the newly linked system must learn its key.
        """
        changed = sorted(
            {
                k
                for k in attributes.keys() | self.attributes.keys()
                if attributes.get(k) != self.attributes.get(k)
            }
            | {
                k
                for k in references.keys() | self.references.keys()
                if references.get(k) != self.references.get(k)
            }
        )
        if (
            changed
            or status != self.status
            or provenance != self.provenance
            or xref != self.xref
            or self.version == 0
        ):
            return changed
        return None
