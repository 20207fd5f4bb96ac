"""An acquired firm's export, CSV or JSON lines, read into rows of canonical fields.

Columns named like the domain's fields (or reference keys such as ``client_key``) are used as
they are; ``--map CANON=COL`` names the column for a field that the export calls otherwise.
Other columns are ignored and listed, so a typo in a mapping shows up in the report rather
than as a field that silently stayed empty.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.domain.errors import ConcordError
from hub.domain.onboarding import RawRow
from hub.domain.spec import DomainSpec

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass(frozen=True)
class FileRows:
    rows: list[RawRow]
    ignored_columns: list[str]
    broken: list[tuple[int, str]]  # JSON lines that are not a JSON object: (row, why)


def canonical_names(domain: DomainSpec) -> list[str]:
    return [f.name for f in domain.fields] + [r.attribute for r in domain.references]


def column_mapping(domain: DomainSpec, maps: Sequence[str]) -> dict[str, str]:
    """Canonical name -> column: same-named columns, overridden by ``CANON=COL`` items."""
    return map_columns(canonical_names(domain), domain.name, maps)


def map_columns(names: Sequence[str], domain: str, maps: Sequence[str]) -> dict[str, str]:
    """``names`` -> column: same-named columns, overridden by ``CANON=COL`` items (``--map``
    of onboarding runs and of ``concord match``)."""
    out = {name: name for name in names}
    for item in maps:
        canon, sep, column = item.partition("=")
        if not sep or not canon or not column:
            raise ConcordError(f"--map expects CANON=COL, got {item!r}")
        if canon not in out:
            raise ConcordError(
                f"--map {item!r}: {canon!r} is not a field of {domain}; fields: {', '.join(out)}"
            )
        out[canon] = column
    return out


def check_columns(
    path: Path, columns: Sequence[str], mapping: dict[str, str], id_column: str
) -> dict[str, str]:
    """The mapping's fields whose column the file has; a mapped or id column it lacks is an
    error that names it."""
    missing = [
        f"{c} (for --map {f}={c})" for f, c in mapping.items() if f != c and c not in columns
    ]
    if missing:
        raise ConcordError(f"{path}: no column {', '.join(missing)}")
    if id_column not in columns:
        raise ConcordError(f"{path}: no id column {id_column!r} (set it with --id-column)")
    return {f: c for f, c in mapping.items() if c in columns}


def read_rows(path: Path, domain: DomainSpec, mapping: dict[str, str], id_column: str) -> FileRows:
    """The file's records as :class:`RawRow` values (row 1 = first record after the header)."""
    try:
        if path.suffix.lower() in JSON_SUFFIXES:
            return _json_lines(path, mapping, id_column)
        return _csv(path, mapping, id_column)
    except OSError as exc:
        raise ConcordError(f"cannot read {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConcordError(f"{path} is not UTF-8 text: {exc}") from exc


def _csv(path: Path, mapping: dict[str, str], id_column: str) -> FileRows:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or ())
        used = check_columns(path, columns, mapping, id_column)
        rows = [
            RawRow(n, row.get(id_column), {f: row.get(c) for f, c in used.items()}, text=True)
            for n, row in enumerate(reader, start=1)
        ]
    ignored = sorted(set(columns) - set(used.values()) - {id_column})
    return FileRows(rows, ignored, [])


def _json_lines(path: Path, mapping: dict[str, str], id_column: str) -> FileRows:
    rows: list[RawRow] = []
    broken: list[tuple[int, str]] = []
    seen: set[str] = set()
    by_column = {c: f for f, c in mapping.items()}
    with path.open(encoding="utf-8-sig") as fh:
        number = 0
        for line in fh:
            if not line.strip():
                continue
            number += 1
            try:
                obj: Any = json.loads(line)
            except json.JSONDecodeError as exc:
                broken.append((number, f"not JSON: {exc.msg} at column {exc.colno}"))
                continue
            if not isinstance(obj, dict):
                broken.append((number, f"expected a JSON object, got {type(obj).__name__}"))
                continue
            seen.update(obj)
            key = obj.get(id_column)
            values = {by_column[c]: v for c, v in obj.items() if c in by_column}
            rows.append(RawRow(number, None if key is None else str(key), values, text=False))
    ignored = sorted(seen - set(by_column) - {id_column})
    return FileRows(rows, ignored, broken)
