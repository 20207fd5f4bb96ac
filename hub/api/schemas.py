"""The wire format of the machine API (the contract in issue "Core")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from hub.domain.validation import text_problem


def _printable_key(value: str) -> str:
    """Keys are identifiers: not blank, and text every store can hold (no NUL, no lone
    surrogate)."""
    if not value.strip():
        raise ValueError("must not be blank")
    if why := text_problem(value):
        raise ValueError(why)
    return value


def _storable_time(value: datetime | None) -> datetime | None:
    """A time the hub can hold as UTC: ``0001-01-01T00:00:00+14:00`` is a valid ISO time, but
    in UTC it falls before year 1, which Python cannot represent (issue 19, item 11)."""
    if value is not None and value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range: before year 1 in UTC") from None
    return value


Key = Annotated[str, AfterValidator(_printable_key)]
Stamp = Annotated[datetime | None, AfterValidator(_storable_time)]
# A row id in a URL: beyond a 64-bit integer no row has it, and the database refuses to look.


class ChangeIn(BaseModel):
    """One change as a source sends it. ``attributes`` is the record's full current image."""

    model_config = ConfigDict(extra="forbid")

    event_id: Key | None = Field(default=None, min_length=1, max_length=200)
    domain: str = Field(min_length=1, max_length=50)
    key: Key = Field(min_length=1, max_length=500)
    op: Literal["upsert", "delete"] = "upsert"
    sequence: StrictInt | None = Field(default=None, ge=0, le=2**63 - 1)
    changed_at: Stamp = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    run_id: Key | None = Field(default=None, max_length=64)


class ChangesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: list[ChangeIn]


class AcceptedOut(BaseModel):
    accepted: int
    duplicates: int


class XrefOut(BaseModel):
    golden_id: str
    domain: str
    source: str
    key: str
    status: str
    rule: str


class GoldenOut(BaseModel):
    id: str
    domain: str
    version: int
    status: str
    attributes: dict[str, Any]
    provenance: dict[str, Any]
    references: dict[str, Any]
    reference_provenance: dict[str, Any]
    pending_references: list[dict[str, Any]]
    xref: list[dict[str, Any]]
    overrides: dict[str, Any]
    merged_into: str | None
    issues: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Open data-quality issues (a project's financial dimensions), each with "
        "rule, record, message and fix",
    )
    created_at: datetime
    updated_at: datetime


class GoldenSummary(BaseModel):
    id: str
    domain: str
    version: int
    status: str
    attributes: dict[str, Any]


class VersionOut(BaseModel):
    version: int
    status: str
    cause: str
    changed_fields: list[str]
    attributes: dict[str, Any]
    provenance: dict[str, Any]
    references: dict[str, Any]
    created_at: datetime


class FeedItem(BaseModel):
    seq: int
    event: dict[str, Any]


class FeedOut(BaseModel):
    events: list[FeedItem]
    next: str


class Problem(BaseModel):
    detail: str
    errors: list[dict[str, Any]] = Field(default_factory=list)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Unreadable request"},
    401: {"model": Problem, "description": "Missing, unknown or revoked API key"},
    403: {"model": Problem, "description": "The key may not do this"},
    404: {"model": Problem, "description": "No such record"},
    409: {"model": Problem, "description": "The record's state forbids it (decided, merged)"},
    413: {"model": Problem, "description": "Batch or body over the configured limit"},
    422: {"model": Problem, "description": "A change is invalid: index and field named"},
}
HealthStatus = Literal["ok", "starting"]
