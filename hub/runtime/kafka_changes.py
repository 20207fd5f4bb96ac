"""The ``concord.changes`` topic of scale-out mode: how a change looks on it, and its key.

The key is the source record's identity (domain, source, source key), so every change of one
source record lands on one partition and one worker, in the order it was accepted. The value is
the validated change, event id included: a worker that receives it twice (at-least-once
consumption) stores it in the inbox once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from connectors.outbound.kafka import Producer, Record
from hub.config import Settings
from hub.domain.errors import Unavailable
from hub.domain.model import Change, UnreadableMessage
from hub.domain.validation import check_timestamp


class UnreadableChange(ValueError):
    """A message on the changes topic that is not a change (names the field at fault)."""


def key_of(change: Change) -> bytes:
    """Examples:
    >>> from datetime import UTC
    >>> key_of(Change("crm", "client", "A/1", "upsert", "e1", {}, datetime.now(UTC)))
    b'["client","crm","A/1"]'
    """
    return orjson.dumps([change.domain, change.source, change.key])


def encode(change: Change) -> bytes:
    return orjson.dumps(
        {
            "source": change.source,
            "domain": change.domain,
            "key": change.key,
            "op": change.op,
            "event_id": change.event_id,
            "attributes": change.attributes,
            "changed_at": change.changed_at.isoformat(),
            "sequence": change.sequence,
            "run_id": change.run_id,
            "correlation_id": change.correlation_id,
        }
    )


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        raise UnreadableChange(f"field {name}: expected a non-empty string, got {value!r}")
    return value


def decode(value: bytes) -> Change:
    """The change ``encode`` wrote.

    Raises:
        UnreadableChange: naming the field, when the message was not written by ``encode``.
    """
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise UnreadableChange(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UnreadableChange("expected a JSON object")
    op = _text(raw, "op")
    if op not in ("upsert", "delete"):
        raise UnreadableChange(f"field op: expected upsert or delete, got {op!r}")
    attributes = raw.get("attributes")
    if not isinstance(attributes, dict):
        raise UnreadableChange("field attributes: expected an object")
    try:
        changed_at = datetime.fromisoformat(_text(raw, "changed_at"))
    except ValueError as exc:
        raise UnreadableChange(f"field changed_at: {exc}") from exc
    if changed_at.tzinfo is None:
        raise UnreadableChange("field changed_at: expected a time zone")
    why = check_timestamp(changed_at)
    if why is not None:
        raise UnreadableChange(f"field changed_at: {why}")
    sequence = raw.get("sequence")
    if sequence is not None and not isinstance(sequence, int):
        raise UnreadableChange(f"field sequence: expected an integer, got {sequence!r}")
    run_id = raw.get("run_id")
    correlation_id = raw.get("correlation_id")
    return Change(
        source=_text(raw, "source"),
        domain=_text(raw, "domain"),
        key=_text(raw, "key"),
        op=op,  # type: ignore[arg-type]
        event_id=_text(raw, "event_id"),
        attributes=attributes,
        changed_at=changed_at,
        sequence=sequence,
        run_id=run_id if isinstance(run_id, str) else None,
        correlation_id=correlation_id if isinstance(correlation_id, str) else None,
    )


def unreadable(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, reason: str
) -> UnreadableMessage:
    """A message that is not a change, as a dead letter: its bytes as text (invalid UTF-8
    escaped, so nothing is dropped) and where it sat on the topic."""

    def text(raw: bytes | None) -> str | None:
        return None if raw is None else raw.decode("utf-8", "backslashreplace")

    return UnreadableMessage(
        origin=f"kafka:{topic}",
        position=f"{partition}@{offset}",
        payload={
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": text(key),
            "value": text(value),
        },
        reason=reason,
    )


class TopicSink:
    """``concord.changes`` as the ``ChangeSink`` of scale-out HTTP ingest: a batch is kept once
    the brokers acknowledged every change (acks=all). Otherwise ``Unavailable`` (503) and the
    source sends the batch again; what did reach the topic comes back a duplicate in the
    workers' inbox, by event id, so duplicates are counted there and never here."""

    def __init__(self, settings: Settings) -> None:
        assert settings.kafka_bootstrap, "CONCORD_KAFKA_BOOTSTRAP is not set"
        self.settings = settings
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    def _started(self) -> Producer:
        with self._lock:  # the first batches may arrive on several threads at once
            if self._producer is None:
                assert self.settings.kafka_bootstrap is not None
                self._producer = Producer(self.settings.kafka_bootstrap, self.settings)
            return self._producer

    def write(self, changes: Sequence[Change]) -> tuple[int, int]:
        topic = self.settings.kafka_changes_topic
        records: list[Record] = [(topic, key_of(c), encode(c), []) for c in changes]
        failed = [r for r in self._started().send_all(records) if not isinstance(r, str)]
        if failed:
            raise Unavailable(
                f"the broker did not acknowledge {len(failed)} of {len(changes)} changes "
                f"({type(failed[0]).__name__}: {failed[0]}); send the batch again"
            )
        return len(changes), 0

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close()
                self._producer = None
