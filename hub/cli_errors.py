"""One clear line, not a traceback, when the hub cannot start where it was pointed.

A newcomer's first mistakes are a misspelt database URL, a server that is not running, a
command before ``concord migrate`` and a port already in use. Each ends the command with one
line that says what to do and exit code 2, and leaves nothing behind: no empty SQLite file,
no source registered for a demo that could not serve (docs/architecture.md, "Bad input and
configuration").
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from hub.domain.errors import ConcordError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from hub.config import HubConfig

USAGE_ERROR = 2


class StartError(ConcordError):
    """The command cannot start; the message says why in one line."""


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for PostgreSQL or an in-memory database)."""
    if not url.startswith("sqlite"):
        return None
    _, _, path = url.partition(":///")
    if not path or path.startswith(":memory:"):
        return None
    return Path(path.split("?", 1)[0])


def shown(url: str) -> str:
    """The URL with its password hidden, as it may appear in an error line."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def require_schema(url: str) -> None:
    """Refuse a command that reads the store before ``concord migrate`` made it.

    Connecting to a missing SQLite file would create it empty, which then looks like a hub.
    """
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise StartError(f"no database at {path}: run `concord migrate` first")
    from sqlalchemy import inspect

    from hub.store.db import make_engine

    engine = make_engine(url)
    try:
        migrated = inspect(engine).has_table("alembic_version")
    finally:
        engine.dispose()
    if not migrated:
        raise StartError(f"{shown(url)} has no Concord schema: run `concord migrate` first")


def require_free_port(port: int, host: str = "127.0.0.1") -> None:
    """Refuse a port another process listens on, before anything is registered or stored."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise StartError(
                f"port {port} on {host} is in use ({exc.strerror}): stop what runs there "
                "or pass --port with a free one"
            ) from None


def one_line(exc: BaseException, url: str | None) -> str | None:
    """The line to print for an error of the database or the settings; None for any other."""
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        name = "CONCORD_" + "_".join(str(p) for p in first["loc"]).upper()
        message = str(first["msg"]).removeprefix("Value error, ")
        return message if message.startswith(name) else f"{name}: {message}"
    where = shown(url) if url else "the database"
    if isinstance(exc, DBAPIError):
        reason = str(exc.orig or exc).strip().splitlines()[0]
        return f"cannot use the database {where}: {reason}"
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return f"CONCORD_DATABASE_URL {where} is not a database URL Concord can use: {exc}"
    return None


def require_known_codes(engine: Engine, config: HubConfig) -> list[str]:
    """Refuse a start whose dimension rules derive a code the reference data does not hold.

    Codes live in the database, not in concord.yaml, so this runs once the store is open.
    A reference domain that holds no data yet (a fresh install) cannot be checked: that is
    returned as a warning line, not a failure.

    Raises:
        StartError: naming the first rule at fault and its code (and how many more there are).
    """
    from hub.domain.setup_config import unheld_codes
    from hub.store.reference_codes import reference_codes
    from hub.store.uow import session_factory
    from matching.normalise import code

    rules = config.project_setup
    if not rules.enabled or not rules.dimensions:
        return []
    from sqlalchemy.exc import DBAPIError

    try:
        with session_factory(engine, readonly=True)() as session:
            held = reference_codes(session, rules.dimensions)
    except DBAPIError as exc:
        raise StartError(one_line(exc, str(engine.url))) from None
    failures, warnings = unheld_codes(rules, held, code)
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise StartError(failures[0] + more)
    return warnings
