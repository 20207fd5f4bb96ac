"""``concord bench``: benchmarks that print their figures with the machine they ran on.

The product never imports this package: ``concord bench`` (:mod:`hub.cli.bench`) finds it in
a checkout and hands it its arguments. Each benchmark's module is imported only by its own
command.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

bench_app = typer.Typer(
    help="Benchmarks that print figures with the machine they ran on.", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True)

# The options of queue, kafka, validate and cdc repeat those of the benchmark's own function,
# which `--help` must not import (the web app, Kafka, psycopg); tests/unit/test_cli_start.py
# checks that the two stay the same.


@bench_app.command("queue")
def bench_queue(
    n: Annotated[int, typer.Option("--n", help="Pending candidates to load.")] = 50_000,
    database: Annotated[str, typer.Option(help="sqlite, postgres or both.")] = "both",
    repeat: Annotated[int, typer.Option(help="Requests per page.")] = 20,
) -> None:
    """Time the steward's queue and compare pages over N pending candidates."""
    from bench.queue import bench_queue

    bench_queue(n, database, repeat)


@bench_app.command("kafka")
def bench_kafka(
    n: Annotated[int, typer.Option("--n", help="Debezium events to apply.")] = 20_000,
    workers: Annotated[str, typer.Option(help="Worker counts to run, comma-separated.")] = "1,2",
) -> None:
    """Debezium events through Kafka into golden records: changes/s per number of workers."""
    from bench.kafka import bench_kafka

    bench_kafka(n, workers)


@bench_app.command("validate")
def bench_validate(
    projects: Annotated[int, typer.Option(help="Golden projects.")] = 10_000,
    resources: Annotated[int, typer.Option(help="Golden resources.")] = 5_000,
    assignments: Annotated[int, typer.Option(help="Golden assignments.")] = 50_000,
    batches: Annotated[int, typer.Option(help="Batches of 1,000 entries to validate.")] = 20,
    database: Annotated[str, typer.Option(help="sqlite, postgres or both.")] = "both",
) -> None:
    """Validate time entries in batches of 1,000 against projects, resources and assignments."""
    from bench.validate import bench_validate

    bench_validate(projects, resources, assignments, batches, database)


@bench_app.command("cdc")
def bench_cdc(
    n: Annotated[int, typer.Option("--n", help="Snapshot rows, and streamed changes.")] = 20_000,
    database: Annotated[str, typer.Option(help="Hub database: sqlite, postgres or both.")] = "both",
    batch: Annotated[int, typer.Option(help="Changes per accepted and applied batch.")] = 1000,
) -> None:
    """PostgreSQL connector: changes/s from a source table into the inbox and applied."""
    from bench.cdc import bench_cdc

    bench_cdc(n, database, batch)


@bench_app.command("ingest")
def bench_ingest(
    n: Annotated[int, typer.Option("--n", help="Changes to post.")] = 100_000,
    database: Annotated[str, typer.Option(help="sqlite, postgres or both.")] = "both",
    batch: Annotated[int, typer.Option(help="Changes per HTTP request.")] = 500,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients.")] = 4,
    timeout: Annotated[
        float, typer.Option(help="Stop the whole run with an error (exit 1) after this many s.")
    ] = 1800.0,
    appliers: Annotated[
        str, typer.Option(help="PostgreSQL: apply processes beside the API, e.g. 1,2.")
    ] = "1",
) -> None:
    """Post N changes (new records and updates) over HTTP; print changes/s end to end."""
    from bench.ingest import run_ingest_bench

    counts = [int(a) for a in appliers.split(",")]
    sys.exit(run_ingest_bench(n, database, batch, clients, out, timeout, counts))


@bench_app.command("propagate")
def bench_propagate(
    rate: Annotated[int, typer.Option(help="New clients posted per second.")] = 1000,
    seconds: Annotated[float, typer.Option(help="How long to post.")] = 10.0,
    database: Annotated[str, typer.Option(help="sqlite or postgres.")] = "sqlite",
    topology: Annotated[
        str,
        typer.Option(
            help="serve (as deployed: on PostgreSQL with child processes), threads (serve "
            "--threads: one process), processes (serve --processes, e.g. on SQLite) or split "
            "(serve --no-worker, apply --follow, deliver)."
        ),
    ] = "serve",
    split: Annotated[bool, typer.Option(help="The same as --topology split.")] = False,
) -> None:
    """Change accepted -> signed webhook received: latency p50/p99 and events/s delivered."""
    from bench.propagate import TOPOLOGIES, run_propagate

    topology = "split" if split else topology
    if topology not in TOPOLOGIES:
        raise typer.BadParameter(f"one of {', '.join(TOPOLOGIES)}", param_hint="--topology")
    sys.exit(run_propagate(rate, seconds, database, out, topology))


@bench_app.command("deliver")
def bench_deliver(
    events: Annotated[int, typer.Option(help="Events in the outbox to deliver.")] = 20000,
    database: Annotated[str, typer.Option(help="sqlite or postgres.")] = "sqlite",
    rate: Annotated[
        int,
        typer.Option(help="Commit this many events/s while delivering (latency); 0: all first."),
    ] = 0,
) -> None:
    """Delivery alone: webhooks/s from a full outbox to one fast subscriber, or with --rate
    the latency from an outbox commit to the subscriber."""
    from bench.propagate_deliver import run_deliver

    sys.exit(run_deliver(events, database, out, rate))


@bench_app.command("turns")
def bench_turns(
    sizes: Annotated[str, typer.Option(help="Changes a turn to compare, e.g. 1,10,30,100.")] = (
        "1,10,30,100,300"
    ),
    turns: Annotated[int, typer.Option(help="Turns counted a size.")] = 50,
    warmup: Annotated[int, typer.Option(help="Turns run first and not counted.")] = 10,
    database: Annotated[str, typer.Option(help="sqlite or postgres.")] = "postgres",
) -> None:
    """One apply turn's fixed CPU and each change's share, at the small turns of a steady
    1,000 changes/s."""
    from bench.turns import run_turns

    sys.exit(run_turns([int(n) for n in sizes.split(",")], turns, warmup, database, out))


@bench_app.command("soak")
def bench_soak(
    minutes: Annotated[float, typer.Option(help="How long to hold the load.")] = 5.0,
    rate: Annotated[int, typer.Option(help="New clients posted per second.")] = 500,
    database: Annotated[str, typer.Option(help="sqlite or postgres.")] = "sqlite",
    every: Annotated[float, typer.Option(help="Seconds between report lines.")] = 30.0,
) -> None:
    """Ingest and delivery together for minutes: throughput, latency and memory over time."""
    from bench.propagate import run_soak

    sys.exit(run_soak(minutes, rate, database, every, out))


_FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _checkout_bench(module: str, args: list[str]) -> None:
    """Run the command of ``module`` in the repository's ``bench`` package with ``args``.

    The benchmarks that measure matching quality live in a checkout, outside the installed
    product: they are imported here, only when their command runs. An editable install finds
    them next to ``hub``; an installed wheel has none, and says so in one line.
    """
    root = Path(__file__).resolve().parent.parent
    if (root / "bench" / "__init__.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        bench = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench", module):
            raise
        err.print(
            f"concord bench: {module} is not importable: the benchmarks live in the `bench` "
            "package of a Concord checkout (pip install -e '.[bench]' there), not in the product",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from exc
    bench.app(args=args, prog_name="concord bench " + module.rpartition(".")[2])


# Benchmarks with their own command line, handed every argument: (command, module, help).
FORWARDED = (
    (
        "match",
        "bench.match",
        "Matching quality on Febrl and generated companies; Splink too with --vs splink.",
    ),
    (
        "onboard",
        "bench.onboard",
        "Onboarding run against a big hub: rows/s, review share, precision/recall of links.",
    ),
    (
        "chaos",
        "bench.chaos",
        "Ingest and steward actions at once on PostgreSQL, appliers SIGKILLed, then invariants.",
    ),
    (
        "apply",
        "bench.apply",
        "The apply stage alone: changes/s with 1, 2 and 4 appliers on PostgreSQL; --profile.",
    ),
    (
        "setup",
        "bench.project_setup",
        "Project setup: validation of 10k golden projects; contracted deal -> shell latency.",
    ),
    (
        "steward",
        "bench.steward_session",
        "100 candidates of a 4,000-row onboarding run decided in Chromium, typing like a person.",
    ),
)


def _forwarder(module: str, help_text: str) -> Callable[[typer.Context], None]:
    def command(ctx: typer.Context) -> None:
        _checkout_bench(module, ctx.args)

    command.__doc__ = help_text
    return command


for _name, _module, _help in FORWARDED:
    bench_app.command(_name, context_settings=_FORWARD, add_help_option=False)(
        _forwarder(_module, _help)
    )
