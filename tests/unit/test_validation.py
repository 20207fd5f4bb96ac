"""``hub.domain.validation.check_attributes``: one change's attributes against its domain,
checked (never coerced) before anything is stored (docs/architecture.md, "Bad input")."""

from __future__ import annotations

from typing import Any

import pytest

from hub.domain.spec import DomainSpec, FieldSpec
from hub.domain.validation import MAX_LIST, MAX_TEXT, check_attributes, check_value
from tests.unit.fakes import default_config


def client() -> DomainSpec:
    return default_config().domain("client")


def project() -> DomainSpec:
    return default_config().domain("project")


def resource() -> DomainSpec:
    return default_config().domain("resource")


def fields_of(problems: list[tuple[str, str]]) -> list[str]:
    return [f for f, _ in problems]


class TestValidChanges:
    def test_a_full_valid_project(self) -> None:
        attrs = {
            "code": "P-100",
            "name": "Migration",
            "start_date": "2026-01-31",
            "end_date": None,
            "billable": False,
            "contract_value": 125000.5,
            "client_key": "A-17",
            "project_manager_key": "R-9",
        }
        assert check_attributes(project(), attrs, "upsert") == []

    def test_valid_values_of_each_type(self) -> None:
        assert check_attributes(resource(), {"skills": [], "cost_rate": 0}, "upsert") == []
        assert check_attributes(resource(), {"skills": ["sql"], "cost_rate": -1.5}, "upsert") == []
        assert check_attributes(project(), {"billable": True, "client_key": "A"}, "upsert") == []
        assert (
            check_attributes(project(), {"start_date": "2024-02-29", "client_key": "A"}, "upsert")
            == []
        )

    @pytest.mark.parametrize("ftype", ["string", "number", "boolean", "date", "list"])
    def test_none_is_valid_for_every_type(self, ftype: Any) -> None:
        assert check_value(FieldSpec("f", ftype), None) is None


WRONG = [
    pytest.param("client", "name", 42, "text", id="string given int"),
    pytest.param("client", "name", ["Acme"], "text", id="string given list"),
    pytest.param("client", "name", {"a": 1}, "text", id="string given dict"),
    pytest.param("project", "contract_value", "100", "number", id="number given text"),
    pytest.param("project", "contract_value", True, "number", id="bool is not a number"),
    pytest.param("project", "contract_value", False, "number", id="false is not a number"),
    pytest.param("project", "contract_value", float("nan"), "finite", id="NaN"),
    pytest.param("project", "contract_value", float("inf"), "finite", id="Infinity"),
    pytest.param("project", "contract_value", float("-inf"), "finite", id="-Infinity"),
    pytest.param("project", "contract_value", [1], "number", id="number given list"),
    pytest.param("project", "billable", "true", "true or false", id="boolean given text"),
    pytest.param("project", "billable", 1, "true or false", id="boolean given 1"),
    pytest.param("project", "billable", 0, "true or false", id="boolean given 0"),
    pytest.param("project", "start_date", "2026-02-30", "YYYY-MM-DD", id="no such day"),
    pytest.param("project", "start_date", "2026-13-01", "YYYY-MM-DD", id="no such month"),
    pytest.param("project", "start_date", "20260101", "YYYY-MM-DD", id="basic format"),
    pytest.param("project", "start_date", "2026-1-5", "YYYY-MM-DD", id="short parts"),
    pytest.param("project", "start_date", "05/01/2026", "YYYY-MM-DD", id="local format"),
    pytest.param("project", "start_date", "2026-01-05T10:00", "YYYY-MM-DD", id="datetime"),
    pytest.param("project", "start_date", "", "YYYY-MM-DD", id="empty date"),
    pytest.param("project", "start_date", 20260105, "YYYY-MM-DD", id="date given int"),
    pytest.param("resource", "skills", "python", "list", id="list given text"),
    pytest.param("resource", "skills", [1, 2], "list of text", id="list of numbers"),
    pytest.param("resource", "skills", ["ok", None], "list of text", id="list with None"),
    pytest.param("resource", "skills", {"python": 1}, "list", id="list given dict"),
]


class TestWrongTypes:
    @pytest.mark.parametrize(("domain", "field", "value", "says"), WRONG)
    def test_wrong_value_is_named_with_its_field(
        self, domain: str, field: str, value: Any, says: str
    ) -> None:
        spec = default_config().domain(domain)
        attrs: dict[str, Any] = {field: value}
        if domain == "project":
            attrs["client_key"] = "A-17"
        problems = check_attributes(spec, attrs, "upsert")
        assert fields_of(problems) == [field]
        assert says in problems[0][1]

    def test_iso_week_date_is_not_yyyy_mm_dd(self) -> None:
        problems = check_attributes(
            project(), {"start_date": "2026-W01-1", "client_key": "A-17"}, "upsert"
        )
        assert fields_of(problems) == ["start_date"]

    def test_every_problem_is_reported_not_just_the_first(self) -> None:
        problems = check_attributes(
            project(),
            {"name": 1, "billable": "yes", "start_date": "2026-02-30", "client_key": "A"},
            "upsert",
        )
        assert sorted(fields_of(problems)) == ["billable", "name", "start_date"]


class TestLimits:
    def test_text_at_the_limit_is_fine(self) -> None:
        assert check_attributes(client(), {"name": "x" * MAX_TEXT}, "upsert") == []

    def test_too_long_text_is_refused(self) -> None:
        problems = check_attributes(client(), {"name": "x" * (MAX_TEXT + 1)}, "upsert")
        assert fields_of(problems) == ["name"]
        assert "longer" in problems[0][1]

    def test_too_long_list_is_refused(self) -> None:
        problems = check_attributes(resource(), {"skills": ["s"] * (MAX_LIST + 1)}, "upsert")
        assert fields_of(problems) == ["skills"]

    def test_too_long_list_item_is_refused(self) -> None:
        problems = check_attributes(resource(), {"skills": ["s" * (MAX_TEXT + 1)]}, "upsert")
        assert fields_of(problems) == ["skills"]

    def test_too_long_reference_key_is_refused(self) -> None:
        problems = check_attributes(project(), {"client_key": "k" * 501}, "upsert")
        assert fields_of(problems) == ["client_key"]


class TestUnknownFields:
    def test_unknown_field_is_named(self) -> None:
        problems = check_attributes(client(), {"name": "Acme", "colour": "blue"}, "upsert")
        assert problems == [("colour", "unknown field for domain client")]

    def test_golden_reference_name_is_not_a_wire_field(self) -> None:
        # the wire carries client_key; "client" is the resolved golden id, not an input
        problems = check_attributes(project(), {"client": "A-17", "client_key": "A"}, "upsert")
        assert fields_of(problems) == ["client"]


class TestReferences:
    def test_required_reference_missing_on_upsert(self) -> None:
        problems = check_attributes(project(), {"code": "P-1"}, "upsert")
        assert fields_of(problems) == ["client_key"]
        assert "client" in problems[0][1]

    @pytest.mark.parametrize("blank", [None, ""])
    def test_required_reference_blank_on_upsert(self, blank: Any) -> None:
        problems = check_attributes(project(), {"code": "P-1", "client_key": blank}, "upsert")
        assert "client_key" in fields_of(problems)

    def test_required_reference_may_be_missing_on_delete(self) -> None:
        assert check_attributes(project(), {}, "delete") == []
        assert check_attributes(project(), {"code": "P-1"}, "delete") == []

    def test_optional_reference_may_be_missing(self) -> None:
        assert check_attributes(project(), {"client_key": "A-17"}, "upsert") == []

    @pytest.mark.parametrize("bad", [17, "   ", ["A-17"]])
    def test_reference_key_must_be_non_empty_text(self, bad: Any) -> None:
        problems = check_attributes(
            project(), {"client_key": "A", "project_manager_key": bad}, "upsert"
        )
        assert fields_of(problems) == ["project_manager_key"]


def test_a_map_typed_as_text_reads_numbers_and_names_a_bad_entry() -> None:
    from hub.domain.validation import map_from_text

    assert map_from_text("senior=1200; junior = 950.5 ;note=day rate;") == {
        "senior": 1200,
        "junior": 950.5,
        "note": "day rate",
    }
    assert map_from_text("x=nan") == {"x": "nan"}  # never a number that is not finite
    with pytest.raises(ValueError, match="'senior 1200' is not name=value"):
        map_from_text("partner=2000; senior 1200")


def test_a_map_cell_of_an_onboarding_file_is_parsed_or_reported() -> None:
    from hub.domain.onboarding import _from_text

    assert _from_text("map", "senior=1200") == ({"senior": 1200}, None)
    value, why = _from_text("map", "senior")
    assert value is None and why and "'senior' is not name=value" in why
