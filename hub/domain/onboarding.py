"""Onboarding runs (issue 7): the rows of an acquired firm's file, checked before any load.

A file is validated whole before anything is matched or loaded, so the integration lead gets
every problem at once, by row number and field, instead of the first one after half a load.
CSV cells are text; they are read into the field's type here (numbers, true/false, lists split
on ``;``). JSON lines already carry types and are checked as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hub.domain.spec import DomainSpec
from hub.domain.validation import check_attributes, map_from_text

OUTCOMES: tuple[str, ...] = ("auto", "review", "new", "invalid")
"""What happens to a row: linked without a steward, sent to review, a new golden record, or
refused by validation."""

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_NUMBER = re.compile(r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class RawRow:
    """One record of the file as read: its row number (1 = first record after any header),
    its key, and its values by canonical field name (``text`` True for CSV cells)."""

    number: int
    key: str | None
    values: dict[str, Any]
    text: bool = True


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    problem: str


@dataclass(frozen=True)
class ValidRow:
    number: int
    key: str
    attributes: dict[str, Any]


@dataclass
class Validation:
    valid: list[ValidRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def invalid_rows(self) -> set[int]:
        return {e.row for e in self.errors}


def _from_text(kind: str, text: str) -> tuple[Any, str | None]:
    """A CSV cell as a value of the field's type, or why it cannot be one."""
    if kind == "number":
        if not _NUMBER.fullmatch(text):
            return None, f"expected a number, got {text!r:.40}"
        return (float(text) if any(c in text for c in ".eE") else int(text)), None
    if kind == "boolean":
        low = text.casefold()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE, None
        return None, f"expected true or false, got {text!r:.40}"
    if kind == "list":
        return [part.strip() for part in text.split(";") if part.strip()], None
    if kind == "map":
        try:
            return map_from_text(text), None
        except ValueError as exc:
            return None, f"expected name=value; ..., {exc}"
    return text, None


def validate_rows(domain: DomainSpec, rows: list[RawRow]) -> Validation:
    """Every row's problems by row number and field, and the rows without any.

    A key must be present and appear once in the file: two rows with one key would be two
    versions of one source record, and the second would silently replace the first.

    Examples:
        >>> from hub.domain.spec import FieldSpec
        >>> spec = DomainSpec("client", (FieldSpec("name"), FieldSpec("founded", "number")))
        >>> v = validate_rows(spec, [RawRow(1, "A", {"name": "Acme", "founded": "x1"})])
        >>> [(e.row, e.field, e.problem) for e in v.errors]
        [(1, 'founded', "expected a number, got 'x1'")]
    """
    out = Validation()
    seen: dict[str, int] = {}
    for row in rows:
        problems: list[tuple[str, str]] = []
        key = (row.key or "").strip()
        if not key:
            problems.append(("id", "the record has no key"))
        elif len(key) > 500:
            problems.append(("id", "key longer than 500 characters"))
        elif key in seen:
            problems.append(("id", f"key {key!r:.60} repeats row {seen[key]}"))
        else:
            seen[key] = row.number
        attributes: dict[str, Any] = {}
        for name, value in row.values.items():
            if value is None or (isinstance(value, str) and not value.strip()):
                continue  # a blank cell is a missing value, never a blank that could win
            spec = domain.field_index.get(name)
            if row.text and spec is not None and isinstance(value, str):
                value, why = _from_text(spec.type, value.strip())
                if why:
                    problems.append((name, why))
                    continue
            attributes[name] = value
        problems.extend(check_attributes(domain, attributes, "upsert"))
        if problems:
            out.errors.extend(RowError(row.number, f, why) for f, why in problems)
        elif key:
            out.valid.append(ValidRow(row.number, key, attributes))
    return out


@dataclass(frozen=True)
class RollbackRun:
    """Undo a committed onboarding run: remove the source records it added, re-survive the
    golden records they fed, retire those only they fed, and tell subscribers.

    Refused when stewards already decided any of the run's candidates, unless ``force``.
    """

    run_id: str
    actor: str
    force: bool = False


@dataclass(frozen=True)
class RecordRun:
    """Keep an onboarding run (its counts and report), or update one kept already."""

    run_id: str
    source: str
    domain: str
    file_name: str
    status: str  # dry_run | committed | rolled_back
    counts: dict[str, Any]
    report: dict[str, Any]
    actor: str
