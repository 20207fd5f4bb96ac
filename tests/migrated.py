"""A migrated SQLite file per test process, copied for each test instead of migrated again.

Running the whole Alembic history on SQLite costs a second or more per database (batch mode
rebuilds tables revision after revision), and most tests start from an empty hub; copying a
file migrated once costs a millisecond. A database that exists already, and every PostgreSQL
database, is migrated as before (the migration tests call Alembic themselves).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from hub.cli_errors import sqlite_path
from hub.store.migrate import upgrade

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
    path = sqlite_path(url)
    if path is None or path.exists():
        upgrade(url)
        return
    shutil.copyfile(_migrated_file(), path)
