"""A command group whose heavy sub-commands are imported only when they run.

``concord --help`` lists every command, but most invocations use one: importing the web app,
Kafka (faust), bulk matching and the benchmarks for each of them cost seconds at start. The
group lists the lazy commands by name and one line of help, and imports a command's module
only when that command is resolved to run.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

import typer
import typer._click as click  # Typer's own click, whose types its groups use
from typer.core import TyperCommand, TyperGroup

LAZY: dict[str, tuple[str, str]] = {
    "worker": (
        "hub.cli.worker:worker",
        "Scale-out: apply changes from the Kafka topic (faust workers).",
    ),
    "match": (
        "hub.cli.match:match_app",
        "Match CSV files (link, dedupe); train, print a domain's match spec; reindex keys.",
    ),
    "onboard": ("hub.cli.onboard:onboard_app", "Onboarding runs of an acquired firm's data."),
    "connect": ("hub.cli.connect:connect_app", "Connect a source database (CDC)."),
    "deliveries": ("hub.cli.deliveries:deliveries_app", "Webhook and Kafka deliveries."),
    "stewards": ("stewardship.cli:stewards_app", "Steward accounts of the steward page."),
    "bench": (
        "hub.cli.bench:bench",
        "Benchmarks that print figures with the machine they ran on.",
    ),
}
"""Command name -> (``module:attribute`` of its Typer app or function, one line of help)."""


def lazy_module(name: str) -> ModuleType:
    """``name``, imported on the first use of one of its attributes (already imported: as is).

    The commands of ``concord`` keep their plain ``module.function()`` calls while the
    process starts without the store, the configuration or the matcher.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def load(name: str) -> click.Command:
    """The real click command of lazy command ``name``, its module imported now."""
    target, _ = LAZY[name]
    module, _, attribute = target.partition(":")
    obj: Any = getattr(importlib.import_module(module), attribute)
    parent = typer.Typer(add_completion=False)  # completion belongs to `concord` itself
    if isinstance(obj, typer.Typer):
        parent.add_typer(obj, name=name)
        group = typer.main.get_command(parent)
        assert isinstance(group, TyperGroup)
        return group.commands[name]
    if getattr(obj, "forward_arguments", False):  # it hands every argument on, --help too
        settings = {"allow_extra_args": True, "ignore_unknown_options": True}
        parent.command(name=name, context_settings=settings, add_help_option=False)(obj)
    else:
        parent.command(name=name)(obj)
    return typer.main.get_command(parent)


class LazyGroup(TyperGroup):
    """A Typer group that adds :data:`LAZY` commands, imported when resolved to run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, or for a lazy one a stand-in that carries its help line: help
        listings ask for every command, and must not import them all."""
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in LAZY:
            return found
        return TyperCommand(cmd_name, help=LAZY[cmd_name][1], short_help=LAZY[cmd_name][1])

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in LAZY and args[0] not in self.commands:
            return args[0], load(args[0]), args[1:]
        return super().resolve_command(ctx, args)
