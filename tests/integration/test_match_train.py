"""Steward decisions retrain the match model: ``concord match train`` learns m from merges and
u from rejections, writes a model file, and concord.yaml can make the hub use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from hub.bootstrap import fuzzy_matcher
from hub.cli.match import match_app
from hub.config import load_config
from hub.domain.commands import DecideMatch
from hub.domain.errors import ConfigError
from hub.store import access
from hub.store.tables import MatchCandidate
from hub.store.uow import admin_session
from tests.conftest import Api, ChangeFactory

SAME = [
    ({"name": "Acme Ltd", "city": "London"}, {"name": "ACME Limited", "city": "London"}),
    ({"name": "Globex GmbH", "city": "Berlin"}, {"name": "Globex", "city": "Berlin"}),
    ({"name": "Initech SA", "city": "Paris"}, {"name": "Initech", "city": "Paris"}),
]
OTHER = [
    ({"name": "Umbrella plc", "city": "Leeds"}, {"name": "Umbrella Leisure", "city": "York"}),
    ({"name": "Stark Ltd", "city": "Bath"}, {"name": "Stark Legal", "city": "Hull"}),
]


def _decide(api: Api, change: ChangeFactory) -> None:
    """Raise one candidate per pair (golden from CRM, record from the acquired CRM) and let a
    steward decide each through the bus, as the web page and the API do."""
    with admin_session(api.hub.engine) as s:
        api.keys["northwind-crm"] = access.add_source(
            s, "northwind-crm", ["client"], None, None, set(api.hub.config.domains)
        )
    pairs = [(a, b, "merge") for a, b in SAME] + [(a, b, "reject") for a, b in OTHER]
    for i, (golden, record, _) in enumerate(pairs):
        api.post("crm", change("client", f"A-{i}", 1, **golden))
        api.post("northwind-crm", change("client", f"N-{i}", 1, **record))
    api.apply()
    with api.hub.uow() as uow:
        uow.candidates.add(
            [
                {
                    "domain": "client",
                    "source_key": ("northwind-crm", f"N-{i}"),
                    "golden_id": api.golden_of("crm", "client", f"A-{i}")["id"],
                    "probability": 0.7,
                    "weights": {},
                    "rule": f"pair-{i}",
                }
                for i in range(len(pairs))
            ]
        )
        uow.commit()
    with admin_session(api.hub.engine) as s:
        ids = {c.rule: c.id for c in s.scalars(select(MatchCandidate))}
        # Whatever matching raised by itself stays out of the way of the decisions under test.
        s.execute(
            update(MatchCandidate)
            .where(MatchCandidate.rule.not_like("pair-%"))
            .values(status="superseded")
        )
    for i, (_, _, decision) in enumerate(pairs):
        api.hub.bus.handle(DecideMatch(ids[f"pair-{i}"], decision, "test", "ann"))


def test_decisions_retrain_the_model(
    api: Api, change: ChangeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _decide(api, change)
    monkeypatch.setenv("CONCORD_DATABASE_URL", api.hub.settings.database_url)
    out = tmp_path / "client-model.json"
    runner = CliRunner()
    refused = runner.invoke(match_app, ["train", "--domain", "client", "--out", str(out)])
    assert refused.exit_code == 1 and "3 merges and 2 rejections" in refused.output
    assert not out.exists()

    done = runner.invoke(
        match_app, ["train", "--domain", "client", "--out", str(out), "--min-decisions", "3"]
    )
    assert done.exit_code == 0, done.output
    saved = json.loads(out.read_text())
    assert saved["domain"] == "client" and saved["decisions"] == {"merged": 3, "rejected": 2}
    before = fuzzy_matcher(api.hub.config).spec("client")
    assert before is not None
    old = {f.comparison.label: f for f in before.current_model().fields}
    new = {f["label"]: f for f in saved["fields"]}
    # Every merged pair agreed exactly on city; every rejected one disagreed.
    assert new["city"]["m"][0] > old["city"].m[0]
    assert new["city"]["u"][-1] > old["city"].u[-1]

    config = tmp_path / "concord.yaml"
    config.write_text(f"match:\n  client: {{model: {out}}}\n")
    spec = fuzzy_matcher(load_config(config)).spec("client")
    assert spec is not None and spec.model is not None
    assert spec.model.fields[[f.comparison.label for f in spec.model.fields].index("city")].m[
        0
    ] == pytest.approx(new["city"]["m"][0])

    broken = dict(
        saved, fields=[dict(f, m=[1.0]) if f["label"] == "city" else f for f in saved["fields"]]
    )
    out.write_text(json.dumps(broken))
    with pytest.raises(ConfigError, match=r"match\.client\.model .*field 'city'"):
        fuzzy_matcher(load_config(config))
