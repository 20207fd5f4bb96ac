"""A migrated SQLite file per test process, copied for each test instead of migrated again.

Running the whole Alembic history on SQLite costs a second or more per database (batch mode
rebuilds tables revision after revision), and most tests start from an empty hub; copying a
file migrated once costs a millisecond. A database that exists already is migrated as before
(the migration tests call Alembic themselves). PostgreSQL databases get the same treatment in
``tests/conftest.py`` (``pg_url`` copies a template database migrated once per process), so
here a PostgreSQL database already at the newest revision is left as it is.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from hub.cli_errors import sqlite_path
from hub.store.db import make_engine
from hub.store.migrate import is_current, upgrade

_template: list[Path] = []


def _migrated_file() -> Path:
    if not _template:
        folder = Path(tempfile.mkdtemp(prefix="concord-migrated-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        upgrade(f"sqlite:///{folder / 'template.db'}")
        assert not list(folder.glob("*-wal")), "the template must be one file to copy"
        _template.append(folder / "template.db")
    return _template[0]


def migrate(url: str) -> None:
    """The database at ``url`` at the newest schema."""
    if url.startswith("postgresql") and _is_current(url):
        return  # a copy of the migrated template (tests/conftest.py, pg_url)
    path = sqlite_path(url)
    if path is None or path.exists():
        upgrade(url)
        return
    shutil.copyfile(_migrated_file(), path)


def _is_current(url: str) -> bool:
    engine = make_engine(url)
    try:
        return is_current(engine)
    finally:
        engine.dispose()
