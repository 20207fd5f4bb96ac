"""``concord bench turns`` applies every change it offers, counts the statements of the
turns it times (not of the turns before them), and fits its line through what it measured."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from bench.turns import _balance, _line, run_turns


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_each_size_is_timed_and_fitted(
    database: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database == "postgres":
        monkeypatch.setenv("CONCORD_BENCH_DATABASE_URL", request.getfixturevalue("pg_server"))
    console = Console(record=True, width=300)
    assert run_turns([1, 5], turns=3, warmup=1, database=database, console=console) == 0
    text = console.export_text()
    rows = re.findall(r"(\d+) changes a turn: +([\d.]+) ms CPU .* ([\d.]+) statements", text)
    assert [r[0] for r in rows] == ["1", "5"], text
    assert all(float(cpu) > 0 and float(n) >= 5 for _, cpu, n in rows), text
    assert "fit:" in text and "load average after" in text


def test_the_line_and_the_balance() -> None:
    fixed, slope = _line([(1, 0.0105), (11, 0.0155), (21, 0.0205)])
    assert fixed == pytest.approx(0.010) and slope == pytest.approx(0.0005)
    assert _balance(0.010, 0.0005) == pytest.approx(20.0)  # 10 ms + 20 x 0.5 ms = 20 ms
    assert _balance(0.010, 0.002) == float("inf")  # a change costs more than its arrival gap
