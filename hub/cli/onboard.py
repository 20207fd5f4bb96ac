"""``concord onboard``: load an acquired firm's export, see what matched, commit or roll back.

Every command prints what it did; ``start`` prints the run id on the last line of stdout, so a
script can take it with ``tail -n1``. Progress bars go to stderr.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from hub.domain.errors import ConcordError
from hub.domain.onboarding import RollbackRun
from hub.runtime import memory

# The store, the configuration and the matcher are imported by the commands that use them:
# `concord onboard --help` needs none of them.
if TYPE_CHECKING:
    from hub.bootstrap import Hub
    from hub.runtime.onboarding_runner import Stage

onboard_app = typer.Typer(
    help="Onboarding runs: an acquired firm's clients, then projects and people, from files.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
err = Console(stderr=True)

ReportDir = Annotated[
    Path, typer.Option("--report-dir", help="Where to write RUN_ID.html and RUN_ID.json.")
]


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@contextmanager
def _hub() -> Iterator[Hub]:
    from hub.bootstrap import bootstrap

    try:
        hub = bootstrap()
    except ConcordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    try:
        yield hub
    except ConcordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        hub.close()


@contextmanager
def _progress() -> Iterator[Stage]:
    bar = Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def stage(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=max(total, 1))
        bar.update(tasks[name], completed=done, total=max(total, 1))

    with bar:
        yield stage


def _write(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    from hub.onboard_report import render_html

    directory.mkdir(parents=True, exist_ok=True)
    html_path = directory / f"{report['run_id']}.html"
    json_path = directory / f"{report['run_id']}.json"
    html_path.write_text(render_html(report), encoding="utf-8")
    json_path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return html_path, json_path


def _print_status(status: dict[str, Any]) -> None:
    table = Table(title=f"onboarding run {status['id']} ({status['status']})")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("source records of the run", str(status["records"]))
    for how, n in status["linked"].items():
        table.add_row(f"  {how}", str(n))
    review = status["review"]
    table.add_row("records in review", str(review["records"]))
    table.add_row("  decided", str(review["done"]))
    table.add_row("  pending", str(review["pending"]))
    for s, n in review["candidates"].items():
        table.add_row(f"  candidates {s}", str(n))
    out.print(table)
    out.print(f"review done: {status['review_done']:.0%}")


@onboard_app.command("start")
def start(
    source: Annotated[str, typer.Option("--source", help="The acquired firm's source system.")],
    domain: Annotated[str, typer.Option("--domain", help="client, project or resource.")],
    file: Annotated[Path, typer.Option("--file", help="CSV, or JSON lines (.jsonl).")],
    maps: Annotated[
        list[str] | None,
        typer.Option("--map", help="Use column COL as field CANON (CANON=COL); repeatable."),
    ] = None,
    id_column: Annotated[str, typer.Option("--id-column", help="The record key column.")] = "id",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Match and report; change nothing.")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Load the valid rows of a file with errors.")
    ] = False,
    report_dir: ReportDir = Path("onboarding-reports"),
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, help="Processes that share the matching and the apply."),
    ] = os.cpu_count() or 1,
) -> None:
    """Validate every row, match against the golden records, report, and load (or not)."""
    from hub.runtime.onboarding_runner import start_run

    with _hub() as hub, _progress() as stage:
        memory.settle()
        result = start_run(
            hub,
            source=source,
            domain=domain,
            path=file,
            maps=list(maps or []),
            id_column=id_column,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            actor=_actor(),
            stage=stage,
            workers=workers,
        )
    report = result.report
    html_path, json_path = _write(report, report_dir)
    for e in report["errors"][:20]:
        err.print(f"row {e['row']}: {e['field']}: {e['problem']}")
    if report["errors_total"] > 20:
        err.print(f"... {report['errors_total'] - 20} more errors in {json_path}")
    o = report["outcomes"]
    out.print(
        f"{report['rows']} rows: {o['auto']} auto-linked, {o['review']} to review, "
        f"{o['new']} new, {o['invalid']} invalid ({report['mode']})"
    )
    if "preview_of" in report:
        out.print(f"preview taken from dry run {report['preview_of']['run_id']} (nothing changed)")
    if result.loaded:
        _print_status(result.status_after)
    out.print(f"report: {html_path} and {json_path}")
    out.print(result.run_id)
    if report["errors"] and not skip_invalid:
        raise typer.Exit(1)


@onboard_app.command("status")
def status(
    run_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How the run's records were linked and how much of its review is done."""
    from hub.store.onboarding import run_status
    from hub.store.uow import session_factory

    with _hub() as hub, session_factory(hub.engine)() as s:
        st = run_status(s, run_id)
    if as_json:
        out.print_json(json.dumps(st, default=str))
    else:
        _print_status(st)


@onboard_app.command("rollback")
def rollback(
    run_id: str,
    force: Annotated[
        bool, typer.Option("--force", help="Roll back even after steward decisions.")
    ] = False,
) -> None:
    """Remove the run's source records, survive again what they fed, retire what only they
    fed; subscribers hear of every change."""
    with _hub() as hub:
        done = hub.bus.handle(RollbackRun(run_id, _actor(), force))
    out.print(
        f"rolled back {run_id}: {done['source_records_removed']} source records removed, "
        f"{done['golden_records_resurvived']} golden records survived again, "
        f"{done['golden_records_retired']} retired, {done['events']} events"
    )


@onboard_app.command("report")
def report(run_id: str, report_dir: ReportDir = Path("onboarding-reports")) -> None:
    """Write a run's report (HTML and JSON) again."""
    from hub.store.tables import OnboardingRun
    from hub.store.uow import session_factory

    with _hub() as hub, session_factory(hub.engine)() as s:
        row = s.get(OnboardingRun, run_id)
        if row is None:
            raise ConcordError(f"no onboarding run {run_id!r}")
        stored = dict(row.report)
    html_path, json_path = _write(stored, report_dir)
    out.print(f"report: {html_path} and {json_path}")


@onboard_app.command("list")
def list_(limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """Recent onboarding runs."""
    from hub.store.onboarding import list_runs
    from hub.store.uow import session_factory

    with _hub() as hub, session_factory(hub.engine)() as s:
        runs = list_runs(s, limit)
    table = Table()
    for col in ("id", "source", "domain", "file", "status", "rows", "created"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            r["id"],
            r["source"],
            r["domain"],
            r["file_name"],
            r["status"],
            str(r["counts"].get("rows", "")),
            r["created_at"],
        )
    out.print(table)
