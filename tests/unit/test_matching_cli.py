"""The ``concord match link|dedupe`` contract on small CSV files (no database)."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from hub.cli.match import match_app
from matching import resource_spec

RUNNER = CliRunner()
HEAD = "id,given_name,surname,date_of_birth,suburb,postcode,notes\n"
LEFT = HEAD + (
    "1,John,Smith,1980-01-02,Sydney,2000,x\n"
    "2,Mary,Jones,19700304,Perth,6000,y\n"
    "3,Ann,Lee,1990-05-06,Hobart,7000,z\n"
)
RIGHT = HEAD + (
    "a,Jon,Smith,19800102,sydney,2000,\n"
    "b,Mary,Jones,04/03/1970,Perth,6000,\n"
    "c,Peter,Brown,19600101,Darwin,0800,\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_link_writes_the_contract_columns(tmp_path: Path) -> None:
    out = tmp_path / "pairs.csv"
    result = RUNNER.invoke(
        match_app,
        [
            "link", "--domain", "resource",
            "--left", str(_write(tmp_path, "a.csv", LEFT)),
            "--right", str(_write(tmp_path, "b.csv", RIGHT)),
            "--map", "family_name=surname", "--map", "city=suburb",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:4] == ["left_id", "right_id", "probability", "tier"]
    assert header[4:] == [f"weight_{label}" for label in resource_spec().labels]
    rows = _rows(out)
    assert {(r["left_id"], r["right_id"]) for r in rows if r["tier"] == "auto"} == {
        ("1", "a"),
        ("2", "b"),
    }
    assert all(r["tier"] in ("auto", "review") for r in rows)
    assert all(0.0 <= float(r["probability"]) <= 1.0 for r in rows)
    lefts = [r["left_id"] for r in rows if r["tier"] == "auto"]
    assert len(lefts) == len(set(lefts))  # at most one auto link per left record


def test_unmapped_columns_are_ignored(tmp_path: Path) -> None:
    """Without --map the surname column is not a canonical field: names match on given only."""
    out = tmp_path / "pairs.csv"
    result = RUNNER.invoke(
        match_app,
        [
            "link", "--domain", "resource",
            "--left", str(_write(tmp_path, "a.csv", LEFT)),
            "--right", str(_write(tmp_path, "b.csv", RIGHT)),
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert all(float(r["weight_family_name"]) == 0.0 for r in _rows(out))


def test_dedupe_with_custom_id_column(tmp_path: Path) -> None:
    text = (
        "key,name,city,postcode,country\n"
        "c1,The Acme Group,London,EC1A 1BB,GB\n"
        "c2,Zenith Ltd,Leeds,LS1 1AA,GB\n"
        "c3,ACME GROUP LIMITED,London,EC1A1BB,United Kingdom\n"
    )
    out = tmp_path / "dups.csv"
    result = RUNNER.invoke(
        match_app,
        ["dedupe", "--domain", "client", "--input", str(_write(tmp_path, "c.csv", text)),
         "--id-column", "key", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert [(r["left_id"], r["right_id"], r["tier"]) for r in rows] == [("c1", "c3", "auto")]
    assert float(rows[0]["weight_name"]) > 0


def test_errors_name_the_problem(tmp_path: Path) -> None:
    left = str(_write(tmp_path, "a.csv", LEFT))
    out = str(tmp_path / "o.csv")
    bad_domain = RUNNER.invoke(
        match_app, ["dedupe", "--domain", "widget", "--input", left, "--out", out]
    )
    assert bad_domain.exit_code == 2
    bad_map = RUNNER.invoke(
        match_app,
        ["dedupe", "--domain", "resource", "--input", left, "--map", "shoe=notes", "--out", out],
    )
    assert bad_map.exit_code == 2
    missing_col = RUNNER.invoke(
        match_app,
        ["dedupe", "--domain", "resource", "--input", left, "--map", "city=town", "--out", out],
    )
    assert missing_col.exit_code == 2
    missing_id = RUNNER.invoke(
        match_app,
        ["dedupe", "--domain", "resource", "--input", left, "--id-column", "pk", "--out", out],
    )
    assert missing_id.exit_code == 2
