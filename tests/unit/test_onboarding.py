"""Onboarding without a database: row validation, file reading, the report, bulk scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from connectors.inbound.files import column_mapping, read_rows
from hub.config import load_config
from hub.domain.errors import ConcordError
from hub.domain.onboarding import RawRow, Validation, validate_rows
from hub.onboard_report import build_report, render_html
from hub.services.onboarding_preview import Preview
from matching import FellegiSunterMatcher, client_spec, score_pairs

CONFIG = load_config(None)
CLIENT = CONFIG.domains["client"]
PROJECT = CONFIG.domains["project"]


def test_csv_cells_are_read_into_field_types() -> None:
    rows = [RawRow(1, "P-1", {"code": "X1", "billable": "yes", "contract_value": "1200.50",
                              "start_date": "2026-01-31", "client_key": "C-1"})]  # fmt: skip
    v = validate_rows(PROJECT, rows)
    assert v.errors == []
    assert v.valid[0].attributes == {
        "code": "X1",
        "billable": True,
        "contract_value": 1200.5,
        "start_date": "2026-01-31",
        "client_key": "C-1",
    }


def test_every_problem_is_reported_by_row_and_field() -> None:
    rows = [
        RawRow(1, "P-1", {"billable": "perhaps", "start_date": "31/01/2026", "client_key": "C"}),
        RawRow(2, "P-2", {"contract_value": "12k"}),
        RawRow(3, "P-1", {"client_key": "C-2"}),
        RawRow(4, " ", {"client_key": "C-3"}),
    ]
    v = validate_rows(PROJECT, rows)
    got = sorted((e.row, e.field) for e in v.errors)
    assert got == [
        (1, "billable"),
        (1, "start_date"),
        (2, "client_key"),  # a project must name its client
        (2, "contract_value"),
        (3, "id"),
        (4, "id"),
    ]
    assert v.valid == []
    assert "repeats row 1" in next(e.problem for e in v.errors if e.row == 3)


def test_blank_cells_are_missing_values_not_blanks() -> None:
    v = validate_rows(CLIENT, [RawRow(1, "A", {"name": "Acme", "city": "  ", "phone": ""})])
    assert v.valid[0].attributes == {"name": "Acme"}


def test_json_lines_keep_their_types_and_are_not_coerced() -> None:
    v = validate_rows(CLIENT, [RawRow(1, "A", {"name": 12}, text=False)])
    assert [(e.field, e.problem) for e in v.errors] == [("name", "expected text, got int")]


def test_csv_mapping_and_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("ref,company,extra\nA-1,Acme,x\n", encoding="utf-8")
    read = read_rows(path, CLIENT, column_mapping(CLIENT, ["name=company"]), "ref")
    assert read.rows == [RawRow(1, "A-1", {"name": "Acme"})]
    assert read.ignored_columns == ["extra"]
    with pytest.raises(ConcordError, match="no column firm"):
        read_rows(path, CLIENT, column_mapping(CLIENT, ["name=firm"]), "ref")
    with pytest.raises(ConcordError, match="no id column 'id'"):
        read_rows(path, CLIENT, column_mapping(CLIENT, []), "id")
    with pytest.raises(ConcordError, match="not a field of client"):
        column_mapping(CLIENT, ["colour=company"])


def test_report_escapes_file_values_and_draws_the_chart() -> None:
    preview = Preview(t_auto=0.99, t_review=0.5)
    preview.histogram[19] = 3
    preview.closest = [
        {"row": 1, "key": "<b>", "outcome": "review", "probability": 0.6, "golden_id": "g",
         "fields": {"name": {"row": "<script>x</script>", "golden": "Acme", "weight": 1.0}}}
    ]  # fmt: skip
    v = Validation()
    meta = {"run_id": "r1", "source": "nw", "domain": "client", "file": "a&b.csv", "mode": "dry"}
    html = render_html(build_report(meta, v, preview, ["<i>"]))
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "a&amp;b.csv" in html and "&lt;i&gt;" in html and "&lt;b&gt;" in html
    assert html.count("<rect") == 20 and "t_review" in html


def test_bulk_scores_equal_the_real_time_matcher() -> None:
    """The preview scores pairs in bulk; the apply path scores one record at a time. Both must
    give the same probability, or a dry run would predict another outcome than the load."""
    spec = client_spec()
    record = {"name": "Acme Intl. Corp", "city": "london", "postcode": "EC1A1BB", "country": "GB"}
    goldens = [
        {"name": "ACME International Corporation", "city": "London", "postcode": "EC1A 1BB",
         "country": "GB"},
        {"name": "Acme Holdings", "city": "Leeds", "country": "GB", "phone": "+44 113 496 0000"},
    ]  # fmt: skip
    one = FellegiSunterMatcher({"client": spec})
    _, _, expected = one.explain(spec.current_model(), record, goldens)
    i = np.zeros(2, dtype=np.int64)
    j = np.arange(2, dtype=np.int64)
    _, _, prob = score_pairs(spec, [record], goldens, i, j)
    assert np.allclose(prob, expected)
