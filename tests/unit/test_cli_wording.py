"""What the CLI says: help without reStructuredText markup, groups that say what they hold,
and `sources add` mistakes named for what they are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer._click as click
from typer.testing import CliRunner

from hub.cli import app
from hub.cli_lazy import LAZY, load


def _commands() -> Iterator[tuple[str, Any]]:
    root = typer.main.get_command(app)
    todo: list[tuple[list[str], Any]] = [([], root)]
    while todo:
        path, cmd = todo.pop()
        yield " ".join(path), cmd
        if hasattr(cmd, "list_commands"):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                lazy = not path and name in LAZY
                todo.append(([*path, name], load(name) if lazy else cmd.get_command(ctx, name)))


def test_no_help_text_shows_rst_double_backticks() -> None:
    found = []
    for path, cmd in _commands():
        texts = [cmd.help, cmd.short_help, *(getattr(p, "help", None) for p in cmd.params)]
        found += [f"{path}: {t[:60]}" for t in texts if t and "``" in t]
    assert found == []


@pytest.mark.parametrize(
    ("group", "words"),
    [("keys", ["subscriber", "steward", "admin"]), ("match", ["link", "train", "spec"])],
)
def test_a_group_says_what_it_holds(group: str, words: list[str]) -> None:
    listing = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    line = next(ln for ln in listing.splitlines() if f" {group} " in ln)
    own = CliRunner().invoke(app, [group, "--help"], env={"COLUMNS": "200"}).output
    for word in words:
        assert word in line, line
        assert word in own.split("Options")[0], own


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "COLUMNS": "200"}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["crm2", "--domains", "clients"],
            "source crm2: unknown domain 'clients' (did you mean client?); domains are",
        ),
        (
            ["tk", "--domains", "resource", "--kind", "timekeeping"],
            "source tk: unknown kind 'timekeeping'; kinds are crm, psa, time, hr, erp",
        ),
        (
            ["crm2", "--domains", "client"],
            "source crm2: its name does not say its kind; give it with --kind",
        ),
    ],
)
def test_sources_add_names_the_mistake(cli_env: dict[str, str], args: list[str], said: str) -> None:
    r = CliRunner().invoke(app, ["sources", "add", *args], env=cli_env)
    assert r.exit_code == 1 and said in r.output, r.output
