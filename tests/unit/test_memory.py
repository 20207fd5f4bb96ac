"""A long-running process settles its collector once (hub/runtime/memory.py): what it holds
then is frozen, young collections come every 500,000 allocations, and a second call (a command
run inside a test process) changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.runtime import memory

PROBE = """
import gc, json
from hub.runtime import memory
before = (gc.get_threshold(), gc.get_freeze_count())
memory.settle()
first = (gc.get_threshold(), gc.get_freeze_count())
kept = [[i] for i in range(5000)]
memory.settle()
print(json.dumps([before, first, (gc.get_threshold(), gc.get_freeze_count())]))
"""


def test_settle_freezes_what_is_alive_once_and_makes_young_collections_rarer() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (before, frozen0), (after, frozen1), (again, frozen2) = json.loads(out.stdout)
    assert before[0] == 700 and frozen0 == 0  # Python's defaults
    assert after == [memory.YOUNG, 10, 10] and frozen1 > 1_000
    assert again == after and frozen2 == frozen1  # the second call did nothing


def test_apply_settles_before_it_drains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(memory, "settle", lambda: calls.append("settle"))
    env = {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    assert CliRunner().invoke(app, ["migrate"], env=env).exit_code == 0
    done = CliRunner().invoke(app, ["apply"], env=env)
    assert done.exit_code == 0, done.output
    assert calls == ["settle"] and "applied 0" in done.output
