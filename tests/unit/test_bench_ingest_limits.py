"""``concord bench ingest`` measures what its header says, and ``--timeout`` ends it (issue
"Throughput", must-have 4).

Its data must exercise fuzzy matching at every size: a fixed warm-up of 1,000 new clients left
500 or 1,000 changes without a misspelt name or an update, so a small run timed only inserts.
And the time limit must stop the whole command: it used to end only the wait for the inbox to
drain, after which the apply stage alone still ran, untimed."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

import bench.ingest
from bench.apply import apply_stage_alone
from bench.datasets import build_batches
from bench.ingest import Deadline, TimedOut, run_ingest_bench

BLOCKING_FIELDS = {"name", "city", "postcode", "country"}


def _shares(n: int) -> dict[str, float]:
    """Shares of the changes counted here, apart from the bench's own count: a first change of
    a key is new (CRM, with a tax id), an ERP copy or a misspelt name (CRM, no key); every
    later one an update."""
    counts = dict.fromkeys(("new", "erp", "misspelt", "update"), 0)
    seen: set[tuple[str, str]] = set()
    for source, body in build_batches(n, 100):
        for change in json.loads(body)["changes"]:
            attrs = change["attributes"]
            if (source, change["key"]) in seen:
                counts["update"] += 1
            elif source == "erp":
                counts["erp"] += 1
            elif "tax_id" in attrs:
                counts["new"] += 1
            else:
                assert set(attrs) >= BLOCKING_FIELDS, attrs  # the blocking rules find it
                counts["misspelt"] += 1
            seen.add((source, change["key"]))
    assert sum(counts.values()) == n
    return {kind: count / n for kind, count in counts.items()}


@pytest.mark.parametrize("n", [500, 1000, 2000, 30_000])
def test_the_data_has_its_mix_at_every_size(n: int) -> None:
    shares = _shares(n)
    assert 0.08 <= shares["misspelt"] <= 0.12, shares
    assert 0.35 <= shares["update"] <= 0.45, shares
    assert shares["erp"] >= 0.1 and shares["new"] >= 0.25, shares


def _children() -> set[str]:
    """This process's live child processes (Linux), so a test sees a server left running."""
    found: set[str] = set()
    for task in Path("/proc/self/task").glob("*"):
        try:
            found |= set((task / "children").read_text().split())
        except OSError:
            continue
    return found


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, timeout: float) -> tuple[int, list[str]]:
    """The command in this process on SQLite, its temporary folders in ``tmp_path``: its exit
    code and the lines it printed."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = io.StringIO()
    code = run_ingest_bench(300, "sqlite", 50, 2, Console(file=out, width=400), timeout)
    return code, out.getvalue().splitlines()


def _stopped(code: int, lines: list[str], tmp_path: Path) -> str:
    """The error line, once the checks every stop must pass hold."""
    assert code == 1, lines
    errors = [line for line in lines if "time limit" in line]
    assert len(errors) == 1 and errors[0] == lines[-1], lines  # nothing ran after it
    assert not any("apply stage alone (in-process" in line for line in lines), lines
    assert not any(line.startswith("load average after") for line in lines), lines
    assert list(tmp_path.iterdir()) == []  # its database is gone with its folder
    return errors[0]


def test_a_tiny_time_limit_stops_the_whole_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = _children()
    code, lines = _run(monkeypatch, tmp_path, 0.2)
    error = _stopped(code, lines, tmp_path)
    stages = ("setup", "server start", "posting", "drain", "apply stage alone")
    assert any(f"during sqlite {stage}" in error for stage in stages), error
    assert "load average" in error
    assert _children() <= before  # no server left running
    misspelt = f"{_shares(300)['misspelt']:.1%} misspelt"
    assert misspelt in lines[0], lines[0]  # the header counts this run's data


class _PassesAt(Deadline):
    """A deadline that passes when the bench reaches a stage ending in ``stage``: each stage's
    stop is tested without racing the clock."""

    def __init__(self, stage: str) -> None:
        super().__init__(60)
        self.stage = stage

    def check(self, stage: str, so_far: Callable[[], str] = lambda: "") -> None:
        if stage.endswith(self.stage):
            raise TimedOut(stage, so_far())


def test_a_limit_passed_while_posting_stops_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = _children()
    monkeypatch.setattr(bench.ingest, "Deadline", lambda seconds: _PassesAt("posting"))
    code, lines = _run(monkeypatch, tmp_path, 60)
    error = _stopped(code, lines, tmp_path)
    assert "during sqlite posting" in error and "changes accepted" in error, error
    assert _children() <= before  # concord serve was stopped, not left behind


def test_the_apply_stage_alone_keeps_the_deadline() -> None:
    out = io.StringIO()
    with pytest.raises(TimedOut) as stop:
        apply_stage_alone("sqlite", 200, 50, Console(file=out), _PassesAt("apply stage alone"))
    assert stop.value.stage == "sqlite apply stage alone"
    assert stop.value.so_far.startswith("0 of 200 changes applied")  # filled, not drained
    assert out.getvalue() == ""


def test_filling_the_apply_stages_inbox_keeps_the_deadline() -> None:
    with pytest.raises(TimedOut) as stop:
        apply_stage_alone("sqlite", 200, 50, Console(file=io.StringIO()), _PassesAt("inbox)"))
    assert stop.value.stage == "sqlite apply stage alone (filling the inbox)"
