"""The documented CONCORD_CONFIG is read, the old CONCORD_CONFIG_FILE still is (with a
warning), and a misspelt CONCORD_* variable is named at start with the closest known one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import Settings, config_path
from hub.environment import environment_warnings


def test_the_readme_name_concord_config_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "firm.yaml"
    monkeypatch.setenv("CONCORD_CONFIG", str(path))
    assert config_path(Settings()) == path


def test_the_old_name_still_works_and_is_called_deprecated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "firm.yaml"
    monkeypatch.delenv("CONCORD_CONFIG", raising=False)
    monkeypatch.setenv("CONCORD_CONFIG_FILE", str(path))
    assert config_path(Settings()) == path
    assert environment_warnings({"CONCORD_CONFIG_FILE": str(path)}) == [
        "CONCORD_CONFIG_FILE is deprecated: use CONCORD_CONFIG (both work for now)"
    ]


def test_a_typo_is_named_with_the_closest_known_variable() -> None:
    lines = environment_warnings(
        {"CONCORD_DATABSE_URL": "x", "CONCORD_LOG_LEVEL": "INFO", "PATH": "/bin"}
    )
    assert lines == [
        "CONCORD_DATABSE_URL is not a Concord setting and is ignored "
        "(did you mean CONCORD_DATABASE_URL?)"
    ]


def test_known_settings_and_test_switches_are_not_reported() -> None:
    env = {
        "CONCORD_CONFIG": "a.yaml",
        "CONCORD_SESSION_SECRET": "x" * 32,
        "CONCORD_KAFKA_BOOTSTRAP": "h:9092",
        "CONCORD_TEST_DATABASE_URL": "postgresql://",
        "CONCORD_REQUIRE_KAFKA": "1",
    }
    assert environment_warnings(env) == []


def test_the_cli_warns_at_start(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
        "CONCORD_WORKER_BACH": "10",
    }
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "CONCORD_WORKER_BACH is not a Concord setting and is ignored "
        "(did you mean CONCORD_WORKER_BATCH?)" in done.stderr
    )
