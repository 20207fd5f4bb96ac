"""``hub.config.load_config``: the built-in defaults, overlays, and every kind of mistake
stopping the start with a ``ConfigError`` that names where it is (docs/architecture.md, "Bad
input and configuration")."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_config
from hub.domain.errors import ConfigError


class TestDefaults:
    def test_the_three_core_domains_load(self) -> None:
        config = load_config()
        assert {"client", "project", "resource"} <= set(config.domains)

    @pytest.mark.parametrize(
        ("domain", "field", "owners"),
        [
            ("client", "name", ("crm", "erp", "psa")),
            ("client", "legal_name", ("erp", "crm")),
            ("client", "tax_id", ("erp", "crm")),
            ("client", "billing_currency", ("erp",)),
            ("client", "payment_terms", ("erp",)),
            ("client", "erp_customer_number", ("erp",)),
            ("client", "industry", ("crm",)),
            ("project", "code", ("psa", "erp", "crm")),
            ("project", "billable", ("erp", "psa")),
            ("project", "cost_center", ("erp", "psa")),
            ("project", "legal_entity", ("erp", "psa")),
            ("project", "currency", ("erp", "psa")),
            ("project", "opportunity_id", ("crm",)),
            ("project", "contract_value", ("crm", "erp")),
            ("resource", "given_name", ("hr", "psa", "erp", "time")),
            ("resource", "cost_center", ("erp", "hr")),
            ("resource", "cost_rate", ("erp",)),
            ("resource", "skills", ("psa",)),
        ],
    )
    def test_owners_follow_the_design(
        self, domain: str, field: str, owners: tuple[str, ...]
    ) -> None:
        assert load_config().domain(domain).field_index[field].owners == owners

    def test_first_owner_of_each_field_matches_the_design_table(self) -> None:
        config = load_config()
        erp_first = {"legal_name", "tax_id", "billing_currency", "payment_terms"}
        for f in config.domain("client").fields:
            expected = "erp" if f.name in erp_first | {"erp_customer_number", "lei"} else "crm"
            assert f.owners[0] == expected, f.name
        for f in config.domain("resource").fields:
            expected = {"cost_center": "erp", "cost_rate": "erp", "skills": "psa"}.get(f.name, "hr")
            assert f.owners[0] == expected, f.name

    def test_default_rules(self) -> None:
        client = load_config().domain("client")
        assert client.field_index["legal_name"].rules == ("source_priority", "most_recent")
        skills = load_config().domain("resource").field_index["skills"]
        assert (skills.type, skills.rules) == ("list", ("union",))

    def test_field_types(self) -> None:
        project = load_config().domain("project")
        assert project.field_index["start_date"].type == "date"
        assert project.field_index["billable"].type == "boolean"
        assert project.field_index["contract_value"].type == "number"
        assert project.field_index["name"].type == "string"

    def test_project_references(self) -> None:
        refs = load_config().domain("project").reference_index
        assert refs["client_key"].name == "client"
        assert refs["client_key"].target == "client"
        assert refs["client_key"].required
        assert refs["project_manager_key"].target == "resource"
        assert not refs["project_manager_key"].required

    def test_deterministic_keys(self) -> None:
        config = load_config()
        client_keys = {k.name: k.parts for k in config.domain("client").keys}
        # identifiers of one legal entity or person only: a website, phone or e-mail is
        # evidence, weighed by the matcher (sister companies share a group website)
        assert set(client_keys) == {"tax_id", "lei", "erp_customer_number"}
        assert client_keys["tax_id"] == (("tax_id", "tax_id"), ("country", "country"))
        assert client_keys["erp_customer_number"] == (
            ("erp_customer_number", "code"),
            ("@issuer", "identity"),
        )
        resource_keys = {k.name: k.parts for k in config.domain("resource").keys}
        assert resource_keys == {"employee_id": (("employee_id", "code"), ("@issuer", "identity"))}
        project_keys = {k.name: k.parts for k in config.domain("project").keys}
        assert project_keys["code"] == (("code", "code"), ("client", "identity"))

    def test_empty_overlay_is_the_defaults(self) -> None:
        assert load_config(text="").domains == load_config().domains


class TestOverlay:
    def test_a_firm_whose_erp_owns_client_names_changes_one_line(self) -> None:
        config = load_config(text="domains: {client: {fields: {name: {owners: [erp, crm]}}}}")
        client = config.domain("client")
        assert client.field_index["name"].owners == ("erp", "crm")
        assert client.field_index["name"].rules == ("source_priority", "most_recent")
        default = load_config().domain("client")
        for f in client.fields:
            if f.name != "name":
                assert f == default.field_index[f.name]
        assert config.domain("project") == load_config().domain("project")

    def test_overlay_changes_rules(self) -> None:
        text = "domains: {client: {fields: {industry: {rules: [most_frequent, most_recent]}}}}"
        field = load_config(text=text).domain("client").field_index["industry"]
        assert field.rules == ("most_frequent", "most_recent")
        assert field.owners == ("crm",)

    def test_overlay_adds_a_field(self) -> None:
        text = "domains: {client: {fields: {segment: {owners: [crm], type: string}}}}"
        client = load_config(text=text).domain("client")
        assert client.field_index["segment"].owners == ("crm",)
        assert "name" in client.field_index

    def test_overlay_from_a_file(self, tmp_path: Path) -> None:
        path = tmp_path / "concord.yaml"
        path.write_text("domains:\n  client:\n    fields:\n      phone: {owners: [erp]}\n")
        assert load_config(path).domain("client").field_index["phone"].owners == ("erp",)


BAD = [
    pytest.param(
        "domains: {client: {fields: {name: {rules: [most_loved]}}}}",
        ["client", "name", "most_loved"],
        id="unknown rule",
    ),
    pytest.param(
        "domains: {client: {fields: {name: {owners: [sap, crm]}}}}",
        ["client", "name", "sap"],
        id="unknown owner kind",
    ),
    pytest.param(
        "domains: {client: {fields: {name: {type: money}}}}",
        ["client", "name", "money"],
        id="unknown type",
    ),
    pytest.param(
        "domains: {client: {fields: {segment: {rules: [source_priority]}}}}",
        ["client", "segment", "source_priority"],
        id="source_priority without owners",
    ),
    pytest.param(
        "domains: {client: {fields: {segment: {}}}}",
        ["client", "segment", "source_priority"],
        id="default rules without owners",
    ),
    pytest.param(
        "domains: {client: {fields: {name: {rules: []}}}}",
        ["client", "name", "rule"],
        id="empty rules",
    ),
    pytest.param(
        "domains: {client: {fields: {name: {ownres: [crm]}}}}",
        ["client", "name", "ownres"],
        id="unknown field key",
    ),
    pytest.param(
        "domains: {client: {keys: {vat: [[vat_number, tax_id]]}}}",
        ["client", "vat_number"],
        id="key on unknown field",
    ),
    pytest.param(
        "domains: {client: {keys: {tax: [[tax_id, soundex]]}}}",
        ["client", "tax_id", "soundex"],
        id="unknown normaliser",
    ),
    pytest.param(
        "domains: {client: {keys: {tax: [tax_id]}}}",
        ["client", "tax"],
        id="malformed key part",
    ),
    pytest.param(
        "domains: {project: {references: {client: {target: customer}}}}",
        ["project", "client", "customer"],
        id="reference to unknown domain",
    ),
    pytest.param(
        "domains: {project: {references: {sponsor: {attribute: sponsor_key}}}}",
        ["project", "sponsor", "target"],
        id="reference without target",
    ),
    pytest.param(
        "domains: {client: {references: {name: {target: client}}}}",
        ["client", "name"],
        id="reference named like a field",
    ),
    pytest.param(
        "domains: {client: {display: [nickname]}}",
        ["client", "nickname"],
        id="display of unknown field",
    ),
    pytest.param(
        "domains: {client: {colour: blue}}",
        ["client", "colour"],
        id="unknown domain key",
    ),
    pytest.param(
        "domains: {supplier: {fields: {}}}",
        ["supplier", "field"],
        id="domain without fields",
    ),
    pytest.param(
        "domains: {client: {fields: {name: {owners: crm}}}}",
        ["client", "name", "owners"],
        id="owners not a list",
    ),
    pytest.param("matching: {}", ["matching"], id="unknown top-level key"),
    pytest.param("- just\n- a list\n", ["mapping"], id="top level not a mapping"),
    pytest.param("domains: {client: [\n", ["YAML"], id="invalid YAML"),
    pytest.param("domains:\n  client:\n\tfields: {}\n", ["YAML"], id="tab in YAML"),
]


class TestBadConfig:
    @pytest.mark.parametrize(("text", "named"), BAD)
    def test_raises_config_error_naming_domain_and_field(self, text: str, named: list[str]) -> None:
        with pytest.raises(ConfigError) as err:
            load_config(text=text)
        for word in named:
            assert word in str(err.value), (word, str(err.value))

    def test_invalid_yaml_says_where(self) -> None:
        with pytest.raises(ConfigError, match="line"):
            load_config(text="domains:\n  client: {fields: [\n")

    def test_missing_file_is_a_config_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="cannot read"):
            load_config(tmp_path / "nope.yaml")

    def test_unknown_reference_key_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="requird"):
            load_config(text="domains: {project: {references: {client: {requird: false}}}}")

    def test_unknown_reference_owner_kind_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="sap"):
            load_config(text="domains: {project: {references: {client: {owners: [sap]}}}}")

    def test_union_on_a_text_field_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="name"):
            load_config(text="domains: {client: {fields: {name: {rules: [union]}}}}")
