"""``concord stewards``: add (password from stdin), list, disable; bad input names the field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_stewards_add_list_disable(tmp_path: Path) -> None:
    env = {**os.environ, "CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "COLUMNS": "200"}

    def concord(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", *args],
            env=env,
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert concord("migrate").returncode == 0
    added = concord(
        "stewards", "add", "ann", "--role", "viewer", "--password-stdin", stdin="s3cret-pass\n"
    )
    assert added.returncode == 0, added.stderr
    again = concord("stewards", "add", "ann", "--password-stdin", stdin="s3cret-pass\n")
    assert again.returncode == 1 and "exists already" in again.stderr
    bad = concord("stewards", "add", "bob", "--role", "king", "--password-stdin", stdin="x" * 9)
    assert bad.returncode == 2 and "role 'king'" in bad.stderr
    short = concord("stewards", "add", "cy", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 8" in short.stderr
    assert concord("stewards", "disable", "ann").returncode == 0
    listed = concord("stewards", "list").stdout
    assert "ann" in listed and "viewer" in listed and "yes" in listed
    assert "cy" not in listed
    assert concord("stewards", "disable", "nobody").returncode == 1
