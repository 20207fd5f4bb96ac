"""Operations' commands end to end: dead letters, key rotation, the audit chain."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner, Result

from hub.app import create_app
from hub.cli import app
from hub.domain.errors import CannotApply
from hub.runtime.serving import BackgroundServer, free_port
from hub.services.apply import Applier
from hub.store.tables import AuditLog, DeadLetter, InboxRow
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory, make_hub
from tests.support.process import run_concord


def _cli(url: str, *args: str) -> Result:
    """A command through Typer's runner, in this process: what the commands print and their
    exit codes are the same as a process's, a second and a half sooner each; one command per
    test below also runs as a real process (``_process``)."""
    return CliRunner().invoke(app, list(args), env={"CONCORD_DATABASE_URL": url, "COLUMNS": "200"})


def _process(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_concord(args, {"CONCORD_DATABASE_URL": url, "COLUMNS": "200"}, cwd)


@pytest.mark.batch_failure_expected
def test_dead_letter_then_replay_after_the_fix(
    api: Api,
    change: ChangeFactory,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    db_url: str,
) -> None:
    original = Applier._apply_one

    def broken(self: Applier, uow: object, batch: object, ch: object) -> bool:
        if getattr(ch, "key", "") == "BAD-1":
            raise CannotApply("rule failed for BAD-1")
        return original(self, uow, batch, ch)  # type: ignore[arg-type]

    monkeypatch.setattr(Applier, "_apply_one", broken)
    api.post(
        "crm",
        change("client", "OK-1", 1, name="Fine Ltd"),
        change("client", "BAD-1", 1, name="Broken Ltd"),
    )
    report = api.apply()
    assert report.applied == 1 and report.dead == 1  # type: ignore[attr-defined]

    listed = _process(db_url, tmp_path, "deadletters", "list")
    assert listed.returncode == 0, listed.stderr
    assert "BAD-1" in listed.stdout and "rule failed" in listed.stdout
    with admin_session(api.hub.engine) as s:
        dead = s.scalars(select(DeadLetter)).one()
        assert dead.payload["attributes"] == {"name": "Broken Ltd"}
        assert "CannotApply: rule failed for BAD-1" in dead.reason
    shown = _cli(db_url, "deadletters", "show", str(dead.id))
    assert "Broken Ltd" in shown.stdout and "rule failed" in shown.stdout

    monkeypatch.setattr(Applier, "_apply_one", original)  # the fix
    replayed = _cli(db_url, "deadletters", "replay", "--all")
    assert replayed.exit_code == 0 and "replayed 1" in replayed.stdout
    assert api.apply().applied == 1  # type: ignore[attr-defined]
    assert api.golden_of("crm", "client", "BAD-1")["attributes"] == {"name": "Broken Ltd"}
    with admin_session(api.hub.engine) as s:
        assert s.scalars(select(InboxRow.status)).all().count("dead") == 0
    again = _cli(db_url, "deadletters", "replay", "--all")
    assert "replayed 0" in again.stdout  # a dead letter is replayed once


def test_rotate_key_revokes_the_old_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rot.db'}"
    first = _process(url, tmp_path, "sources", "add", "crm", "--domains", "client")
    old = first.stdout.strip().splitlines()[-1]
    rotated = _cli(url, "sources", "rotate-key", "crm")
    assert rotated.exit_code == 0, rotated.stderr
    new = rotated.stdout.strip().splitlines()[-1]
    assert new.startswith("ck_") and new != old
    hub = make_hub(url)
    body = {"changes": [{"domain": "client", "key": "A", "attributes": {"name": "A Ltd"}}]}
    with BackgroundServer(create_app(hub, run_worker=False), free_port()) as server:
        r_old = httpx.post(
            f"{server.url}/api/v1/changes", json=body, headers={"Authorization": f"Bearer {old}"}
        )
        r_new = httpx.post(
            f"{server.url}/api/v1/changes", json=body, headers={"Authorization": f"Bearer {new}"}
        )
    hub.close()
    assert r_old.status_code == 401 and r_new.status_code == 202
    assert _cli(url, "sources", "rotate-key", "nope").exit_code == 1


def test_audit_chain_catches_a_direct_edit(db_url: str, tmp_path: Path) -> None:
    for name in ("crm", "erp"):
        assert _cli(db_url, "sources", "add", name, "--domains", "client").exit_code == 0
    assert _cli(db_url, "keys", "create", "bi").exit_code == 0
    ok = _cli(db_url, "audit", "verify")
    assert ok.exit_code == 0 and "intact" in ok.stdout, ok.stderr
    hub = make_hub(db_url)
    # the application's own path refuses to rewrite history...
    with pytest.raises(Exception, match="append-only"), hub.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 2"))
    with hub.engine.begin() as conn:
        # ...so a tamperer with the database's keys drops the guard first
        if hub.engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 2"))
    with admin_session(hub.engine) as s:
        assert s.get(AuditLog, 2).actor == "mallory"  # type: ignore[union-attr]
    hub.close()
    broken = _process(db_url, tmp_path, "audit", "verify")
    assert broken.returncode == 1
    assert "entry 2" in broken.stderr
