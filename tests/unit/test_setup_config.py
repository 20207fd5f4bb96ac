"""Issue 17, item 9: a configuration whose setup rules name what the hub does not know fails at
start with a message naming the rule (its index) and the field, stage or code at fault."""

from __future__ import annotations

import re

import pytest

from hub.config import load_config
from hub.domain.errors import ConfigError
from hub.domain.project_setup import DimensionRule, SetupRules
from hub.domain.setup_config import KnownDomains, parse_setup_rules, unheld_codes
from matching.normalise import code


def _refused(yaml: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(text=yaml)
    return str(caught.value)


def _setup(body: str) -> str:
    return "project_setup:\n" + "".join(f"  {line}\n" for line in body.splitlines())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "dimensions:\n  cost_center: [{code: CC-1}, {when: {colour: red}, code: CC-2}]",
            "project_setup.dimensions.cost_center[1].when: 'colour' is neither an opportunity "
            "field nor client.<field>",
        ),
        (
            "dimensions:\n  rate_card: [{when: {client.shoe_size: '9'}, code: R}]",
            "project_setup.dimensions.rate_card[0].when: 'client.shoe_size' is neither",
        ),
        (
            "client_checks: [{field: legal_name}, {field: shoe_size}]",
            "project_setup.client_checks[1].field: 'shoe_size' is not a field of domain client",
        ),
        (
            "dimensions:\n  cost_center: [{when: {stage: [contracted, signed]}, code: CC-1}]",
            "project_setup.dimensions.cost_center[0].when.stage: 'signed' is not a stage of "
            "project_setup",
        ),
        (
            "dimensions:\n  currency: [{code: GBP}]",
            "project_setup.dimensions.currency: not a dimension",
        ),
        (
            "lost_stages: [lost, Contracted]",
            "project_setup.lost_stages: 'contracted' is also in project_setup.contracted_stages",
        ),
    ],
)
def test_a_rule_naming_an_unknown_field_or_stage_is_refused_by_name(
    body: str, message: str
) -> None:
    assert _refused(_setup(body)).startswith(message)


def test_a_stage_the_setup_knows_may_be_a_condition() -> None:
    config = load_config(
        text=_setup("dimensions:\n  cost_center: [{when: {stage: Closed_Won}, code: CC-1}]")
    )
    assert config.project_setup.dimensions["cost_center"][0].when == {
        "stage": frozenset({"closed_won"})
    }


def _parse(dimensions: dict[str, object], known: KnownDomains) -> None:
    config = load_config()
    parse_setup_rules(
        {"dimensions": dimensions},
        set(config.domains["opportunity"].field_index),
        set(config.domains["client"].field_index),
        known,
    )


def test_a_dimension_without_its_reference_domain_or_project_field_is_refused() -> None:
    """A firm's file overlays the default domains, so these hold for the defaults; the rules
    are checked against what the configuration declares all the same."""
    config = load_config()
    domains = frozenset(config.domains)
    project = frozenset(config.domains["project"].field_index)
    with pytest.raises(ConfigError) as caught:
        _parse(
            {"cost_center": [{"code": "CC-1"}]}, KnownDomains(domains - {"cost_center"}, project)
        )
    assert str(caught.value) == (
        "project_setup.dimensions.cost_center: no domain 'cost_center' is configured to hold "
        "its codes"
    )
    with pytest.raises(
        ConfigError, match=re.escape("'rate_card' is not a field of domain project")
    ):
        _parse({"rate_card": [{"code": "R"}]}, KnownDomains(domains, project - {"rate_card"}))
    _parse({"rate_card": [{"code": "R"}]}, KnownDomains(domains, project))


RULES = SetupRules(
    dimensions={
        "cost_center": (DimensionRule("CC-100"), DimensionRule("cc 900")),
        "billing_code": (DimensionRule("TM"),),
    }
)


def test_a_rule_deriving_a_code_no_active_record_holds_fails_naming_rule_and_code() -> None:
    held = {
        "cost_center": [("CC-100", "active"), ("CC-900", "Closed"), (None, "active")],
        "billing_code": [("TM", None)],
    }
    failures, warnings = unheld_codes(RULES, held, code)
    assert failures == [
        "project_setup.dimensions.cost_center[1]: code 'cc 900' is not an active cost_center "
        "in the hub's reference data (send it from ERP as active, or change the rule)"
    ]
    assert warnings == []


def test_codes_compare_as_the_lookup_does_and_an_active_one_passes() -> None:
    held = {"cost_center": [("cc-100", "active"), ("CC900", "")], "billing_code": [("tm", "")]}
    assert unheld_codes(RULES, held, code) == ([], [])


def test_a_reference_domain_without_data_is_a_warning_not_a_failure() -> None:
    failures, warnings = unheld_codes(RULES, {"cost_center": None, "billing_code": []}, code)
    assert warnings == [
        "project_setup.dimensions.cost_center: the hub holds no cost_center reference data "
        "yet, so the rules' codes (CC-100, cc 900) are not checked until ERP sends it"
    ]
    assert [f.split(":")[0] for f in failures] == ["project_setup.dimensions.billing_code[0]"]


def test_disabled_setup_checks_no_code() -> None:
    disabled = SetupRules(enabled=False, dimensions=RULES.dimensions)
    assert unheld_codes(disabled, {"cost_center": [], "billing_code": []}, code) == ([], [])


def test_a_client_check_with_bad_countries_names_its_key() -> None:
    message = _refused(_setup("client_checks: [{field: tax_id, required_in_countries: GB}]"))
    assert message.startswith("project_setup.client_checks[0].required_in_countries: expected")
