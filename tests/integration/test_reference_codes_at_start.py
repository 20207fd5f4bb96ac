"""Issue 17, item 9: ``concord serve`` and ``concord worker`` refuse to start when a dimension
rule derives a code that no active reference record holds, naming the rule and the code (exit
code 2, one line); on a fresh install, with no reference data yet, they warn and start.

On SQLite and PostgreSQL: the reference data is posted by ERP and applied, as in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.bootstrap import Hub, bootstrap
from hub.cli_errors import StartError, require_known_codes
from hub.config import Settings, load_config
from hub.store import access
from hub.store.uow import admin_session
from tests.conftest import Api
from tests.migrated import migrate

GOOD = """
project_setup:
  dimensions:
    cost_center:
      - {when: {service_line: technology}, code: CC-100}
      - {code: cc-200}
"""
# CC-900 is held, but closed; CC-404 is held by no record at all.
BAD = GOOD + "      - {code: CC-900}\n      - {code: CC-404}\n"


def _hub(url: str, config: str) -> Hub:
    return bootstrap(Settings(database_url=url), config=load_config(text=config))


@pytest.fixture
def erp_api(db_url: str) -> Iterator[Api]:
    """A migrated hub with an ERP source that may send cost centers, and no data yet."""
    hub = _hub(db_url, GOOD)
    migrate(db_url)
    with admin_session(hub.engine) as s:
        key = access.add_source(s, "erp", ["cost_center"], None, None, set(hub.config.domains))
    yield Api(hub, {"erp": key})
    hub.close()


def _send_cost_centers(api: Api) -> None:
    def ch(key: str, n: int, **attrs: Any) -> dict[str, Any]:
        return {"domain": "cost_center", "key": key, "sequence": n, "attributes": attrs}

    r = api.post(
        "erp",
        ch("C1", 1, code="CC-100", name="Technology", status="active"),
        ch("C2", 2, code="CC-200", name="Strategy", status="active"),
        ch("C9", 3, code="CC-900", name="Old practice", status="closed"),
    )
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    assert api.apply().dead == 0  # type: ignore[attr-defined]


def test_a_fresh_install_warns_and_starts(erp_api: Api, db_url: str) -> None:
    hub = _hub(db_url, BAD)
    try:
        warnings = require_known_codes(hub.engine, hub.config)
    finally:
        hub.close()
    assert warnings == [
        "project_setup.dimensions.cost_center: the hub holds no cost_center reference data "
        "yet, so the rules' codes (CC-100, CC-404, CC-900, cc-200) are not checked until ERP "
        "sends it"
    ]


def test_a_rule_whose_code_no_active_record_holds_fails_the_start(
    erp_api: Api, db_url: str
) -> None:
    _send_cost_centers(erp_api)
    assert require_known_codes(erp_api.hub.engine, erp_api.hub.config) == []
    hub = _hub(db_url, BAD)
    try:
        with pytest.raises(StartError) as caught:
            require_known_codes(hub.engine, hub.config)
    finally:
        hub.close()
    assert str(caught.value) == (
        "project_setup.dimensions.cost_center[2]: code 'CC-900' is not an active cost_center "
        "in the hub's reference data (send it from ERP as active, or change the rule) "
        "(and 1 more)"
    )


def _concord(
    tmp_path: Path, url: str, config: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "concord.yaml").write_text(config, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    environ |= {"CONCORD_DATABASE_URL": url, "CONCORD_CONFIG": str(tmp_path / "concord.yaml")}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env={**environ, "COLUMNS": "200", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_and_worker_refuse_to_start_naming_the_rule(
    erp_api: Api, db_url: str, tmp_path: Path
) -> None:
    _send_cost_centers(erp_api)
    served = _concord(tmp_path, db_url, BAD, "serve", "--port", "1")
    assert served.returncode == 2, (served.stdout, served.stderr)
    # serve logs its migration (JSON lines) before the check; the error is one plain line
    said = [line for line in served.stderr.splitlines() if not line.startswith("{")]
    assert said == [
        "error: project_setup.dimensions.cost_center[2]: code 'CC-900' is not an active "
        "cost_center in the hub's reference data (send it from ERP as active, or change the "
        "rule) (and 1 more)"
    ]
    worker = _concord(
        tmp_path, db_url, BAD, "worker", "--no-relay", "--no-deliver",
        CONCORD_KAFKA_BOOTSTRAP="127.0.0.1:1",
    )  # fmt: skip
    assert worker.returncode == 2, (worker.stdout, worker.stderr)
    assert worker.stderr.strip().splitlines() == [
        "concord worker: project_setup.dimensions.cost_center[2]: code 'CC-900' is not an "
        "active cost_center in the hub's reference data (send it from ERP as active, or "
        "change the rule) (and 1 more)"
    ]
