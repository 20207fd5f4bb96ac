"""Unit tests for deterministic keys, the deterministic matcher and the Candidate value type."""

from __future__ import annotations

import dataclasses
import math

import pytest

import matching
from matching import (
    Candidate,
    DeterministicKey,
    DeterministicMatcher,
    KeyPart,
    key_name,
)

TAX = DeterministicKey("tax", (KeyPart("tax_id", "tax_id"), KeyPart("country", "country")))
WEBSITE = DeterministicKey("website", (KeyPart("website", "website"),))
EMAIL = DeterministicKey("email", (KeyPart("email", "email"),))


class TestKeyPart:
    def test_default_normaliser_is_text(self) -> None:
        assert KeyPart("name").normaliser == "text"

    def test_unknown_normaliser_is_rejected_by_name(self) -> None:
        with pytest.raises(ValueError, match="'fuzzy_soundex'"):
            KeyPart("name", "fuzzy_soundex")

    def test_empty_field_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="field"):
            KeyPart("")

    def test_frozen_and_hashable(self) -> None:
        part = KeyPart("email", "email")
        with pytest.raises(dataclasses.FrozenInstanceError):
            part.field = "x"  # type: ignore[misc]
        assert hash(part) == hash(KeyPart("email", "email"))


class TestDeterministicKey:
    def test_value_joins_normalised_parts(self) -> None:
        record = {"tax_id": "GB 123-456 789", "country": "United Kingdom"}
        assert TAX.value(record) == "tax:GB123456789|GB"

    def test_single_part(self) -> None:
        assert WEBSITE.value({"website": "https://www.Acme.co.uk/x"}) == "website:acme.co.uk"

    @pytest.mark.parametrize(
        "record",
        [
            {},
            {"tax_id": "GB123"},
            {"tax_id": "GB123", "country": None},
            {"tax_id": "   ", "country": "GB"},
            {"tax_id": ["GB123"], "country": "GB"},
            {"tax_id": " - ", "country": "GB"},
        ],
        ids=repr,
    )
    def test_none_if_any_part_is_missing_or_unusable(self, record: dict[str, object]) -> None:
        assert TAX.value(record) is None

    def test_invalid_values_give_no_key(self) -> None:
        assert WEBSITE.value({"website": "not a url"}) is None
        assert EMAIL.value({"email": "a@b"}) is None

    def test_separator_inside_a_part_cannot_forge_a_collision(self) -> None:
        key = DeterministicKey("k", (KeyPart("a", "identity"), KeyPart("b", "identity")))
        left = key.value({"a": "x|y", "b": "z"})
        right = key.value({"a": "x", "b": "y|z"})
        assert left is not None
        assert right is not None
        assert left != right
        assert key.value({"a": "x", "b": "y"}) == "k:x|y"

    def test_unicode_accents_and_case(self) -> None:
        key = DeterministicKey("name", (KeyPart("name"),))
        assert key.value({"name": "CAFE\u0301 Ltd"}) == key.value({"name": "café  ltd"})
        assert key.value({"name": "Cafe Ltd"}) != key.value({"name": "Café Ltd"})

    def test_int_values(self) -> None:
        key = DeterministicKey("employee", (KeyPart("employee_id", "code"),))
        assert key.value({"employee_id": 123}) == "employee:123"
        assert key.value({"employee_id": 123.0}) == "employee:123"

    def test_list_parts_are_frozen_to_a_tuple(self) -> None:
        key = DeterministicKey("w", [KeyPart("website", "website")])  # type: ignore[arg-type]
        assert isinstance(key.parts, tuple)
        assert hash(key) == hash(DeterministicKey("w", (KeyPart("website", "website"),)))

    @pytest.mark.parametrize("name", ["", "a:b"])
    def test_bad_name(self, name: str) -> None:
        with pytest.raises(ValueError, match="name"):
            DeterministicKey(name, (KeyPart("x"),))

    def test_no_parts(self) -> None:
        with pytest.raises(ValueError, match="no parts"):
            DeterministicKey("k", ())

    def test_non_keypart_part(self) -> None:
        with pytest.raises(ValueError, match="KeyPart"):
            DeterministicKey("k", ("email",))  # type: ignore[arg-type]


class TestKeyName:
    def test_text_before_first_colon(self) -> None:
        assert key_name("website:acme.com") == "website"
        assert key_name("url:http://acme.com") == "url"
        assert DeterministicKey.key_name("tax:GB1|GB") == "tax"

    def test_round_trip(self) -> None:
        value = TAX.value({"tax_id": "GB1", "country": "GB"})
        assert value is not None
        assert key_name(value) == TAX.name

    @pytest.mark.parametrize("bad", ["", "website", ":acme.com"])
    def test_not_a_key_value(self, bad: str) -> None:
        with pytest.raises(ValueError, match="not a deterministic key value"):
            key_name(bad)


class TestDeterministicMatcher:
    matcher = DeterministicMatcher({"client": [TAX, WEBSITE], "resource": [EMAIL]})

    def test_keys_in_priority_order(self) -> None:
        record = {"tax_id": "GB 1", "country": "uk", "website": "www.acme.com"}
        assert self.matcher.deterministic_keys("client", record) == [
            "tax:GB1|GB",
            "website:acme.com",
        ]

    def test_keys_that_cannot_be_filled_are_skipped(self) -> None:
        record = {"tax_id": None, "website": "https://acme.com"}
        assert self.matcher.deterministic_keys("client", record) == ["website:acme.com"]
        assert self.matcher.deterministic_keys("client", {}) == []

    def test_domains_are_independent(self) -> None:
        record = {"email": "A@Acme.com", "website": "acme.com"}
        assert self.matcher.deterministic_keys("resource", record) == ["email:a@acme.com"]

    def test_unknown_domain(self) -> None:
        assert self.matcher.deterministic_keys("planet", {"email": "a@acme.com"}) == []
        assert self.matcher.keys_for("planet") == ()

    def test_no_blocking_and_no_scoring(self) -> None:
        record = {"website": "acme.com"}
        assert self.matcher.blocking_keys("client", record) == []
        assert self.matcher.score("client", record, [("g1", {"website": "acme.com"})]) == []

    def test_duplicate_key_names_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="'website' twice"):
            DeterministicMatcher({"client": [WEBSITE, WEBSITE]})

    def test_input_mapping_is_copied(self) -> None:
        keys = {"client": [WEBSITE]}
        matcher = DeterministicMatcher(keys)
        keys["client"].append(TAX)
        assert matcher.keys_for("client") == (WEBSITE,)
        assert matcher.domains == frozenset({"client"})


class TestCandidate:
    def test_fields_and_default_weights(self) -> None:
        c = Candidate("g1", 1.0, "auto", "deterministic:website")
        assert (c.golden_id, c.probability, c.tier, c.rule) == (
            "g1",
            1.0,
            "auto",
            "deterministic:website",
        )
        assert dict(c.weights) == {}

    def test_weights_are_a_read_only_copy(self) -> None:
        weights = {"name": 3.2, "postcode": -1.0}
        c = Candidate("g1", 0.8, "review", "fellegi-sunter", weights)
        weights["name"] = 0.0
        assert c.weights["name"] == 3.2
        with pytest.raises(TypeError):
            c.weights["name"] = 1.0  # type: ignore[index]
        assert c == Candidate("g1", 0.8, "review", "fellegi-sunter", {"name": 3.2, "postcode": -1})
        assert hash(c) == hash(Candidate("g1", 0.8, "review", "fellegi-sunter"))

    @pytest.mark.parametrize("p", [-0.01, 1.01, math.nan, math.inf])
    def test_probability_out_of_range(self, p: float) -> None:
        with pytest.raises(ValueError, match="probability"):
            Candidate("g1", p, "auto", "r")

    def test_tier_new_is_not_a_candidate(self) -> None:
        with pytest.raises(ValueError, match="tier"):
            Candidate("g1", 0.1, "new", "r")

    @pytest.mark.parametrize(("gid", "rule"), [("", "r"), ("g1", "")])
    def test_empty_ids(self, gid: str, rule: str) -> None:
        with pytest.raises(ValueError, match="non-empty"):
            Candidate(gid, 0.5, "review", rule)


def test_facade_exports_exist() -> None:
    for name in matching.__all__:
        assert hasattr(matching, name), name
