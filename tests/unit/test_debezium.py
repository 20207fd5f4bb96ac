"""Debezium PostgreSQL connector events (JSON, with and without the schema wrapper)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.inbound.debezium import NotDebezium, decode
from connectors.inbound.mappings import MappingError, Mappings, RowRejected, load_mappings

DATA = Path(__file__).parent / "data" / "debezium"
TOPIC = "pg.public.projects"


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture(scope="module")
def mappings() -> Mappings:
    return load_mappings("examples/mappings/psa-postgres.yaml")


def test_create_with_schema_decodes_logical_types(mappings: Mappings) -> None:
    change = decode(
        raw("project_create_with_schema.json"),
        raw("project_key_with_schema.json"),
        TOPIC,
        mappings,
    )
    assert change is not None
    assert (change.source, change.domain, change.key, change.op) == (
        "psa",
        "project",
        "42",
        "upsert",
    )
    assert change.attributes == {
        "code": "PRJ-0042",
        "name": "Data platform migration",
        "start_date": "2026-01-15",  # io.debezium.time.Date 20468
        "contract_value": 125000.5,  # Decimal, scale 2, base64 "AL68Ug=="
        "billable": True,
        "client_key": "17",
    }
    assert change.sequence == 24023128
    assert change.event_id == "lsn:24023128:555:public.projects:42:c"
    assert change.changed_at == datetime(2026, 1, 15, 10, 0, 0, 123000, tzinfo=UTC)


def test_update_without_schema_uses_the_mappings_transforms(mappings: Mappings) -> None:
    change = decode(raw("project_update_no_schema.json"), b'{"id": 42}', TOPIC, mappings)
    assert change is not None
    assert change.op == "upsert"
    assert change.attributes["start_date"] == "2026-01-15"  # {date: epoch_days}
    assert change.attributes["contract_value"] == 125000.5
    assert change.attributes["billable"] is False
    assert change.sequence == 24023376
    assert change.event_id == "lsn:24023376:561:public.projects:42:u"


def test_delete_takes_the_key_from_the_before_image(mappings: Mappings) -> None:
    change = decode(raw("project_delete_no_schema.json"), None, TOPIC, mappings)
    assert change is not None
    assert (change.op, change.key, change.attributes) == ("delete", "42", {})
    assert change.sequence == 24023544


def test_delete_whose_before_image_lacks_the_key_takes_it_from_the_message_key(
    mappings: Mappings,
) -> None:
    doc = json.loads(raw("project_delete_no_schema.json"))
    doc["before"] = None
    change = decode(json.dumps(doc).encode(), raw("project_key_with_schema.json"), TOPIC, mappings)
    assert change is not None and change.key == "42"


def test_snapshot_reads_are_upserts_and_stay_distinct_per_record(mappings: Mappings) -> None:
    doc = json.loads(raw("project_snapshot_read_no_schema.json"))
    first = decode(json.dumps(doc).encode(), None, TOPIC, mappings)
    doc["after"]["id"] = 8
    second = decode(json.dumps(doc).encode(), None, TOPIC, mappings)
    assert first is not None and second is not None
    assert first.op == "upsert"
    assert first.sequence == second.sequence == 24000000  # one snapshot, one LSN
    assert first.event_id != second.event_id


def test_a_redelivered_event_has_the_same_event_id(mappings: Mappings) -> None:
    once = decode(raw("project_update_no_schema.json"), None, TOPIC, mappings)
    again = decode(raw("project_update_no_schema.json"), None, TOPIC, mappings)
    assert once is not None and again is not None
    assert once.event_id == again.event_id
    assert once == again


def test_tombstones_carry_no_change(mappings: Mappings) -> None:
    assert decode(None, b'{"id": 42}', TOPIC, mappings) is None
    assert decode(b'{"schema": null, "payload": null}', b'{"id": 42}', TOPIC, mappings) is None


def test_truncate_is_ignored_not_turned_into_deletes(mappings: Mappings) -> None:
    doc = json.loads(raw("project_update_no_schema.json"))
    doc.update(op="t", after=None)
    assert decode(json.dumps(doc).encode(), None, TOPIC, mappings) is None


def test_the_table_is_found_from_source_when_the_topic_was_renamed(mappings: Mappings) -> None:
    change = decode(raw("project_update_no_schema.json"), None, "psa-projects-v2", mappings)
    assert change is not None and change.domain == "project"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"{not json", "topic pg.public.projects: the value is not JSON"),
        (b'{"after": {"id": 1}}', "not a Debezium envelope"),
        (b'{"op": "x", "after": {"id": 1}}', "unknown op 'x'"),
    ],
)
def test_messages_that_are_not_envelopes_are_refused(
    mappings: Mappings, value: bytes, message: str
) -> None:
    with pytest.raises(NotDebezium, match=message):
        decode(value, None, TOPIC, mappings)


def test_an_unmapped_topic_is_refused(mappings: Mappings) -> None:
    doc = json.loads(raw("project_update_no_schema.json"))
    doc["source"]["table"] = "invoices"
    with pytest.raises(MappingError, match=r"'pg\.public\.invoices'"):
        decode(json.dumps(doc).encode(), None, "pg.public.invoices", mappings)


def test_a_bad_row_names_the_record_and_the_field(mappings: Mappings) -> None:
    doc = json.loads(raw("project_update_no_schema.json"))
    doc["after"]["budget"] = "AL68Ug=="  # a decimal without its schema is base64 text
    with pytest.raises(RowRejected) as info:
        decode(json.dumps(doc).encode(), None, TOPIC, mappings)
    assert info.value.key == "42"
    assert info.value.field == "column budget (contract_value)"
    assert "expected a number" in str(info.value)
