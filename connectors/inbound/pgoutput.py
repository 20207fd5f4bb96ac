"""The pgoutput logical replication protocol (version 1), parsed into plain values.

PostgreSQL's built-in output plugin sends one binary message per row of
``pg_logical_slot_peek_binary_changes``: Begin, Relation (a table's columns, sent before its
first change in a session), Insert, Update, Delete, Truncate, Commit, and a few we skip (Origin,
Type, logical Message). Column values come as their text output, the same text ``col::text``
gives in a query, so a snapshot read with ``::text`` and a streamed change convert alike
(``text_value``). No I/O here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
UNCHANGED = object()  # a TOASTed value the update did not touch, and so did not send

_INTS = {20, 21, 23, 26}  # int8, int2, int4, oid
_FLOATS = {700, 701}
_NUMERIC = 1700
_BOOL = 16
_JSON = {114, 3802}
# array type -> element type (bool, int2, int4, int8, text, varchar, bpchar, float4, float8)
_ARRAYS = {1000: 16, 1005: 21, 1007: 23, 1016: 20, 1009: 25, 1015: 1043, 1014: 1042, 1021: 700}
_ARRAYS |= {1022: 701, 1231: 1700}


class ProtocolError(ValueError):
    """A message this parser does not understand: a bug or an unsupported protocol version."""


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    is_key: bool


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    columns: tuple[Column, ...]

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Begin:
    final_lsn: int  # the commit record's LSN: all of the transaction's changes share it
    committed_at: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    committed_at: datetime


@dataclass(frozen=True)
class RowChange:
    """An Insert, Update or Delete. ``old`` is the key (or the full old row with REPLICA
    IDENTITY FULL) of an update that changed the key, and of every delete."""

    kind: str  # insert | update | delete
    relation: Relation
    new: dict[str, Any] | None
    old: dict[str, Any] | None


@dataclass(frozen=True)
class Truncate:
    relations: tuple[Relation, ...]


@dataclass(frozen=True)
class Skipped:
    tag: str


Message = Begin | Commit | Relation | RowChange | Truncate | Skipped


def lsn_to_int(text: str) -> int:
    """``'0/153B808'`` to its 64-bit position."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def int_to_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def _timestamp(micros: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=micros)


def _array(text: str, element: int) -> list[Any]:
    """A one-dimensional array literal (``{a,"b c",NULL}``) to a list."""
    if not (text.startswith("{") and text.endswith("}")):
        raise ProtocolError(f"not an array literal: {text[:40]!r}")
    items: list[Any] = []
    i, body = 0, text[1:-1]
    if not body:
        return items
    while i <= len(body):
        if i < len(body) and body[i] == '"':
            i += 1
            chars = []
            while body[i] != '"':
                if body[i] == "\\":
                    i += 1
                chars.append(body[i])
                i += 1
            items.append(text_value("".join(chars), element))
            i += 2  # closing quote and comma
            continue
        end = body.find(",", i)
        end = len(body) if end < 0 else end
        raw = body[i:end]
        if raw.startswith("{"):
            raise ProtocolError("multi-dimensional arrays are not supported")
        items.append(None if raw == "NULL" else text_value(raw, element))
        i = end + 1
    return items


_BOOLEANS = {"t": True, "true": True, "f": False, "false": False}


def text_value(text: str | None, type_oid: int) -> Any:
    """A column's text output as the Python value a mapping expects.

    Booleans, integers, floats, numerics, JSON and one-dimensional arrays of those become
    Python values; everything else (dates, timestamps, text, uuid...) stays text, which is
    what the hub holds (dates as ``YYYY-MM-DD``).
    """
    if text is None:
        return None
    if type_oid == _BOOL:
        # The stream (and array output) spells booleans t/f; a snapshot reads ``::text``,
        # which spells them true/false. Anything else is a protocol surprise, never False.
        value = _BOOLEANS.get(text)
        if value is None:
            raise ProtocolError(f"not a boolean: {text[:40]!r}")
        return value
    if type_oid in _INTS:
        return int(text)
    if type_oid in _FLOATS:
        return float(text)
    if type_oid == _NUMERIC:
        if text in ("NaN", "Infinity", "-Infinity"):
            return float(text)
        return int(text) if "." not in text and "e" not in text.lower() else float(text)
    if type_oid in _JSON:
        return orjson.loads(text)
    element = _ARRAYS.get(type_oid)
    if element is not None:
        return _array(text, element)
    return text


@dataclass
class Parser:
    """Parses one slot's messages; remembers the Relation messages that changes refer to."""

    relations: dict[int, Relation] = field(default_factory=dict)

    def parse(self, data: bytes) -> Message:
        tag = data[:1]
        if tag == b"B":
            final_lsn, ts, xid = struct.unpack_from("!QqI", data, 1)
            return Begin(final_lsn, _timestamp(ts), xid)
        if tag == b"C":
            _flags, commit_lsn, end_lsn, ts = struct.unpack_from("!BQQq", data, 1)
            return Commit(commit_lsn, end_lsn, _timestamp(ts))
        if tag == b"R":
            return self._relation(data)
        if tag == b"I":
            (oid,) = struct.unpack_from("!I", data, 1)
            rel = self._known(oid)
            if data[5:6] != b"N":
                raise ProtocolError(f"insert into {rel.table}: expected a new tuple")
            new, _ = self._tuple(rel, data, 6)
            return RowChange("insert", rel, new, None)
        if tag == b"U":
            (oid,) = struct.unpack_from("!I", data, 1)
            rel = self._known(oid)
            pos, old = 5, None
            if data[pos : pos + 1] in (b"K", b"O"):
                old, pos = self._tuple(rel, data, pos + 1)
            if data[pos : pos + 1] != b"N":
                raise ProtocolError(f"update of {rel.table}: expected a new tuple")
            new, _ = self._tuple(rel, data, pos + 1)
            return RowChange("update", rel, new, old)
        if tag == b"D":
            (oid,) = struct.unpack_from("!I", data, 1)
            rel = self._known(oid)
            old, _ = self._tuple(rel, data, 6)
            return RowChange("delete", rel, None, old)
        if tag == b"T":
            count, _options = struct.unpack_from("!IB", data, 1)
            oids = struct.unpack_from(f"!{count}I", data, 6)
            return Truncate(tuple(self._known(o) for o in oids))
        if tag in (b"O", b"Y", b"M"):
            return Skipped(tag.decode())
        raise ProtocolError(f"unknown pgoutput message {tag!r}")

    def _known(self, oid: int) -> Relation:
        try:
            return self.relations[oid]
        except KeyError:
            raise ProtocolError(f"a change of relation {oid} came before its Relation") from None

    def _relation(self, data: bytes) -> Relation:
        (oid,) = struct.unpack_from("!I", data, 1)
        pos = 5
        schema, pos = _cstring(data, pos)
        name, pos = _cstring(data, pos)
        _identity, ncols = struct.unpack_from("!BH", data, pos)
        pos += 3
        columns = []
        for _ in range(ncols):
            flags = data[pos]
            col, pos = _cstring(data, pos + 1)
            type_oid, _typmod = struct.unpack_from("!Ii", data, pos)
            pos += 8
            columns.append(Column(col, type_oid, bool(flags & 1)))
        rel = Relation(oid, schema, name, tuple(columns))
        self.relations[oid] = rel
        return rel

    def _tuple(self, rel: Relation, data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        (ncols,) = struct.unpack_from("!H", data, pos)
        pos += 2
        if ncols != len(rel.columns):
            raise ProtocolError(
                f"{rel.table}: a row of {ncols} columns, its Relation has {len(rel.columns)}"
            )
        row: dict[str, Any] = {}
        for col in rel.columns:
            kind = data[pos : pos + 1]
            pos += 1
            if kind == b"n":
                row[col.name] = None
            elif kind == b"u":
                row[col.name] = UNCHANGED
            elif kind == b"t":
                (length,) = struct.unpack_from("!I", data, pos)
                pos += 4
                text = data[pos : pos + length].decode()
                pos += length
                row[col.name] = text_value(text, col.type_oid)
            else:
                raise ProtocolError(f"{rel.table}.{col.name}: unknown tuple data kind {kind!r}")
        return row, pos


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\x00", pos)
    return data[pos:end].decode(), end + 1
