"""``concord deliveries``: what went out to subscribers, and sending it again."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.domain.errors import ConcordError

# The store and the commands are imported by the commands that use them: `--help` needs none.

deliveries_app = typer.Typer(
    help="Webhook deliveries: list them, replay them.", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True)


@deliveries_app.command("list")
def list_(
    subscription: Annotated[
        str | None, typer.Option("--subscription", "-s", help="Id or name; all when omitted.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, delivered or dead; all when omitted.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """Deliveries with attempts and the last response."""
    from hub.bootstrap import bootstrap
    from hub.store import deliveries
    from hub.store.uow import session_factory

    try:
        hub = bootstrap()
        with session_factory(hub.engine, readonly=True)() as s:
            rows = deliveries.list_deliveries(s, subscription, status, limit)
            table = Table("subscription", "seq", "event id", "golden id", "status", "tries", "last")
            for d, name in rows:
                last = f"{d.last_status or '-'} {(d.last_response or '')[:60]}".strip()
                table.add_row(
                    name, str(d.seq), d.event_id, d.golden_id, d.status, str(d.attempts), last
                )
    except ConcordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    out.print(table)


@deliveries_app.command("replay")
def replay(
    subscription: Annotated[str, typer.Argument(help="Subscription id or name.")],
    event: Annotated[
        str | None, typer.Option(help="One event id (its record's later versions follow).")
    ] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead delivery.")] = False,
    after: Annotated[
        int | None, typer.Option(help="Everything after this outbox cursor (feed 'next').")
    ] = None,
) -> None:
    """Send deliveries again; the running server's delivery worker picks them up."""
    from hub.bootstrap import bootstrap
    from hub.domain.commands import ReplayDeliveries

    try:
        hub = bootstrap()
        n = hub.bus.handle(ReplayDeliveries(subscription, event_id=event, dead=dead, after=after))
    except ConcordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    out.print(f"replaying {n} deliveries to {subscription}")
