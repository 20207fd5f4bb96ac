"""``concord stewards``: add (password from stdin), list, disable; bad input names the field."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from hub.cli import app
from tests.support.process import run_concord

ADD_ANN = ("stewards", "add", "ann", "--role", "viewer", "--password-stdin")


def test_stewards_add_list_disable(tmp_path: Path) -> None:
    """The first add runs as a real process with the password on a real pipe; the rest run
    in process through Typer's runner (the same commands, a second and a half less each)."""
    env = {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "COLUMNS": "200"}
    runner = CliRunner()

    def concord(*args: str, stdin: str = "") -> Result:
        return runner.invoke(app, list(args), input=stdin, env=env)

    assert concord("migrate").exit_code == 0
    added = run_concord(ADD_ANN, env, tmp_path, stdin="s3cret-pass\n")
    assert added.returncode == 0, added.stderr
    again = concord("stewards", "add", "ann", "--password-stdin", stdin="s3cret-pass\n")
    assert again.exit_code == 1 and "exists already" in again.stderr
    bad = concord("stewards", "add", "bob", "--role", "king", "--password-stdin", stdin="x" * 9)
    assert bad.exit_code == 2 and "role 'king'" in bad.stderr
    short = concord("stewards", "add", "cy", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and "at least 8" in short.stderr
    assert concord("stewards", "disable", "ann").exit_code == 0
    listed = concord("stewards", "list").stdout
    assert "ann" in listed and "viewer" in listed and "yes" in listed
    assert "cy" not in listed
    assert concord("stewards", "disable", "nobody").exit_code == 1
