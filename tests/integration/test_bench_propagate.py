"""``concord bench propagate --split`` runs what a scale-out deployment runs: ``serve
--no-worker``, ``apply --follow`` and ``deliver`` as three processes on PostgreSQL, and every
change posted comes out as a webhook at the bench's subscriber (a figure of it is a figure of
that deployment, not of a stalled one)."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from bench.propagate import SPLIT, run_propagate

pytestmark = pytest.mark.postgres


def test_split_processes_deliver_every_change(
    pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONCORD_BENCH_DATABASE_URL", pg_server)
    console = Console(record=True, width=200)
    assert run_propagate(50, 1.0, "postgres", console, split=True) == 0, console.export_text()
    text = console.export_text()
    assert SPLIT in text
    got = re.search(r"delivered ([\d,]+)/([\d,]+)", text)
    assert got is not None and got.group(1) == got.group(2) != "0", text
