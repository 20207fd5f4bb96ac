"""`concord` starts without what its command does not use: `--help` lists every command
but imports no web app, Kafka, matcher, store or benchmark; a lazy command still runs; and
each group's and command's own `--help` imports none of them either."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer._click as click  # Typer's own click, whose types its commands are

from bench.cli import bench_app
from hub.cli import app
from hub.cli.lazy import LAZY, load

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = tuple(
    sorted(
        f"bench.{p.stem}"
        for p in (ROOT / "bench").glob("*.py")
        if p.stem not in ("__init__", "cli")  # the package and its command line are light
    )
)
HEAVY_FOR_HELP = (
    "sqlalchemy",
    "matching",
    "numpy",
    "rapidfuzz",
    "phonenumbers",
    "fastapi",
    "uvicorn",
    "httpx",
    "faust",
    "aiokafka",
    "alembic",
    "argon2",
    "psycopg",
    "hub.app",
    "hub.bootstrap",
    "hub.domain.commands",  # 35 frozen dataclasses: ~0.1 s of class building
    "hub.runtime.kafka_worker",
    *BENCHMARKS,
)
"""What no command's `--help` needs: the benchmarks' ``bench.cli`` may load for `bench`."""
HEAVY = (*HEAVY_FOR_HELP, "bench", "bench.cli")


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


def _children(words: tuple[str, ...], command: Any) -> Iterator[tuple[str, ...]]:
    """``words`` and every command under it, walked down the click tree."""
    yield words
    if not words:
        command = typer.main.get_command(app)
    elif words == ("bench",):  # hands its arguments to the checkout's bench.cli
        command = typer.main.get_command(bench_app)
    if not hasattr(command, "list_commands"):
        return
    ctx = click.Context(command)
    for name in command.list_commands(ctx):
        lazy = not words and name in LAZY
        yield from _children((*words, name), load(name) if lazy else command.get_command(ctx, name))


def _help_cases() -> list[Any]:
    return [pytest.param(words, id=" ".join(words)) for words in _children((), None) if words]


def test_help_lists_every_command_and_imports_nothing_heavy() -> None:
    output, heavy = _imported_after(["--help"])
    for name in ("serve", "migrate", "match", "onboard", "worker", "bench", "stewards"):
        assert name in output
    assert heavy == []


@pytest.mark.parametrize("words", _help_cases())
def test_a_commands_help_imports_nothing_heavy(words: tuple[str, ...]) -> None:
    output, heavy = _imported_after([*words, "--help"], watch=HEAVY_FOR_HELP)
    assert "Usage:" in output, output
    assert heavy == [], output


def test_a_lazy_command_group_loads_when_it_runs() -> None:
    output, loaded = _imported_after(["match", "--help"], watch=("hub.cli.match", *HEAVY))
    assert "link" in output and "dedupe" in output
    assert loaded == ["hub.cli.match"]


def test_a_command_on_sqlite_never_loads_the_postgresql_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONCORD_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    output, loaded = _imported_after(["status"], watch=("psycopg", "sqlalchemy"))
    assert loaded == ["sqlalchemy"], output  # the store is open, its driver is SQLite's
