"""The ``concord`` command. Commands build what they need and hand it to the hub; no rules here."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from hub.cli.lazy import LazyGroup, lazy_module
from hub.domain.errors import ConcordError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hub.bootstrap import Hub

# The store, the configuration and the matcher load on a command's first use of them, not
# when `concord` starts: `concord --help` needs none of them.
logs = lazy_module("hub.logs")
access = lazy_module("hub.store.access")
queries = lazy_module("hub.store.queries")
_boot = lazy_module("hub.bootstrap")
_config = lazy_module("hub.config")
_migrate = lazy_module("hub.store.migrate")
_uow = lazy_module("hub.store.uow")
_start = lazy_module("hub.cli_errors")
_environment = lazy_module("hub.environment")
_commands = lazy_module("hub.domain.commands")  # 35 dataclasses: ~0.1 s to define
memory = lazy_module("hub.runtime.memory")

# The command groups that pull in the web app, Kafka, bulk matching or the benchmarks are
# imported only when they run (hub/cli/lazy.py), so `concord --help` and the everyday
# commands start without them.
app = typer.Typer(
    cls=LazyGroup,
    help="Concord: change-data-capture master data hub.",
    no_args_is_help=True,
)
sources_app = typer.Typer(help="Source systems and their keys.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys that are not a source's: subscriber (read-only), steward and admin keys. "
    "A source's own key: concord sources.",
    no_args_is_help=True,
)
deadletters_app = typer.Typer(
    help="Changes that were valid on the wire but could not be applied.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(keys_app, name="keys")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(audit_app, name="audit")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _warn_environment() -> None:
    for line in _environment.environment_warnings():
        err.print(f"[yellow]warning:[/yellow] {line}")


def _hub(needs_schema: bool = True) -> Hub:
    """The hub; ``needs_schema`` for a command that reads the store but does not migrate it."""
    _warn_environment()
    try:
        hub: Hub = _boot.bootstrap()
        if needs_schema:
            _start.require_schema(hub.settings.database_url)
        return hub
    except ConcordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(_start.USAGE_ERROR) from exc


def _check_reference_codes(hub: Hub) -> None:
    """The dimension rules' codes against the reference data, once the store is open."""
    try:
        warnings = _start.require_known_codes(hub.engine, hub.config)
    except ConcordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        hub.close()
        raise typer.Exit(_start.USAGE_ERROR) from exc
    for line in warnings:
        err.print(f"[yellow]warning:[/yellow] {line}")


def _table(*columns: str) -> Any:
    from rich.table import Table  # only the listing commands draw tables

    return Table(*columns)


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


def _handle(cmd: object, hub: Hub | None = None) -> Any:
    """``cmd`` through the bus; a Concord error ends the command with its message."""
    hub = hub or _hub()
    try:
        return hub.bus.handle(cmd)
    except ConcordError as exc:
        raise _fail(exc) from exc


@contextmanager
def _reading(hub: Hub | None = None) -> Iterator[Session]:
    """A read-only session (writes go through the bus); a Concord error ends the command
    with its message."""
    hub = hub or _hub()
    try:
        with _uow.session_factory(hub.engine, readonly=True)() as session:
            yield session
    except ConcordError as exc:
        raise _fail(exc) from exc


@app.command()
def migrate() -> None:
    """Bring the database to the newest schema (safe to run again)."""
    _warn_environment()
    settings = _config.Settings()
    _migrate.upgrade(settings.database_url)
    out.print(f"migrated {settings.database_url.split('@')[-1]}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Apply the inbox and deliver (embedded). --no-worker when separate "
            "'concord apply --follow' and 'concord deliver' processes do it (PostgreSQL).",
        ),
    ] = True,
    processes: Annotated[
        bool | None,
        typer.Option(
            "--processes/--threads",
            help="Run the applier and delivery as child processes (default on PostgreSQL: "
            "lower latency on several cores) or as threads of this one (default on SQLite).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the API, by default with the workers that apply changes and deliver them."""
    import uvicorn

    from hub.app import create_app

    hub = _hub(needs_schema=False)
    logs.configure(hub.settings.log_format, hub.settings.log_level)
    _migrate.upgrade(hub.settings.database_url)
    _check_reference_codes(hub)
    if processes is None:
        processes = hub.engine.dialect.name == "postgresql"
    api = create_app(hub, run_worker=worker, apart=processes)
    memory.settle()
    uvicorn.run(
        api,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
    )


@app.command("apply")
def apply_inbox(
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep applying new changes until stopped.")
    ] = False,
    report_batches: Annotated[
        bool, typer.Option("--report-batches", hidden=True, help="For serve: a line a batch.")
    ] = False,
) -> None:
    """Apply pending changes in the inbox, then exit (or keep going with --follow).

    Several `--follow` processes may share one PostgreSQL database: each claims its own
    batches (SKIP LOCKED).
    """
    hub = _hub()
    memory.settle()
    if follow:
        from hub.runtime.follow import apply_follow

        logs.configure(hub.settings.log_format, hub.settings.log_level)
        apply_follow(hub, report=report_batches)
        return
    report = hub.bus.drain(hub.settings.worker_batch)
    out.print(
        f"applied {report.applied}, stale {report.stale}, dead {report.dead}, "
        f"events {report.events}"
    )


@app.command()
def deliver() -> None:
    """Deliver webhooks until stopped: the delivery worker on its own, for the split topology
    (`serve --no-worker` plus `apply --follow`). One process delivers at a time."""
    from hub.runtime.follow import deliver_follow

    hub = _hub()
    logs.configure(hub.settings.log_format, hub.settings.log_level)
    memory.settle()
    deliver_follow(hub)


@app.command()
def status() -> None:
    """Counts: golden records per domain, links, pending references, inbox."""
    from hub.counts_view import count_lines

    hub = _hub()
    session = _uow.session_factory(hub.engine, readonly=True)()
    try:
        counts = queries.counts(session)
    finally:
        session.close()
    for line in count_lines(counts, hub.config.domains):
        out.print(line, highlight=False)


@app.command()
def demo(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Keep serving after the demo is loaded.")
    ] = True,
    port: Annotated[int, typer.Option(help="Port to serve the demo on.")] = 8000,
) -> None:
    """Build a small five-system world, post it over HTTP, and serve it."""
    from hub.demo import run_demo

    try:  # before anything is migrated or registered: a busy port leaves nothing behind
        if serve:
            _start.require_free_port(port)
    except ConcordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(_start.USAGE_ERROR) from exc
    hub = _hub(needs_schema=False)
    _migrate.upgrade(hub.settings.database_url)
    sys.exit(run_demo(hub, serve=serve, port=port, console=out))


@sources_app.command("add")
def sources_add(
    name: str,
    domains: Annotated[str, typer.Option(help="Comma-separated domains it may write.")],
    kind: Annotated[str | None, typer.Option(help="crm, psa, time, hr or erp.")] = None,
    rank: Annotated[int | None, typer.Option(help="Rank within its kind (0 is strongest).")] = None,
) -> None:
    """Register a source system; prints its new API key alone on the last line."""
    hub = _hub(needs_schema=False)
    _migrate.upgrade(hub.settings.database_url)
    listed = tuple(d.strip() for d in domains.split(",") if d.strip())
    key = _handle(_commands.AddSource(name, listed, kind, rank), hub)
    out.print(f"source {name} registered; its key (shown once):")
    print(key)


@sources_app.command("list")
def sources_list() -> None:
    """Source systems with kind, rank and domains."""
    with _reading() as s:
        table = _table("name", "kind", "rank", "domains")
        for src in access.list_sources(s):
            table.add_row(src.name, src.kind, str(src.rank), ",".join(src.domains))
    out.print(table)


@sources_app.command("rotate-key")
def sources_rotate_key(name: str) -> None:
    """Give a source a new key and revoke its old ones; prints the key on the last line."""
    key = _handle(_commands.RotateSourceKey(name))
    out.print(f"source {name}: old keys revoked; its new key (shown once):")
    print(key)


@deadletters_app.command("list")
def deadletters_list(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed ones.")] = False,
) -> None:
    """Dead letters with their reason."""
    with _reading() as s:
        rows = queries.dead_letters(s, limit, include_replayed=all_)
        table = _table("id", "source", "event id", "key", "reason", "at", "replayed")
        for d in rows:
            table.add_row(
                str(d.id),
                d.source,
                d.event_id,
                str(d.payload.get("key")),
                d.reason[:80],
                d.created_at.isoformat(timespec="seconds"),
                d.replayed_at.isoformat(timespec="seconds") if d.replayed_at else "",
            )
    out.print(table)


@deadletters_app.command("show")
def deadletters_show(dead_id: int) -> None:
    """One dead letter: its payload and the whole reason."""
    import json

    with _reading() as s:
        d = queries.dead_letter(s, dead_id)
        out.print(f"dead letter {d.id}: {d.source} {d.event_id} (inbox {d.inbox_id})")
        out.print(f"reason: {d.reason}")
        out.print_json(json.dumps(d.payload, default=str))


@deadletters_app.command("replay")
def deadletters_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead letter ids.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead letter not replayed.")] = False,
) -> None:
    """Send dead letters back to the inbox; the worker applies them again."""
    if not ids and not all_:
        raise _fail(ConcordError("name dead letter ids, or --all"))
    count = _handle(_commands.ReplayDeadLetters(None if all_ else tuple(ids or ())))
    out.print(f"replayed {count} dead letter(s); the worker applies them next")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain; names the first broken entry and exits 1 if there is one."""
    with _reading() as s:
        count, broken, why = access.verify_audit(s)
        if broken is not None:
            err.print(
                f"[red]audit log broken at entry {broken.id}[/red] "
                f"({broken.at.isoformat()} {broken.actor} {broken.action}): {why}; "
                f"{count} entries before it are intact"
            )
            raise typer.Exit(1)
    out.print(f"audit log intact: {count} entries")


@keys_app.command("create")
def keys_create(
    name: str,
    role: Annotated[
        str, typer.Option(help="subscriber (read-only), steward (decides matches) or admin.")
    ] = "subscriber",
    domains: Annotated[
        str | None,
        typer.Option(help="Domains a subscriber key reads, comma-separated (default: all)."),
    ] = None,
    personal: Annotated[
        bool, typer.Option("--personal", help="The key also reads personal fields.")
    ] = False,
) -> None:
    """Create a key; prints it alone on the last line."""
    if role not in ("subscriber", "steward", "admin"):
        raise _fail(ConcordError("--role must be subscriber, steward or admin"))
    read = [d.strip() for d in domains.split(",") if d.strip()] if domains is not None else None
    hub = _hub(needs_schema=False)
    _migrate.upgrade(hub.settings.database_url)
    key = _handle(
        _commands.CreateKey(name, role, tuple(read) if read is not None else None, personal), hub
    )
    out.print(f"{role} key {name} created (shown once):")
    print(key)


@keys_app.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke every active key of NAME (a source, subscriber or admin key)."""
    n = _handle(_commands.RevokeKeys(name))
    out.print(f"revoked {n} key(s) of {name}")


def main() -> None:
    """``concord``: a database or settings error ends it with one line and exit code 2."""
    import os

    try:
        app()
    except Exception as exc:
        url = os.environ.get("CONCORD_DATABASE_URL", "sqlite:///./concord.db")
        line = _start.one_line(exc, url)
        if line is None:
            raise
        err.print(f"[red]error:[/red] {line}", soft_wrap=True)
        sys.exit(_start.USAGE_ERROR)


if __name__ == "__main__":
    main()
