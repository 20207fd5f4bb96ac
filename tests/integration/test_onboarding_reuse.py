"""A commit after a dry run of the same file takes the dry run's preview, and only then:
any change to the file, the settings or the store the preview read makes it match again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.runtime import onboarding_runner
from tests.conftest import Api, ChangeFactory
from tests.integration.test_onboarding import ACME, NORTHWIND, _csv, _run, _world


@pytest.fixture
def previews(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the previews worked out (a reused one is not)."""
    made: list[str] = []
    real = onboarding_runner._preview

    def counted(*args: Any, **kw: Any) -> Any:
        made.append("preview")
        return real(*args, **kw)

    monkeypatch.setattr(onboarding_runner, "_preview", counted)
    return made


def test_a_commit_takes_its_dry_runs_preview(
    api: Api, change: ChangeFactory, tmp_path: Path, previews: list[str]
) -> None:
    _world(api, change)
    path = _csv(tmp_path / "nw.csv", NORTHWIND)
    dry = _run(api.hub, path, dry_run=True)
    committed = _run(api.hub, path)
    assert previews == ["preview"]  # the dry run's only
    report = committed.report
    assert report["preview_of"] == {"run_id": dry.run_id, "at": dry.report["generated_at"]}
    for part in ("outcomes", "histogram", "closest", "survivorship", "thresholds"):
        assert report[part] == dry.report[part]
    assert any(dry.run_id in note for note in report["notes"])
    assert committed.loaded and committed.status_after["records"] == len(NORTHWIND)
    assert report["committed"]["review"]["records"] == 1


def test_a_golden_change_in_between_makes_the_commit_preview_again(
    api: Api, change: ChangeFactory, tmp_path: Path, previews: list[str]
) -> None:
    _world(api, change)
    path = _csv(tmp_path / "nw.csv", NORTHWIND)
    _run(api.hub, path, dry_run=True)
    api.post("crm", change("client", "A-1", 2, **{**ACME, "city": "Londres"}))
    api.apply()
    committed = _run(api.hub, path)
    assert previews == ["preview", "preview"]
    assert "preview_of" not in committed.report


def test_another_file_or_map_makes_the_commit_preview_again(
    api: Api, change: ChangeFactory, tmp_path: Path, previews: list[str]
) -> None:
    _world(api, change)
    path = _csv(tmp_path / "nw.csv", NORTHWIND)
    _run(api.hub, path, dry_run=True)
    _csv(path, [{**NORTHWIND[0], "city": "York"}, *NORTHWIND[1:]])  # same name, new bytes
    edited = _run(api.hub, path, dry_run=True)
    assert "preview_of" not in edited.report  # a dry run always previews
    other_map = _run(api.hub, path, maps=["name=company", "phone=phone"])
    assert previews == ["preview"] * 3
    assert "preview_of" not in other_map.report


def test_a_refused_dry_run_is_not_a_preview_to_take(
    api: Api, change: ChangeFactory, tmp_path: Path, previews: list[str]
) -> None:
    _world(api, change)
    rows = [*NORTHWIND, {**NORTHWIND[0], "id": "NW-4", "company": "Null\x00Byte"}]
    path = _csv(tmp_path / "nw.csv", rows)
    refused = _run(api.hub, path, dry_run=True)
    assert refused.report["mode"] == "refused (invalid rows)" and previews == []
    committed = _run(api.hub, path, skip_invalid=True)
    assert previews == ["preview"] and "preview_of" not in committed.report
    assert committed.loaded


def test_the_cli_says_whose_preview_a_commit_took(
    api: Api, change: ChangeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _world(api, change)
    monkeypatch.setenv("CONCORD_DATABASE_URL", api.hub.settings.database_url)
    path = _csv(tmp_path / "nw.csv", NORTHWIND)
    argv = ["onboard", "start", "--source", "northwind-crm", "--domain", "client"]
    argv += ["--file", str(path), "--map", "name=company", "--report-dir", str(tmp_path)]
    dry = CliRunner().invoke(app, [*argv, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    dry_id = dry.stdout.strip().splitlines()[-1]
    committed = CliRunner().invoke(app, argv)
    assert committed.exit_code == 0, committed.output
    assert f"preview taken from dry run {dry_id}" in " ".join(committed.stdout.split())
    run_id = committed.stdout.strip().splitlines()[-1]
    html = (tmp_path / f"{run_id}.html").read_text(encoding="utf-8")
    assert f"dry run {dry_id}" in html and "<svg" in html


def test_a_client_load_between_a_project_dry_run_and_its_commit_counts_as_a_change(
    api: Api, change: ChangeFactory, tmp_path: Path, previews: list[str]
) -> None:
    """Project rows name the acquired firm's clients, which resolve through the client
    run's links: a client load in between changes what the project preview would say."""
    _world(api, change)
    projects = [{"id": "NP-1", "code": "NW-PRJ-1", "name": "Migration", "client_key": "NW-1"}]
    project_file = _csv(tmp_path / "projects.csv", projects)
    _run(api.hub, project_file, domain="project", maps=[], dry_run=True)
    _run(api.hub, _csv(tmp_path / "nw.csv", NORTHWIND))  # the clients, committed
    committed = _run(api.hub, project_file, domain="project", maps=[])
    assert previews == ["preview"] * 3 and "preview_of" not in committed.report
