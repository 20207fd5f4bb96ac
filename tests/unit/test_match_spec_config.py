"""A firm declares a domain's comparisons and blocking rules in concord.yaml; every mistake
stops the start with a message that names where it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.bootstrap import fuzzy_matcher
from hub.config import load_config
from hub.domain.errors import ConfigError

DECLARED = """
match:
  client:
    comparisons:
      - {kind: token_ratio, field: name, normaliser: company_name, thresholds: [95, 85]}
      - {kind: exact, field: tax_id, normaliser: tax_id, m: [0.9, 0.1], u: [0.0001, 0.9999]}
    blocking:
      - [{field: name, normaliser: company_name, length: 4}, {field: country, normaliser: country}]
      - [tax_id]
"""


def test_a_declared_spec_replaces_the_default(tmp_path: Path) -> None:
    path = tmp_path / "concord.yaml"
    path.write_text(DECLARED)
    matcher = fuzzy_matcher(load_config(path))
    spec = matcher.spec("client")
    assert spec is not None and spec.labels == ["name", "tax_id"]
    assert [r.name for r in spec.blocking.rules] == ["name4+country", "tax_id"]
    golden = {"name": "ACME International Corporation", "tax_id": "GB123456789"}
    record = {"name": "Acme Intl Corp", "tax_id": "GB 123 456 789", "country": "GB"}
    (best,) = matcher.score("client", record, [("g1", golden)])
    assert best.tier == "auto" and set(best.weights) == {"name", "tax_id"}
    assert matcher.blocking_keys("client", record) == [
        "b:name4+country:acme|GB",
        "b:tax_id:gb 123 456 789",
    ]
    untouched = matcher.spec("resource")
    assert untouched is not None and "given_name/family_name swapped" in untouched.labels


@pytest.mark.parametrize(
    ("yaml_text", "named"),
    [
        ("match: {client: {comparisons: [{kind: fuzzy, field: name}]}}", "comparisons[0].kind"),
        (
            "match: {client: {comparisons: [{kind: exact, field: name, thresholds: [1]}]}}",
            "unknown key 'thresholds'",
        ),
        (
            "match: {client: {comparisons: [{kind: jaro_winkler, field: name, "
            "thresholds: [0.8, 0.9]}]}}",
            "strictly decreasing",
        ),
        ("match: {client: {comparisons: [{kind: exact}]}}", "needs a field"),
        ("match: {client: {comparisons: []}}", "non-empty list"),
        ("match: {client: {blocking: [[{field: name, normaliser: nope}]]}}", "blocking[0][0]"),
        ("match: {client: {blocking: [[]]}}", "blocking[0]"),
        ("match: {assignment: {comparisons: [{kind: exact, field: role}]}}", "not fuzzy-matched"),
        (
            "match: {client: {comparisons: [{kind: exact, field: name}, "
            "{kind: exact, field: name}]}}",
            "labels repeat",
        ),
    ],
)
def test_mistakes_name_where_they_are(tmp_path: Path, yaml_text: str, named: str) -> None:
    path = tmp_path / "concord.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match="match\\.") as caught:
        load_config(path)
    assert named in str(caught.value)


@pytest.mark.parametrize("domain", ["client", "resource", "project"])
def test_the_defaults_print_as_configuration_and_read_back(domain: str) -> None:
    """``concord match spec`` prints what concord.yaml takes; reading it back gives the
    default spec exactly, so a firm can start from the defaults."""
    import yaml
    from typer.testing import CliRunner

    from hub.cli.match import match_app
    from matching.spec import DEFAULT_SPECS
    from matching.spec_config import spec_from_config

    printed = CliRunner().invoke(match_app, ["spec", "--domain", domain])
    assert printed.exit_code == 0, printed.output
    declared = yaml.safe_load(printed.output)["match"][domain]
    default = DEFAULT_SPECS[domain]()
    back = spec_from_config(default, declared, f"match.{domain}")
    assert back.comparisons == default.comparisons and back.blocking == default.blocking


def test_the_linking_guards_are_configurable_and_checked() -> None:
    config = load_config(text="match: {client: {generic_at: 5, max_per_source: 2}}")
    spec = fuzzy_matcher(config).spec("client")
    assert spec is not None
    assert (spec.generic_at, spec.max_per_source) == (5, 2)
    assert spec.identity == ("name",)  # the defaults' labels stay when not declared
    assert "website" in spec.evidence
    declared = fuzzy_matcher(load_config(text=DECLARED)).spec("client")
    assert declared is not None and declared.evidence == ()  # no such comparison declared
    for text, where in (
        ("match: {client: {generic_at: 1}}", "generic_at"),
        ("match: {client: {max_per_source: 0}}", "max_per_source"),
        ("match: {client: {identity: [nickname]}}", "identity names no comparison"),
        ("match: {client: {evidence: website}}", "match.client.evidence"),
    ):
        with pytest.raises(ConfigError, match=where):
            load_config(text=text)


def test_a_key_may_be_scoped_to_an_issuer_but_not_to_an_unknown_field() -> None:
    with pytest.raises(ConfigError, match="unknown field 'crm_id'"):
        load_config(text="domains: {client: {keys: {crm_id: [[crm_id, code]]}}}")
    ok = load_config(
        text='domains: {client: {keys: {vat: [[tax_id, tax_id], ["@issuer", identity]]}}}'
    )
    assert {k.name for k in ok.domain("client").keys} >= {"vat"}
