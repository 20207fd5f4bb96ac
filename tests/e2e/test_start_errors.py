"""A newcomer's first mistakes end with one line, exit code 2 and nothing left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _concord(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env={**environ, "COLUMNS": "80", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://root@localhost/concord", "CONCORD_DATABASE_URL must be"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/concord", "Connection refused"),
        ("sqlite:////no/such/folder/concord.db", "unable to open database file"),
    ],
)
def test_a_wrong_or_unreachable_database_is_one_line(tmp_path: Path, url: str, said: str) -> None:
    line = _one_line(_concord(tmp_path, "migrate", CONCORD_DATABASE_URL=url))
    assert said in line
    assert list(tmp_path.iterdir()) == []


def test_status_before_migrate_says_so_and_leaves_no_empty_database(tmp_path: Path) -> None:
    line = _one_line(_concord(tmp_path, "status"))
    assert line == "error: no database at concord.db: run `concord migrate` first"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
@pytest.mark.empty_database
def test_status_on_an_empty_postgres_database_says_migrate(tmp_path: Path, pg_url: str) -> None:
    line = _one_line(_concord(tmp_path, "status", CONCORD_DATABASE_URL=pg_url))
    assert line.endswith("has no Concord schema: run `concord migrate` first")


def test_demo_on_a_busy_port_registers_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = _one_line(_concord(tmp_path, "demo", "--port", str(port)))
    assert f"port {port} on 127.0.0.1 is in use" in line and "--port" in line
    assert list(tmp_path.iterdir()) == []
