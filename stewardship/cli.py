"""``concord stewards``: the people who log in to the steward page."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.domain.errors import ConcordError

# The store, the commands and argon2 are imported by the commands that use them: `--help`
# needs none of them.

stewards_app = typer.Typer(help="Stewards who log in to the steward page.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@stewards_app.command("add")
def add(
    name: str,
    role: Annotated[
        str,
        typer.Option(
            help="viewer (looks), steward (decides matches), finance (setup exceptions) or admin."
        ),
    ] = ("steward"),
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
) -> None:
    """Add a steward; the password is asked for (twice) or read from stdin."""
    from hub.bootstrap import bootstrap
    from hub.domain.commands import AddSteward
    from hub.store import stewards
    from stewardship import passwords

    if role not in stewards.ROLES:
        err.print(f"[red]error:[/red] role {role!r} is not one of {', '.join(stewards.ROLES)}")
        raise typer.Exit(2)
    try:
        hashed = passwords.hash_password(_password(password_stdin))
        bootstrap().bus.handle(AddSteward(name, role, hashed))
    except (ConcordError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    out.print(f"steward {name} added as {role}")


@stewards_app.command("list")
def list_() -> None:
    """Every steward with role and state."""
    from hub.bootstrap import bootstrap
    from hub.store import stewards
    from hub.store.uow import session_factory

    hub = bootstrap()
    with session_factory(hub.engine, readonly=True)() as s:
        table = Table("name", "role", "disabled", "created", "last login", "failed logins")
        for r in stewards.list_stewards(s):
            table.add_row(
                r.name,
                r.role,
                "yes" if r.disabled else "no",
                f"{r.created_at:%Y-%m-%d}",
                f"{r.last_login_at:%Y-%m-%d %H:%M}" if r.last_login_at else "-",
                str(r.failed_logins),
            )
    out.print(table)


@stewards_app.command("disable")
def disable(name: str) -> None:
    """Stop a steward logging in; their open sessions end at their next request."""
    from hub.bootstrap import bootstrap
    from hub.domain.commands import SetStewardDisabled

    try:
        bootstrap().bus.handle(SetStewardDisabled(name, True))
    except ConcordError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    out.print(f"steward {name} disabled")
