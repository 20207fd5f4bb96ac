"""`concord` starts without what its command does not use: `--help` lists every command
but imports no web app, Kafka, matcher, store or benchmark; a lazy command still runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "hub.app",
    "hub.bootstrap",
    "hub.runtime.kafka_worker",
    "bench.cli",
    "faust",
    "fastapi",
    "sqlalchemy",
    "matching",
    "bench",
    "hub.domain.commands",  # 35 frozen dataclasses: ~0.1 s of class building
)


def _imported_after(args: list[str], watch: tuple[str, ...] = HEAVY) -> tuple[str, list[str]]:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from hub.cli import app\n"
        f"r = CliRunner().invoke(app, {args!r})\n"
        "print(r.output)\n"
        "loaded = [n for n, m in sys.modules.items() if type(m).__name__ != '_LazyModule']\n"
        f"print('HEAVY', [m for m in {watch!r} if m in loaded])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    output, _, heavy = done.stdout.rpartition("HEAVY ")
    return output, eval(heavy)  # a list literal printed by the child


def test_help_lists_every_command_and_imports_nothing_heavy() -> None:
    output, heavy = _imported_after(["--help"])
    for name in ("serve", "migrate", "match", "onboard", "worker", "bench", "stewards"):
        assert name in output
    assert heavy == []


def test_a_lazy_command_group_loads_when_it_runs() -> None:
    output, heavy = _imported_after(["match", "--help"])
    assert "link" in output and "dedupe" in output
    assert "matching" in heavy and "hub.app" not in heavy


def test_a_command_on_sqlite_never_loads_the_postgresql_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONCORD_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    output, loaded = _imported_after(["status"], watch=("psycopg", "sqlalchemy"))
    assert loaded == ["sqlalchemy"], output  # the store is open, its driver is SQLite's
