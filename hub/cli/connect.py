"""``concord connect``: inbound connectors that read a source system's own database."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.domain.errors import ConcordError
from hub.runtime import memory

# The store and its migrations are imported by the commands: `--help` needs neither.
if TYPE_CHECKING:
    from connectors.inbound.pg_logical import PostgresConnector, Progress
    from hub.bootstrap import Hub

connect_app = typer.Typer(
    help="Read source databases' changes into the hub (PostgreSQL logical decoding).",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@connect_app.command("postgres")
def postgres(
    dsn: Annotated[str, typer.Option(help="The source database, e.g. postgresql://u@host/db.")],
    slot: Annotated[str, typer.Option(help="Logical replication slot; created on first run.")],
    publication: Annotated[str, typer.Option(help="Publication naming the mapped tables.")],
    mapping: Annotated[Path, typer.Option(help="The source's YAML mapping file.")],
    source: Annotated[
        str | None, typer.Option(help="Source system name (default: the file's 'source').")
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Snapshot if needed, drain the slot, then exit.")
    ] = False,
    snapshot: Annotated[
        bool,
        typer.Option(
            "--snapshot/--no-snapshot",
            help="Read the tables when the slot is created (default), or start from now.",
        ),
    ] = True,
    batch: Annotated[int, typer.Option(min=1, max=20_000, help="Changes per batch.")] = 1000,
    on_invalid: Annotated[
        str,
        typer.Option(help="A row that breaks its mapping: stop (fix and rerun) or skip (log)."),
    ] = "stop",
    idle: Annotated[float, typer.Option(help="Seconds between reads when idle.")] = 1.0,
) -> None:
    """Snapshot the mapped tables, then stream their changes into the inbox.

    The slot is confirmed only after the changes are committed to the inbox, so a restart
    resumes where it stopped; a change read twice is counted once (its event id is its LSN).
    """
    from hub.bootstrap import bootstrap
    from hub.store.migrate import upgrade

    if on_invalid not in ("stop", "skip"):
        err.print("[red]error:[/red] --on-invalid must be stop or skip")
        raise typer.Exit(2)
    try:
        hub = bootstrap()
        upgrade(hub.settings.database_url)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        connector = _connector(hub, dsn, slot, publication, mapping, source, batch, snapshot)
        connector.on_invalid = "skip" if on_invalid == "skip" else "stop"  # checked above
        memory.settle()
        progress = _run_until_stopped(connector, once, idle)
    except ConcordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if progress is None:
        return
    for note in progress.notes:
        out.print(f"note: {note}")
    out.print(
        f"snapshot rows {progress.snapshot_rows}, streamed changes {progress.streamed} "
        f"in {progress.transactions} transactions; accepted {progress.accepted}, "
        f"duplicates {progress.duplicates}; slot confirmed at {progress.confirmed_lsn or '-'}"
    )


def _connector(
    hub: Hub,
    dsn: str,
    slot: str,
    publication: str,
    mapping: Path,
    source: str | None,
    batch: int,
    snapshot: bool,
) -> PostgresConnector:
    """The connector, writing through the bus as a registered source, its slot state kept in
    the hub's store."""
    from connectors.inbound.mappings import load_mappings
    from connectors.inbound.pg_logical import PostgresConnector
    from hub.store.cdc_slots import SlotStore, check_source

    mappings = load_mappings(mapping, hub.config, source)
    check_source(hub.engine, mappings.source, {m.domain.name for m in mappings.tables.values()})
    return PostgresConnector(
        dsn,
        slot,
        publication,
        mappings,
        hub.bus.accept,
        SlotStore(hub.engine),
        batch=batch,
        snapshot=snapshot,
    )


def _run_until_stopped(connector: PostgresConnector, once: bool, idle: float) -> Progress | None:
    """Run until drained (``once``), SIGTERM or Ctrl-C (then None: nothing to report)."""
    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        return connector.run(once=once, idle=idle, stop=lambda: stopping)
    except KeyboardInterrupt:
        return None


@connect_app.command("status")
def status() -> None:
    """Each logical decoding slot the hub reads: snapshot and confirmed position."""
    from connectors.inbound.pgoutput import int_to_lsn
    from hub.bootstrap import bootstrap
    from hub.store.cdc_slots import SlotStore

    try:
        hub = bootstrap()
        slots = SlotStore(hub.engine).all()
    except ConcordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    table = Table("source", "slot", "snapshot at", "snapshot rows", "snapshot done", "confirmed")
    for s in slots:
        table.add_row(
            s.source,
            s.slot,
            int_to_lsn(s.snapshot_lsn) if s.snapshot_lsn is not None else "-",
            str(s.snapshot_rows),
            s.snapshot_done_at.isoformat(timespec="seconds") if s.snapshot_done_at else "no",
            int_to_lsn(s.confirmed_lsn) if s.confirmed_lsn is not None else "-",
        )
    out.print(table)
