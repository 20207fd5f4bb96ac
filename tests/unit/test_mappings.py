"""Mapping files: validated at load against the hub's domains; rows become valid changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from connectors.inbound.mappings import (
    MappingError,
    RowRejected,
    bounded_event_id,
    load_mappings,
    parse_mappings,
)
from hub.config import load_config

AT = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)

GOOD = {
    "source": "psa",
    "tables": {
        "public.projects": {
            "domain": "project",
            "key": ["id"],
            "columns": {
                "code": {"field": "code", "transform": ["trim", "upper"]},
                "title": {"field": "name", "transform": ["trim"]},
                "starts": {"field": "start_date", "transform": [{"date": "%d/%m/%Y"}]},
                "state": {
                    "field": "status",
                    "transform": ["lower", {"enum": {"a": "active", "c": "closed"}}],
                },
                "budget": {"field": "contract_value", "transform": ["number"]},
                "client_id": {"reference": "client"},
                "pm_id": {"reference": "project_manager"},
            },
        },
        "clients": {
            "topics": ["legacy.clients"],
            "domain": "client",
            "key": ["region", "no"],
            "columns": {"nm": "name"},
        },
    },
}


def parse(doc: object, **kw: object) -> object:
    return parse_mappings(doc, path="psa.yaml", **kw)  # type: ignore[arg-type]


def test_a_row_becomes_a_change_with_cleaned_values() -> None:
    m = parse_mappings(GOOD, path="psa.yaml")
    row = {
        "id": 42,
        "code": " prj-42 ",
        "title": "  Migration ",
        "starts": "15/01/2026",
        "state": "A",
        "budget": "1250.50",
        "client_id": 17,
        "pm_id": None,
        "ignored": "not mapped",
    }
    change = m.for_table("public.projects").to_change(row, "upsert", "e1", 9, AT)
    assert change.source == "psa"
    assert change.domain == "project"
    assert change.key == "42"
    assert change.attributes == {
        "code": "PRJ-42",
        "name": "Migration",
        "start_date": "2026-01-15",
        "status": "active",
        "contract_value": 1250.5,
        "client_key": "17",
        "project_manager_key": None,
    }
    assert (change.event_id, change.sequence, change.changed_at) == ("e1", 9, AT)


def test_composite_keys_are_joined_and_a_delete_carries_no_attributes() -> None:
    m = parse_mappings(GOOD, path="psa.yaml")
    change = m.for_table("clients").to_change({"region": "EU", "no": 7}, "delete", "e", None, AT)
    assert change.key == "EU:7"
    assert change.attributes == {}
    assert change.op == "delete"


@pytest.mark.parametrize(
    "name",
    ["public.clients", "clients", "legacy.clients", "dbserver1.public.clients"],
)
def test_a_table_is_found_by_schema_table_bare_name_topic_or_debezium_topic(name: str) -> None:
    assert parse_mappings(GOOD).for_table(name).table == "public.clients"


def test_an_unmapped_table_names_the_file_and_the_table() -> None:
    with pytest.raises(MappingError, match=r"psa\.yaml.*'public\.invoices'"):
        parse_mappings(GOOD, path="psa.yaml").for_table("public.invoices")


@pytest.mark.parametrize(
    ("column", "value", "field", "why"),
    [
        ("starts", "2026-01-15", "column starts (start_date)", "expected a date like"),
        ("state", "X", "column state (status)", "'x' is not in the enum map"),
        ("budget", "lots", "column budget (contract_value)", "expected a number"),
        ("title", 17, "column title (name)", "expected text, got int"),
        ("client_id", None, "column client_id (client_key)", "required reference to client"),
    ],
)
def test_a_bad_row_is_refused_naming_the_record_and_the_field(
    column: str, value: object, field: str, why: str
) -> None:
    m = parse_mappings(GOOD)
    row = {"id": 42, "title": "x", "client_id": 1, column: value}
    with pytest.raises(RowRejected) as info:
        m.for_table("public.projects").to_change(row, "upsert", "e", None, AT)
    assert info.value.key == "42"
    assert info.value.table == "public.projects"
    assert info.value.field == field
    assert why in str(info.value)
    assert str(info.value).startswith("psa public.projects key '42': ")


def test_a_row_without_its_key_is_refused() -> None:
    with pytest.raises(RowRejected, match="key column is missing") as info:
        parse_mappings(GOOD).for_table("public.projects").to_change(
            {"title": "x"}, "upsert", "e", None, AT
        )
    assert info.value.field == "id"


def _with(table: str, **changes: object) -> dict[str, object]:
    doc = yaml.safe_load(yaml.safe_dump(GOOD))
    doc["tables"][table].update(changes)
    return doc  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            _with("public.projects", columns={"t": "title", "c": {"reference": "client"}}),
            r"psa\.yaml: tables\.public\.projects\.columns\.t: unknown field 'title' of domain "
            r"project",
        ),
        (
            _with("public.projects", columns={"c": {"reference": "owner"}}),
            r"tables\.public\.projects\.columns\.c: unknown reference 'owner'",
        ),
        (
            _with("public.projects", columns={"code": "code"}),
            r"tables\.public\.projects\.columns: domain project requires reference client",
        ),
        (
            _with("public.projects", domain="invoice"),
            r"tables\.public\.projects\.domain: unknown domain 'invoice'",
        ),
        (
            _with("clients", columns={"nm": {"field": "name", "transform": ["shout"]}}),
            r"tables\.clients\.columns\.nm\.transform: unknown transform 'shout'",
        ),
        (
            _with("clients", columns={"nm": "name", "nm2": "name"}),
            r"tables\.clients\.columns\.nm2: name is already filled by column nm",
        ),
        (_with("clients", key=[]), r"tables\.clients\.key: expected a key column"),
        (
            _with("clients", columns={"nm": {"field": "name", "reference": "x"}}),
            r"columns\.nm: name either a field or a reference",
        ),
        ({"tables": GOOD["tables"]}, r"psa\.yaml: name the source system"),
        ({"source": "psa"}, r"psa\.yaml: tables: expected at least one table"),
    ],
)
def test_mistakes_are_refused_at_load_naming_file_table_and_column(
    doc: dict[str, object], message: str
) -> None:
    with pytest.raises(MappingError, match=message):
        parse_mappings(doc, path="psa.yaml")


def test_fields_are_checked_against_the_firms_own_configuration() -> None:
    firm = load_config(text="domains: {client: {fields: {segment: {owners: [crm]}}}}")
    doc = {
        "source": "crm",
        "tables": {"c": {"domain": "client", "key": "id", "columns": {"seg": "segment"}}},
    }
    assert parse_mappings(doc, firm).for_table("c").columns[0].target == "segment"
    with pytest.raises(MappingError, match="unknown field 'segment'"):
        parse_mappings(doc)


def test_the_source_named_by_the_caller_must_agree_with_the_file() -> None:
    assert parse_mappings(GOOD, source="psa").source == "psa"
    with pytest.raises(MappingError, match="maps source 'psa', not 'crm'"):
        parse_mappings(GOOD, source="crm", path="psa.yaml")
    doc = {k: v for k, v in GOOD.items() if k != "source"}
    assert parse_mappings(doc, source="crm").for_table("clients").source == "crm"


def test_load_reads_a_file_and_names_it_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "psa.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    assert load_mappings(path).for_table("public.projects").domain.name == "project"
    path.write_text("tables: [unclosed")
    with pytest.raises(MappingError, match=f"{path}: not valid YAML"):
        load_mappings(path)
    with pytest.raises(MappingError, match="cannot read mapping file"):
        load_mappings(tmp_path / "missing.yaml")


def test_the_example_mapping_files_load() -> None:
    examples = sorted(Path("examples/mappings").glob("*.yaml"))
    assert examples
    for path in examples:
        assert load_mappings(path).tables


def test_epoch_dates_and_already_decoded_dates() -> None:
    doc = {
        "source": "hr",
        "tables": {
            "people": {
                "domain": "resource",
                "key": "id",
                "columns": {
                    "born": {"field": "date_of_birth", "transform": [{"date": "epoch_days"}]},
                    "hired": {"field": "start_date", "transform": [{"date": "epoch_millis"}]},
                },
            }
        },
    }
    m = parse_mappings(doc).for_table("people")
    row = {"id": 1, "born": 20468, "hired": 1768471200123}
    assert m.to_change(row, "upsert", "e", None, AT).attributes == {
        "date_of_birth": "2026-01-15",
        "start_date": "2026-01-15",
    }
    row = {"id": 1, "born": "2026-01-15", "hired": "2026-01-15T10:00:00+00:00"}
    assert m.to_change(row, "upsert", "e", None, AT).attributes["start_date"] == "2026-01-15"


def test_trim_makes_a_blank_no_value() -> None:
    doc = {
        "source": "crm",
        "tables": {
            "c": {
                "domain": "client",
                "key": "id",
                "columns": {"nm": {"field": "name", "transform": ["trim"]}},
            }
        },
    }
    change = (
        parse_mappings(doc)
        .for_table("c")
        .to_change({"id": 1, "nm": "   "}, "upsert", "e", None, AT)
    )
    assert change.attributes == {"name": None}


def test_long_event_ids_are_bounded_but_stay_distinct() -> None:
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert len(bounded_event_id(a)) == 200
    assert bounded_event_id(a) != bounded_event_id(b)
    assert bounded_event_id("short") == "short"
