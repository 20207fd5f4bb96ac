"""``concord bench``: benchmarks that print their figures with the machine they ran on.

The product never imports this package: ``concord bench`` (:mod:`hub.cli.bench`) finds it in
a checkout and hands it its arguments. Each benchmark's module is imported only by its own
command.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

bench_app = typer.Typer(
    help="Benchmarks that print figures with the machine they ran on.", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True)

# Every benchmark's options are declared here and its module imported only when its command
# runs: `--help` must not import the hub, the web app, Kafka or psycopg
# (tests/unit/test_cli_start.py).


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


@bench_app.command("match")
def bench_match(
    vs: Annotated[
        str | None, typer.Option("--vs", help="Also run this engine on the same data: splink.")
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            "--only", help="Comma-separated tasks: febrl1..febrl4, febrl3-names-dob, companies."
        ),
    ] = None,
    golden: Annotated[int, typer.Option(help="Generated golden companies.")] = 20_000,
    acquired: Annotated[int, typer.Option(help="Generated acquired company rows.")] = 4_000,
    seed: Annotated[int, typer.Option(help="Seed of the company generator.")] = 1,
    latency_runs: Annotated[
        bool, typer.Option("--latency/--no-latency", help="Measure single-record latency.")
    ] = True,
    million: Annotated[
        bool, typer.Option("--million", help="Also measure latency against 1M golden records.")
    ] = False,
) -> None:
    """Matching quality on Febrl and generated companies; Splink too with --vs splink."""
    from bench.match import main

    main(vs, only, golden, acquired, seed, latency_runs, million)


@bench_app.command("onboard")
def bench_onboard(
    golden: Annotated[int, typer.Option("--golden", help="Golden clients in the hub.")] = 1_000_000,
    rows: Annotated[
        int, typer.Option("--rows", help="Rows of the acquired firm's file.")
    ] = 100_000,
    database: Annotated[str, typer.Option(help="postgres or sqlite.")] = "postgres",
    commit: Annotated[
        bool, typer.Option("--commit", help="Also load the file, then score the hub's links.")
    ] = False,
    workers: Annotated[int, typer.Option(help="Processes that share the matching.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the company generator.")] = 1,
) -> None:
    """An onboarding run of ROWS generated acquired clients against GOLDEN seeded golden
    clients: rows/s, the share sent to review, and (with --commit) precision, recall and F1 of
    the hub's own links, read back from its xref."""
    from bench.onboard import main

    main(golden, rows, database, commit, workers, seed)


@bench_app.command("chaos")
def bench_chaos(
    minutes: Annotated[float, typer.Option(help="How long the load runs.")] = 5.0,
    seed: Annotated[int | None, typer.Option(help="Replay a run's load.")] = None,
    clients: Annotated[int, typer.Option(help="Concurrent clients.")] = 6,
    appliers: Annotated[int, typer.Option(help="`concord apply --follow` processes.")] = 2,
    kill_every: Annotated[float, typer.Option(help="Mean seconds between kills.")] = 3.0,
    rate: Annotated[float, typer.Option(help="Operations per second per client.")] = 10.0,
) -> None:
    """Ingest and steward actions at once on PostgreSQL, appliers SIGKILLed, then invariants."""
    from bench.chaos import chaos

    chaos(minutes, seed, clients, appliers, kill_every, rate)


@bench_app.command("apply")
def bench_apply(
    n: Annotated[int, typer.Option("--n", help="Changes in the inbox.")] = 30_000,
    appliers: Annotated[str, typer.Option(help="Applier counts to compare, e.g. 1,2,4.")] = "1,2,4",
    database: Annotated[str, typer.Option(help="postgres or sqlite.")] = "postgres",
    batch: Annotated[int, typer.Option(help="Changes per apply batch.")] = 500,
    profile: Annotated[bool, typer.Option(help="Profile one in-process applier.")] = False,
    updates: Annotated[
        bool, typer.Option(help="Time N updates of known records, not the mixed data.")
    ] = False,
    keyed: Annotated[
        float, typer.Option(help="--updates: the share that changes a field a key reads too.")
    ] = 1.0,
    cache: Annotated[
        str | None,
        typer.Option(
            help="Candidate cache sizes to compare per applier count, e.g. 0,50000 "
            "(default: CONCORD_APPLY_CACHE_SIZE)."
        ),
    ] = None,
    key_cache: Annotated[
        str | None,
        typer.Option(
            help="Key cache sizes to compare per applier count, e.g. 0,2000000 "
            "(default: CONCORD_APPLY_KEY_CACHE_SIZE)."
        ),
    ] = None,
) -> None:
    """The apply stage alone: changes/s with 1, 2 and 4 appliers, and the invariants."""
    from bench.apply import main

    main(n, appliers, database, batch, profile, updates, keyed, cache, key_cache)


@bench_app.command("setup")
def bench_setup(
    projects: Annotated[int, typer.Option(help="Golden projects to validate.")] = 10_000,
    rate: Annotated[int, typer.Option(help="Contracted deals posted per second.")] = 100,
    seconds: Annotated[float, typer.Option(help="How long to post deals.")] = 10.0,
    database: Annotated[str, typer.Option(help="sqlite, postgres or both.")] = "both",
) -> None:
    """Project setup: validation of 10k golden projects; contracted deal -> shell latency."""
    from bench.project_setup import main

    main(projects, rate, seconds, database)


@bench_app.command("steward")
def bench_steward(
    golden: Annotated[int, typer.Option(help="Golden clients in the hub.")] = 20_000,
    rows: Annotated[int, typer.Option(help="Rows of the onboarding run's file.")] = 4_000,
    decisions: Annotated[int, typer.Option(help="Candidates to decide.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the data and of the person.")] = 1,
    clear_s: Annotated[float, typer.Option(help="Mean seconds reading a clear page.")] = 3.0,
    unclear_s: Annotated[float, typer.Option(help="Mean seconds reading an unclear one.")] = 8.0,
    key_ms: Annotated[float, typer.Option(help="Mean ms between two keystrokes.")] = 180.0,
    clear: Annotated[float, typer.Option(help="Probability a steward merges at a glance.")] = 0.9,
) -> None:
    """100 candidates of a 4,000-row onboarding run decided in Chromium, typing like a person."""
    from bench.steward_session import main

    main(golden, rows, decisions, seed, clear_s, unclear_s, key_ms, clear)
