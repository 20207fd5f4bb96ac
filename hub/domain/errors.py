"""Errors the domain raises; the API maps each to one HTTP status in one place."""

from __future__ import annotations

from dataclasses import dataclass


class ConcordError(Exception):
    """Base of every error Concord raises on purpose."""


class ConfigError(ConcordError):
    """A configuration mistake; the message names the key, domain and field."""


class RecordNotFound(ConcordError):
    pass


class Forbidden(ConcordError):
    pass


class Unauthorized(ConcordError):
    pass


class LockBusy(Exception):
    """A lock another worker holds, asked for out of the lock order, so not waited for: the
    work is rolled back and runs again (docs/architecture.md, "Locks"). Not a ConcordError:
    it says nothing about the request."""


class Conflict(ConcordError):
    """The request is well formed but the record's state forbids it (already decided, merged)."""


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one change of a batch: which change, which field, and why."""

    index: int
    field: str
    message: str
    key: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "key": self.key, "field": self.field, "message": self.message}


class InvalidBatch(ConcordError):
    """A batch with at least one bad change; none of the batch is stored."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(
            f"change {first.index} field {first.field}: {first.message}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )


class BatchTooLarge(ConcordError):
    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"batch of {size} changes is over the limit of {limit}")


class CannotApply(ConcordError):
    """A change valid on the wire that cannot be applied: it goes to the dead letters."""


class Unavailable(ConcordError):
    """What should keep a change could not say it kept it (a broker that did not acknowledge):
    nothing is promised, and the sender sends again (the API answers 503)."""


class ClaimHeld(Conflict):
    """Another steward holds the candidate (their claim has not expired)."""
