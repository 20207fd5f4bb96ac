"""``concord bench``: the benchmarks of a checkout's top-level ``bench`` package.

The benchmarks are not part of the installed product (it never imports them): an editable
install finds them next to ``hub`` and runs them with the arguments given; an installed wheel
has none, and says so in one line.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer

FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def bench(ctx: typer.Context) -> None:
    """Benchmarks that print figures with the machine they ran on (a checkout's bench/)."""
    root = Path(__file__).resolve().parents[2]
    if (root / "bench" / "__init__.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("bench.cli")
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench", "bench.cli"):
            raise
        typer.echo(
            "concord bench: the benchmarks live in the bench package of a Concord checkout "
            "(pip install -e '.[bench]' there), not in the installed product",
            err=True,
        )
        raise typer.Exit(2) from exc
    module.bench_app(args=ctx.args, prog_name="concord bench")


bench.forward_arguments = True  # type: ignore[attr-defined]  # see hub.cli.lazy.load
