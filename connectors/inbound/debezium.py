"""Debezium change events (JSON) to the hub's changes.

Debezium wraps each row change in an envelope: ``before`` and ``after`` images, ``op`` (``c``
create, ``u`` update, ``d`` delete, ``r`` read during a snapshot), ``source`` (where in the
source's log it happened) and ``ts_ms``. With the JSON converter's ``schemas.enable=true`` the
envelope sits under ``payload`` beside its ``schema``; without it, it is the whole message. A
delete is followed by a tombstone (a null value) for log compaction: that carries no change.

The event id comes from the source's log position (``source.lsn`` and ``txId`` for the
PostgreSQL connector), plus the table, key and op, so a redelivered event is the same event and
the inbox counts it as a duplicate, while the rows of one snapshot (which share the snapshot's
LSN) and the rows of one multi-row insert stay distinct. The sequence is the LSN, which orders
the changes of one record the way the source committed them (a row is locked from one change
to the next, so its changes' LSNs rise). One edge is not covered: a transaction that began
before Debezium's snapshot point and committed after it carries change LSNs below the
snapshot's, so the hub takes its change of a row read by the snapshot as older than the
snapshot image. Debezium does not send the commit LSN of each event's own transaction; the
logical decoding connector (``pg_logical``) uses it and has no such edge.

When the schema is present, Debezium's logical types are decoded (dates, timestamps, decimals)
so a mapping need not know them; without it they arrive as integers and base64 text, and the
mapping's transforms (``{date: epoch_days}``) say what they are.

This module does no I/O: the faust agent and the tests call ``decode`` on raw message bytes.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from connectors.inbound.mappings import MappingError, Mappings, RowRejected
from hub.domain.model import Change, Op

log = logging.getLogger("concord.debezium")

OPS: dict[str, Op] = {"c": "upsert", "u": "upsert", "r": "upsert", "d": "delete"}
IGNORED_OPS = {"t": "truncate", "m": "message"}
_EPOCH = date(1970, 1, 1)
_EPOCH_TS = datetime(1970, 1, 1, tzinfo=UTC)


class NotDebezium(MappingError):
    """A message on a Debezium topic that is not a Debezium envelope; names topic and why."""


def _json(raw: bytes, topic: str, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NotDebezium(f"topic {topic}: the {what} is not JSON ({exc})") from None


def _unwrap(doc: Any) -> tuple[Any, dict[str, Any] | None]:
    """The payload and its schema, whether or not the converter wrapped them."""
    if isinstance(doc, dict) and "payload" in doc and set(doc) <= {"schema", "payload"}:
        schema = doc.get("schema")
        return doc["payload"], schema if isinstance(schema, dict) else None
    return doc, None


def _field_schemas(schema: dict[str, Any] | None, image: str) -> dict[str, dict[str, Any]]:
    """The column schemas of the ``before`` or ``after`` struct, by column name."""
    if not schema:
        return {}
    for f in schema.get("fields") or []:
        if isinstance(f, dict) and f.get("field") == image:
            return {c["field"]: c for c in f.get("fields") or [] if isinstance(c, dict)}
    return {}


def _decimal(raw: Any, scale: int) -> Any:
    if not isinstance(raw, str):
        return raw
    unscaled = int.from_bytes(base64.b64decode(raw), "big", signed=True)
    value = Decimal(unscaled).scaleb(-scale)
    return int(value) if value == value.to_integral_value() else float(value)


def _logical(value: Any, schema: dict[str, Any]) -> Any:
    """One column's value with Debezium's logical type decoded (None and unknown: as is)."""
    name = schema.get("name")
    if value is None or not name:
        return value
    if name in ("io.debezium.time.Date", "org.apache.kafka.connect.data.Date"):
        return (_EPOCH + timedelta(days=int(value))).isoformat()
    scale = {
        "io.debezium.time.Timestamp": 1_000,
        "org.apache.kafka.connect.data.Timestamp": 1_000,
        "io.debezium.time.MicroTimestamp": 1,
    }.get(name)
    if scale is not None:
        return (_EPOCH_TS + timedelta(microseconds=int(value) * scale)).isoformat()
    if name == "io.debezium.time.NanoTimestamp":
        return (_EPOCH_TS + timedelta(microseconds=int(value) // 1_000)).isoformat()
    if name == "org.apache.kafka.connect.data.Decimal":
        return _decimal(value, int((schema.get("parameters") or {}).get("scale", 0)))
    if name == "io.debezium.data.VariableScaleDecimal" and isinstance(value, dict):
        return _decimal(value.get("value"), int(value.get("scale") or 0))
    return value


def _image(payload: dict[str, Any], schema: dict[str, Any] | None, name: str) -> dict[str, Any]:
    image = payload.get(name)
    if not isinstance(image, dict):
        return {}
    columns = _field_schemas(schema, name)
    return {k: _logical(v, columns[k]) if k in columns else v for k, v in image.items()}


def _key_columns(key: bytes | None, topic: str) -> dict[str, Any]:
    if not key:
        return {}
    doc, _ = _unwrap(_json(key, topic, "key"))
    return doc if isinstance(doc, dict) else {}


def _changed_at(payload: dict[str, Any], source: dict[str, Any]) -> datetime:
    """When the source committed the change; when the connector saw it if that is unknown."""
    for ms in (source.get("ts_ms"), payload.get("ts_ms")):
        if isinstance(ms, int) and not isinstance(ms, bool) and ms > 0:
            return _EPOCH_TS + timedelta(milliseconds=ms)
    return datetime.now(UTC)


def decode(value: bytes | None, key: bytes | None, topic: str, mappings: Mappings) -> Change | None:
    """One Debezium message as the hub's change, or None when it carries no change.

    None for a tombstone (null value), a truncate and a logical-decoding message: the hub
    does not delete every record of a source because a table was emptied for a reload.

    Args:
        value: the message value (the envelope), JSON with or without the schema wrapper.
        key: the message key (the row's primary key); used when a delete's before-image lacks it.
        topic: the topic, ``<prefix>.<schema>.<table>``; it picks the table mapping.
        mappings: the source system's mappings.

    Raises:
        NotDebezium: the message is not a Debezium envelope.
        MappingError: no mapping for the topic.
        RowRejected: the row breaks its mapping (names the record and the field).

    Examples:
        >>> change = decode(message.value, message.key, message.topic, mappings)  # doctest: +SKIP
    """
    if value is None:
        return None
    payload, schema = _unwrap(_json(value, topic, "value"))
    if payload is None:
        return None  # a tombstone whose null sits inside the schema wrapper
    if not isinstance(payload, dict) or "op" not in payload:
        raise NotDebezium(f"topic {topic}: not a Debezium envelope (no 'op')")
    op_code = payload["op"]
    if op_code in IGNORED_OPS:
        log.warning("topic %s: ignoring a %s event", topic, IGNORED_OPS[op_code])
        return None
    op = OPS.get(op_code) if isinstance(op_code, str) else None
    if op is None:
        raise NotDebezium(f"topic {topic}: unknown op {op_code!r} (expected c, u, d, r)")
    raw_source = payload.get("source")
    source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
    mapping = mappings.find(topic)
    if mapping is None and source.get("schema") and source.get("table"):
        mapping = mappings.find(f"{source['schema']}.{source['table']}")
    if mapping is None:
        mapping = mappings.for_table(topic)  # raises, naming the file and the topic
    row = _image(payload, schema, "before" if op == "delete" else "after")
    if op == "upsert" and not row:
        raise RowRejected(mappings.source, mapping.table, None, "after", "no after-image")
    for column, v in _key_columns(key, topic).items():
        if row.get(column) is None:
            row[column] = v
    record_key = mapping.key_of(row)
    lsn = source.get("lsn")
    sequence = lsn if isinstance(lsn, int) and not isinstance(lsn, bool) else None
    if sequence is not None:
        event_id = f"lsn:{lsn}:{source.get('txId')}:{mapping.table}:{record_key}:{op_code}"
    else:
        # Not the PostgreSQL connector: the position and time are the best identity we have.
        position = source.get("pos", source.get("ts_ms"))
        event_id = f"dbz:{source.get('file')}:{position}:{mapping.table}:{record_key}:{op_code}"
    return mapping.to_change(row, op, event_id, sequence, _changed_at(payload, source))
