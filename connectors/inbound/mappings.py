"""Mappings: how one source system's tables (or Debezium topics) become the hub's changes.

A source database speaks in its own columns (``cust_nm``, ``vat_no``, ``acct_id``); the hub
speaks in canonical fields (``name``, ``tax_id``, ``client_key``). A mapping file says, per
table, which domain it feeds, which column(s) make the source key, which column fills which
field or reference, and how a value is cleaned on the way (trim, case, dates, enum codes).

The file is checked whole when it is loaded, against the hub's domain configuration, so a typo
stops the connector at start with the file, table and column named, instead of dead-lettering
every row at 3 a.m. A row that breaks a mapping at run time is refused the same way the HTTP
API refuses a bad change: with the record and the field named.

Example file::

    source: northwind-crm
    tables:
      public.customers:
        topics: [northwind.public.customers]   # optional; see Mappings.for_table
        domain: client
        key: [id]
        columns:
          name: {field: name, transform: [trim]}
          vat_no: {field: tax_id, transform: [trim, upper]}
          country: country
          since: {field: start_date, transform: [{date: "%d/%m/%Y"}]}
          state: {field: status, transform: [{enum: {A: active, I: inactive}}]}
          parent_id: {reference: parent}
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from hub.config import HubConfig, load_config
from hub.domain.errors import ConcordError, ConfigError
from hub.domain.model import Change, Op
from hub.domain.spec import DomainSpec
from hub.domain.validation import check_attributes

Transform = Callable[[Any], Any]
KEY_SEPARATOR = ":"
MAX_EVENT_ID = 200  # the inbox column's width
_EPOCH = date(1970, 1, 1)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class MappingError(ConfigError):
    """A mistake in a mapping file; the message names the file, the table and the column."""


class RowRejected(ConcordError):
    """A source row that its mapping cannot turn into a valid change.

    Like a bad change posted over HTTP, it is refused before anything is stored; the message
    names the source, the table, the record's key and the field.
    """

    def __init__(self, source: str, table: str, key: str | None, field: str, why: str) -> None:
        self.source, self.table, self.key, self.field, self.why = source, table, key, field, why
        record = f"key {key!r}" if key is not None else "a row"
        super().__init__(f"{source} {table} {record}: {field}: {why}")


class _ValueProblem(ValueError):
    """Raised by a transform; the caller adds the record and column."""


def _trim(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None  # a blank is no value: it must never win survivorship
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _text(value: Any) -> Any:
    """Numbers as text, for ids that a source stores as integers but the hub holds as codes."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise _ValueProblem(f"expected text or a number, got {value!r}")
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    raise _ValueProblem(f"expected text or a number, got {type(value).__name__}")


def _number(value: Any) -> Any:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _ValueProblem(f"expected a number, got {value!r:.40}") from None
        return int(number) if number.is_integer() and "." not in value else number
    raise _ValueProblem(f"expected a number, got {type(value).__name__}")


def _date(fmt: str) -> Transform:
    """A date in the source's shape to ISO ``YYYY-MM-DD``.

    ``fmt`` is a ``strptime`` format, or ``epoch_days`` / ``epoch_millis`` / ``epoch_micros``
    for the integers Debezium sends for DATE and TIMESTAMP columns without the schema wrapper.
    """
    units = {"epoch_days": 86_400_000_000, "epoch_millis": 1_000, "epoch_micros": 1}

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if fmt in units:
            if isinstance(value, str) and _ISO_DATE.match(value):
                return value[:10]  # already decoded (a Debezium schema said it was a date)
            if isinstance(value, bool) or not isinstance(value, int):
                raise _ValueProblem(f"expected an integer ({fmt}), got {value!r:.40}")
            return (_EPOCH + timedelta(microseconds=value * units[fmt])).isoformat()
        if not isinstance(value, str):
            raise _ValueProblem(f"expected a date as text ({fmt}), got {value!r:.40}")
        try:
            return datetime.strptime(value.strip(), fmt).date().isoformat()
        except ValueError:
            raise _ValueProblem(f"expected a date like {fmt!r}, got {value!r:.40}") from None

    return convert


def _enum(table: Mapping[str, Any]) -> Transform:
    """Source codes to the hub's values; a code the map does not know is refused, not guessed."""
    codes = {str(k): v for k, v in table.items()}

    def convert(value: Any) -> Any:
        if value is None:
            return None
        try:
            return codes[str(value)]
        except KeyError:
            known = ", ".join(sorted(codes))
            raise _ValueProblem(f"{value!r:.40} is not in the enum map ({known})") from None

    return convert


SIMPLE_TRANSFORMS: dict[str, Transform] = {
    "trim": _trim,
    "upper": _upper,
    "lower": _lower,
    "text": _text,
    "number": _number,
}


@dataclass(frozen=True)
class ColumnMapping:
    """One source column: the field (or reference attribute) it fills, and its cleaning."""

    column: str
    target: str  # canonical field name, or the reference's wire attribute (client_key)
    transforms: tuple[Transform, ...] = ()
    is_reference: bool = False

    def convert(self, value: Any) -> Any:
        for transform in self.transforms:
            value = transform(value)
        if self.is_reference and isinstance(value, int | float) and not isinstance(value, bool):
            value = _text(value)  # a foreign key column is an integer more often than not
        return value


@dataclass(frozen=True)
class TableMapping:
    """How the rows of one source table become changes of one domain."""

    source: str
    table: str
    domain: DomainSpec
    key: tuple[str, ...]
    columns: tuple[ColumnMapping, ...]
    names: tuple[str, ...] = ()

    def key_of(self, row: Mapping[str, Any]) -> str:
        """The source key: the key column's value, or the key columns' values joined by ':'."""
        parts = []
        for column in self.key:
            value = row.get(column)
            if value is None or value == "":
                raise RowRejected(self.source, self.table, None, column, "key column is missing")
            parts.append(value if isinstance(value, str) else _text(value))
        return KEY_SEPARATOR.join(parts)

    def attributes(self, row: Mapping[str, Any], key: str) -> dict[str, Any]:
        """The mapped, cleaned attributes; columns the mapping does not name are left out."""
        out: dict[str, Any] = {}
        for col in self.columns:
            if col.column not in row:
                continue  # e.g. a delete's before-image that carries only the key
            try:
                out[col.target] = col.convert(row[col.column])
            except _ValueProblem as exc:
                raise RowRejected(
                    self.source, self.table, key, f"column {col.column} ({col.target})", str(exc)
                ) from None
        return out

    def to_change(
        self,
        row: Mapping[str, Any],
        op: Op,
        event_id: str,
        sequence: int | None,
        changed_at: datetime,
    ) -> Change:
        """The hub's change for one source row, validated as the HTTP API validates one.

        A delete carries no attributes: the hub needs only the key, and a before-image that
        holds the key alone must not look like a record whose fields were all blanked.

        Raises:
            RowRejected: naming the record and the field.
        """
        key = self.key_of(row)
        if len(key) > 500:
            raise RowRejected(self.source, self.table, key[:40] + "...", "key", "over 500 chars")
        attributes = self.attributes(row, key) if op == "upsert" else {}
        problems = check_attributes(self.domain, attributes, op)
        if problems:
            name, why = problems[0]
            column = next((c.column for c in self.columns if c.target == name), None)
            where = f"column {column} ({name})" if column else name
            raise RowRejected(self.source, self.table, key, where, why)
        if changed_at.tzinfo is None:
            changed_at = changed_at.replace(tzinfo=UTC)
        return Change(
            source=self.source,
            domain=self.domain.name,
            key=key,
            op=op,
            event_id=bounded_event_id(event_id),
            attributes=attributes,
            changed_at=changed_at,
            sequence=sequence,
        )

    @property
    def columns_needed(self) -> tuple[str, ...]:
        """Every column the mapping reads: the key first, then mapped columns, no repeats."""
        return tuple(dict.fromkeys([*self.key, *(c.column for c in self.columns)]))


def bounded_event_id(event_id: str) -> str:
    """The event id as given when it fits the inbox, else its readable head plus a digest."""
    if len(event_id) <= MAX_EVENT_ID:
        return event_id
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:40]
    return f"{event_id[: MAX_EVENT_ID - 41]}~{digest}"


@dataclass
class Mappings:
    """Every table mapping of one source system, found by table name or Debezium topic."""

    source: str
    tables: dict[str, TableMapping]
    path: str = "<mappings>"
    _aliases: dict[str, TableMapping] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for mapping in self.tables.values():
            for name in (mapping.table, *mapping.names):
                self._aliases[name] = mapping

    def find(self, name: str) -> TableMapping | None:
        """The mapping for ``name``, or None when this source does not map it.

        ``name`` is ``schema.table``, a bare table (schema ``public``), a name listed under
        ``topics``, or a Debezium topic ``<prefix>.<schema>.<table>``, matched on its last two
        parts, so the connector's topic prefix need not be repeated in every file.
        """
        if name in self._aliases:
            return self._aliases[name]
        parts = name.split(".")
        if len(parts) == 1:
            return self._aliases.get(f"public.{name}")
        if len(parts) >= 3:
            return self._aliases.get(".".join(parts[-2:]))
        return None

    def for_table(self, name: str) -> TableMapping:
        """Like ``find``, but a name with no mapping is an error that names the file."""
        mapping = self.find(name)
        if mapping is None:
            known = ", ".join(sorted(self.tables)) or "none"
            raise MappingError(f"{self.path}: no mapping for table or topic {name!r} ({known})")
        return mapping


def _transforms(raw: Any, where: str) -> tuple[Transform, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raw = [raw]
    out: list[Transform] = []
    for item in raw:
        if isinstance(item, str) and item in SIMPLE_TRANSFORMS:
            out.append(SIMPLE_TRANSFORMS[item])
        elif isinstance(item, dict) and len(item) == 1 and "date" in item:
            fmt = item["date"]
            if not isinstance(fmt, str) or not fmt:
                raise MappingError(f"{where}: date needs a format such as '%d/%m/%Y'")
            out.append(_date(fmt))
        elif isinstance(item, dict) and len(item) == 1 and "enum" in item:
            if not isinstance(item["enum"], dict) or not item["enum"]:
                raise MappingError(f"{where}: enum needs a map of source code to value")
            out.append(_enum(item["enum"]))
        else:
            known = ", ".join([*SIMPLE_TRANSFORMS, "{date: FORMAT}", "{enum: {CODE: VALUE}}"])
            raise MappingError(f"{where}: unknown transform {item!r} (known: {known})")
    return tuple(out)


def _column(domain: DomainSpec, column: str, raw: Any, where: str) -> ColumnMapping:
    if isinstance(raw, str):
        raw = {"field": raw}
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected a field name or {{field: ..., transform: ...}}")
    unknown = set(raw) - {"field", "reference", "transform"}
    if unknown:
        raise MappingError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    if ("field" in raw) == ("reference" in raw):
        raise MappingError(f"{where}: name either a field or a reference")
    transforms = _transforms(raw.get("transform"), f"{where}.transform")
    if "field" in raw:
        name = str(raw["field"])
        if name not in domain.field_index:
            known = ", ".join(domain.field_index)
            raise MappingError(f"{where}: unknown field {name!r} of domain {domain.name} ({known})")
        return ColumnMapping(column, name, transforms)
    ref_name = str(raw["reference"])
    ref = next(
        (r for r in domain.references if ref_name in (r.name, r.attribute)),
        None,
    )
    if ref is None:
        known = ", ".join(r.name for r in domain.references) or "none"
        raise MappingError(
            f"{where}: unknown reference {ref_name!r} of domain {domain.name} ({known})"
        )
    return ColumnMapping(column, ref.attribute, transforms, is_reference=True)


def _table(source: str, table: str, raw: Any, config: HubConfig, where: str) -> TableMapping:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected a mapping")
    unknown = set(raw) - {"domain", "key", "columns", "topics"}
    if unknown:
        raise MappingError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    domain_name = raw.get("domain")
    if domain_name not in config.domains:
        known = ", ".join(config.domains)
        raise MappingError(f"{where}.domain: unknown domain {domain_name!r} ({known})")
    domain = config.domains[domain_name]
    key = raw.get("key")
    key = [key] if isinstance(key, str) else key
    if not isinstance(key, list) or not key or not all(isinstance(k, str) and k for k in key):
        raise MappingError(f"{where}.key: expected a key column or a list of key columns")
    columns_raw = raw.get("columns")
    if not isinstance(columns_raw, dict) or not columns_raw:
        raise MappingError(f"{where}.columns: expected a mapping of source column to field")
    columns = tuple(
        _column(domain, str(col), spec, f"{where}.columns.{col}")
        for col, spec in columns_raw.items()
    )
    seen: dict[str, str] = {}
    for col in columns:
        if col.target in seen:
            raise MappingError(
                f"{where}.columns.{col.column}: {col.target} is already filled by column "
                f"{seen[col.target]}"
            )
        seen[col.target] = col.column
    for ref in domain.references:
        if ref.required and ref.attribute not in seen:
            raise MappingError(
                f"{where}.columns: domain {domain.name} requires reference {ref.name}; "
                "map a column to it ({reference: " + ref.name + "})"
            )
    topics = raw.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) and t for t in topics):
        raise MappingError(f"{where}.topics: expected a list of topic names")
    return TableMapping(source, table, domain, tuple(key), columns, tuple(topics))


def parse_mappings(
    doc: Any, config: HubConfig | None = None, source: str | None = None, path: str = "<text>"
) -> Mappings:
    """Validate a mapping document already read from YAML (see ``load_mappings``)."""
    config = config or load_config()
    if not isinstance(doc, dict):
        raise MappingError(f"{path}: expected a mapping with 'source' and 'tables' at the top")
    unknown = set(doc) - {"source", "tables"}
    if unknown:
        raise MappingError(f"{path}: unknown key {sorted(unknown)[0]!r}")
    named = doc.get("source")
    if named is not None and (not isinstance(named, str) or not named):
        raise MappingError(f"{path}: source: expected the source system's name")
    if source and named and source != named:
        raise MappingError(f"{path}: the file maps source {named!r}, not {source!r}")
    source = source or named
    if not source:
        raise MappingError(f"{path}: name the source system ('source: NAME' at the top)")
    tables_raw = doc.get("tables")
    if not isinstance(tables_raw, dict) or not tables_raw:
        raise MappingError(f"{path}: tables: expected at least one table mapping")
    tables: dict[str, TableMapping] = {}
    for name, raw in tables_raw.items():
        table = str(name) if "." in str(name) else f"public.{name}"
        if table in tables:
            raise MappingError(f"{path}: tables.{name}: mapped twice (as {table})")
        tables[table] = _table(source, table, raw, config, f"{path}: tables.{name}")
    return Mappings(source, tables, path)


def load_mappings(
    path: str | Path, config: HubConfig | None = None, source: str | None = None
) -> Mappings:
    """Read and validate one source system's mapping file.

    Args:
        path: the YAML file.
        config: the hub's domain configuration; the built-in default when omitted.
        source: the source system's name when the caller knows it (``--source``); it must agree
            with the file's ``source`` if the file names one.

    Raises:
        MappingError: naming the file, the table and the column at fault.

    Examples:
        >>> m = load_mappings("examples/mappings/northwind.yaml")  # doctest: +SKIP
        >>> m.for_table("northwind.public.customers").domain.name  # doctest: +SKIP
        'client'
    """
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"cannot read mapping file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    return parse_mappings(doc, config, source, str(path))
