"""Running the Alembic history from code, so ``concord migrate`` needs no alembic.ini."""

from __future__ import annotations

from functools import cache
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


@cache
def _heads() -> frozenset[str]:
    """The newest revisions shipped with this install; they cannot change while it runs."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration (what /healthz reports).

    Reads Alembic's version table directly: Alembic's migration context logs two INFO lines
    each time it is made, and a health check runs every few seconds.
    """
    with engine.connect() as conn:
        conn.execution_options(readonly=True)  # SQLite: a plain BEGIN, not the write lock
        if not inspect(conn).has_table("alembic_version"):
            return False
        current = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return current == _heads()
