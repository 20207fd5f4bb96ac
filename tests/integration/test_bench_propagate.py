"""``concord bench propagate`` runs what each deployment runs on PostgreSQL: ``serve`` as
deployed (its applier and delivery as child processes), ``serve --threads`` (one process) and
``--topology split`` (``serve --no-worker``, ``apply --follow`` and ``deliver``), and every
change posted comes out as a webhook at the bench's subscriber (a figure of it is a figure of
that deployment, not of a stalled one)."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from bench.propagate import TOPOLOGIES, run_propagate

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_each_topology_delivers_every_change(
    topology: str, pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONCORD_BENCH_DATABASE_URL", pg_server)
    console = Console(record=True, width=300)
    assert run_propagate(50, 1.0, "postgres", console, topology) == 0, console.export_text()
    text = console.export_text()
    assert TOPOLOGIES[topology] in text
    got = re.search(r"delivered ([\d,]+)/([\d,]+)", text)
    assert got is not None and got.group(1) == got.group(2) != "0", text
    # the server counts the apply batches of its own applier (a thread or a child), not of
    # appliers started apart from it
    assert ("apply batches:" in text) == (topology != "split"), text
