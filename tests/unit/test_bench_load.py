"""Every benchmark that prints the machine prints its load average too (issue 14): on a shared
machine the load moves a figure more than most changes do, so a figure without it cannot be
compared with another."""

from __future__ import annotations

import ast
from pathlib import Path

import bench


def _called(tree: ast.AST) -> set[str]:
    return {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def test_every_bench_that_prints_the_machine_prints_the_load() -> None:
    folder = Path(bench.__file__).parent
    printing = {}
    for path in sorted(folder.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        names = _called(ast.parse(source))
        if "machine" in names:
            printing[path.name] = "load_average" in names or "getloadavg" in source
    assert len(printing) >= 10, printing  # the benches are found, not an empty folder
    assert all(printing.values()), [name for name, ok in printing.items() if not ok]
