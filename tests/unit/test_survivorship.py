"""Survivorship rules, one by one, and the field-level machinery around them (docs/architecture.md,
"Survivorship"): ordered fallback, blanks never win, steward overrides, lineage per field."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.domain.spec import DomainSpec, FieldSpec, RuleName
from hub.domain.survivorship import (
    RULES,
    Contribution,
    Override,
    is_blank,
    most_complete,
    most_frequent,
    most_recent,
    source_priority,
    survive,
    survive_field,
    union,
)
from tests.unit.fakes import default_config

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BLANKS: list[Any] = ["", "  ", None, []]

SOURCES = {
    "crm": ("crm", 0),
    "northwind-crm": ("crm", 1),
    "erp": ("erp", 0),
    "psa": ("psa", 0),
    "hr": ("hr", 0),
    "time": ("time", 0),
}


def offer(source: str, minutes: int = 0, key: str | None = None, **values: Any) -> Contribution:
    kind, rank = SOURCES[source]
    return Contribution(
        source=source,
        kind=kind,
        rank=rank,
        key=key or f"{source}-1",
        changed_at=T0 + timedelta(minutes=minutes),
        sequence=None,
        values=values,
    )


def spec(
    owners: tuple[str, ...] = (), rules: tuple[RuleName, ...] = ("source_priority", "most_recent")
) -> FieldSpec:
    return FieldSpec("name", "string", owners, rules)


class TestSourcePriority:
    def test_first_owner_wins_over_a_newer_second_owner(self) -> None:
        s = spec(("erp", "crm"))
        offers = [offer("erp", 0, name="ERP Name"), offer("crm", 60, name="CRM Name")]
        chosen = source_priority(s, "name", offers)
        assert chosen is not None
        assert chosen.value == "ERP Name"
        assert chosen.provenance == {"source": "erp", "key": "erp-1", "rule": "source_priority"}

    def test_owner_order_is_the_configured_order(self) -> None:
        offers = [offer("erp", 0, name="ERP Name"), offer("crm", 0, name="CRM Name")]
        chosen = source_priority(spec(("crm", "erp")), "name", offers)
        assert chosen is not None and chosen.value == "CRM Name"

    def test_non_owner_is_ignored_even_when_newest(self) -> None:
        offers = [offer("psa", 100, name="PSA Name"), offer("crm", 0, name="CRM Name")]
        chosen = source_priority(spec(("crm",)), "name", offers)
        assert chosen is not None and chosen.value == "CRM Name"

    def test_no_owner_present_yields_nothing(self) -> None:
        assert source_priority(spec(("erp",)), "name", [offer("psa", name="x")]) is None

    def test_acquired_crm_ranks_below_own_crm_of_the_same_kind(self) -> None:
        offers = [
            offer("northwind-crm", 120, name="Northwind's name"),
            offer("crm", 0, name="Our name"),
        ]
        chosen = source_priority(spec(("crm", "erp")), "name", offers)
        assert chosen is not None
        assert chosen.value == "Our name"
        assert chosen.provenance["source"] == "crm"

    def test_acquired_crm_still_beats_a_lower_owner_kind(self) -> None:
        offers = [offer("erp", 0, name="ERP"), offer("northwind-crm", 0, name="Northwind")]
        chosen = source_priority(spec(("crm", "erp")), "name", offers)
        assert chosen is not None and chosen.value == "Northwind"

    def test_same_kind_and_rank_prefers_the_newest(self) -> None:
        offers = [
            offer("crm", 0, key="A-1", name="old"),
            offer("crm", 30, key="A-2", name="new"),
            offer("crm", 10, key="A-3", name="middle"),
        ]
        chosen = source_priority(spec(("crm",)), "name", offers)
        assert chosen is not None
        assert (chosen.value, chosen.provenance["key"]) == ("new", "A-2")


class TestMostRecent:
    def test_newest_source_time_wins(self) -> None:
        offers = [offer("crm", 5, name="a"), offer("erp", 50, name="b"), offer("psa", 20, name="c")]
        chosen = most_recent(spec(), "name", offers)
        assert chosen is not None
        assert chosen.value == "b"
        assert chosen.provenance == {"source": "erp", "key": "erp-1", "rule": "most_recent"}

    def test_result_does_not_depend_on_offer_order(self) -> None:
        offers = [offer("crm", 5, name="a"), offer("erp", 50, name="b"), offer("psa", 20, name="c")]
        first = most_recent(spec(), "name", offers)
        second = most_recent(spec(), "name", list(reversed(offers)))
        assert first == second


class TestMostComplete:
    def test_longest_text_wins_over_newer_shorter(self) -> None:
        offers = [
            offer("crm", 0, name="Acme Holdings Limited"),
            offer("erp", 60, name="Acme"),
        ]
        chosen = most_complete(spec(), "name", offers)
        assert chosen is not None
        assert chosen.value == "Acme Holdings Limited"
        assert chosen.provenance["rule"] == "most_complete"

    def test_longest_list_wins(self) -> None:
        offers = [offer("psa", 60, name=["a"]), offer("hr", 0, name=["a", "b", "c"])]
        chosen = most_complete(spec(), "name", offers)
        assert chosen is not None and chosen.value == ["a", "b", "c"]

    def test_equal_size_prefers_newest(self) -> None:
        offers = [offer("crm", 0, name="abcd"), offer("erp", 9, name="wxyz")]
        chosen = most_complete(spec(), "name", offers)
        assert chosen is not None and chosen.value == "wxyz"


class TestMostFrequent:
    def test_value_most_sources_agree_on_wins_over_newest(self) -> None:
        offers = [
            offer("crm", 0, name="Consulting"),
            offer("erp", 1, name="Consulting"),
            offer("psa", 99, name="Retail"),
        ]
        chosen = most_frequent(spec(), "name", offers)
        assert chosen is not None
        assert chosen.value == "Consulting"
        assert chosen.provenance == {"source": "erp", "key": "erp-1", "rule": "most_frequent"}

    def test_lists_agree_regardless_of_item_order(self) -> None:
        offers = [
            offer("crm", 0, name=["b", "a"]),
            offer("erp", 1, name=["a", "b"]),
            offer("psa", 99, name=["z"]),
        ]
        chosen = most_frequent(spec(), "name", offers)
        assert chosen is not None and sorted(chosen.value) == ["a", "b"]

    def test_tie_prefers_newest(self) -> None:
        offers = [offer("crm", 0, name="x"), offer("erp", 5, name="y")]
        chosen = most_frequent(spec(), "name", offers)
        assert chosen is not None and chosen.value == "y"


class TestUnion:
    def test_every_distinct_item_sorted(self) -> None:
        offers = [
            offer("psa", 0, name=["python", "sql"]),
            offer("hr", 5, name=["sql", "azure"]),
        ]
        chosen = union(spec(), "name", offers)
        assert chosen is not None
        assert chosen.value == ["azure", "python", "sql"]
        assert chosen.provenance["rule"] == "union"
        assert chosen.provenance["source"] == "hr,psa"
        assert chosen.provenance["key"] == "hr-1,psa-1"
        assert chosen.provenance["sources"] == [
            {"source": "hr", "key": "hr-1"},
            {"source": "psa", "key": "psa-1"},
        ]

    def test_order_of_offers_does_not_matter(self) -> None:
        offers = [offer("psa", 0, name=["b", "a"]), offer("hr", 5, name=["c"])]
        a = union(spec(), "name", offers)
        b = union(spec(), "name", list(reversed(offers)))
        assert a == b

    def test_a_scalar_counts_as_one_item(self) -> None:
        chosen = union(spec(), "name", [offer("psa", name="go"), offer("hr", name=["rust"])])
        assert chosen is not None and chosen.value == ["go", "rust"]

    def test_blank_items_are_left_out(self) -> None:
        chosen = union(spec(), "name", [offer("psa", name=["", "  ", "sql"])])
        assert chosen is not None and chosen.value == ["sql"]


class TestFallback:
    def test_blank_owner_falls_through_to_next_owner(self) -> None:
        s = spec(("erp", "crm"))
        offers = [offer("erp", 50, name=""), offer("crm", 0, name="CRM Name")]
        chosen = survive_field(s, "name", offers)
        assert chosen is not None
        assert chosen.value == "CRM Name"
        assert chosen.provenance["rule"] == "source_priority"

    def test_no_owner_value_falls_back_to_next_rule(self) -> None:
        s = spec(("erp",), ("source_priority", "most_recent"))
        offers = [
            offer("erp", 90, name=None),
            offer("crm", 0, name="old"),
            offer("psa", 10, name="newer"),
        ]
        chosen = survive_field(s, "name", offers)
        assert chosen is not None
        assert chosen.value == "newer"
        assert chosen.provenance == {"source": "psa", "key": "psa-1", "rule": "most_recent"}

    def test_rules_are_tried_in_the_configured_order(self) -> None:
        offers = [offer("crm", 0, name="Long Old Name"), offer("erp", 9, name="Short")]
        complete_first = survive_field(spec((), ("most_complete", "most_recent")), "name", offers)
        recent_first = survive_field(spec((), ("most_recent", "most_complete")), "name", offers)
        assert complete_first is not None and complete_first.value == "Long Old Name"
        assert recent_first is not None and recent_first.value == "Short"

    def test_missing_field_is_blank(self) -> None:
        offers = [offer("crm", 99), offer("erp", 0, name="ERP")]
        chosen = survive_field(spec(("crm", "erp")), "name", offers)
        assert chosen is not None and chosen.value == "ERP"


class TestBlanksNeverWin:
    @pytest.mark.parametrize("blank", BLANKS, ids=repr)
    def test_is_blank(self, blank: Any) -> None:
        assert is_blank(blank)

    @pytest.mark.parametrize("value", [0, False, "x", ["a"], 0.0])
    def test_falsy_but_real_values_are_not_blank(self, value: Any) -> None:
        assert not is_blank(value)

    @pytest.mark.parametrize("rule", sorted(RULES))
    @pytest.mark.parametrize("blank", BLANKS, ids=repr)
    def test_blank_from_the_favourite_source_never_wins(self, rule: RuleName, blank: Any) -> None:
        # crm is the owner, the newest and the most frequent (two records), so most rules
        # would pick its blank were blanks not left out before the rules run.
        offers = [
            offer("crm", 90, key="A-1", name=blank),
            offer("crm", 80, key="A-2", name=blank),
            offer("erp", 0, name=["kept"] if rule == "union" else "kept"),
        ]
        chosen = survive_field(spec(("crm", "erp"), (rule,)), "name", offers)
        assert chosen is not None
        assert chosen.value in ("kept", ["kept"])
        assert chosen.provenance["source"] == "erp"

    @pytest.mark.parametrize("blank", BLANKS, ids=repr)
    def test_all_blank_gives_no_value_and_no_field(self, blank: Any) -> None:
        domain = DomainSpec("client", (spec(("crm",)),))
        attributes, provenance = survive(domain, [offer("crm", name=blank)])
        assert attributes == {}
        assert provenance == {}


class TestOverride:
    def test_steward_override_beats_the_owner(self) -> None:
        chosen = survive_field(
            spec(("crm",)),
            "name",
            [offer("crm", name="CRM Name")],
            Override("Steward Name", "confirmed with the client", "alice"),
        )
        assert chosen is not None
        assert chosen.value == "Steward Name"
        assert chosen.provenance == {
            "source": "steward",
            "key": "alice",
            "rule": "override",
            "reason": "confirmed with the client",
        }

    def test_override_applies_with_no_source_value(self) -> None:
        domain = DomainSpec("client", (spec(("crm",)), FieldSpec("city", owners=("crm",))))
        attributes, provenance = survive(
            domain,
            [offer("crm", city="Leeds")],
            {"name": Override("Acme", "missing in CRM", "bob")},
        )
        assert attributes == {"name": "Acme", "city": "Leeds"}
        assert provenance["name"]["rule"] == "override"
        assert provenance["name"]["reason"] == "missing in CRM"
        assert provenance["city"]["rule"] == "source_priority"


class TestSurviveDomain:
    def test_client_defaults_give_crm_name_and_erp_legal_name(self) -> None:
        client = default_config().domain("client")
        offers = [
            offer("crm", 0, key="A-17", name="Acme", legal_name="Acme (CRM)", website="acme.com"),
            offer("erp", 5, key="E-1", name="ACME LTD", legal_name="Acme Holdings Ltd"),
        ]
        attributes, provenance = survive(client, offers)
        assert attributes == {
            "name": "Acme",
            "legal_name": "Acme Holdings Ltd",
            "website": "acme.com",
        }
        assert provenance == {
            "name": {"source": "crm", "key": "A-17", "rule": "source_priority"},
            "legal_name": {"source": "erp", "key": "E-1", "rule": "source_priority"},
            "website": {"source": "crm", "key": "A-17", "rule": "source_priority"},
        }

    def test_every_golden_field_has_source_key_and_rule(self) -> None:
        resource = default_config().domain("resource")
        offers = [
            offer("hr", 0, key="H-1", given_name="Ada", family_name="Lovelace", skills=["math"]),
            offer("psa", 5, key="P-1", email="ada@example.com", skills=["python"]),
            offer("time", 9, key="T-1", job_title="Analyst"),
        ]
        attributes, provenance = survive(resource, offers)
        assert set(attributes) == set(provenance)
        for name, lineage in provenance.items():
            assert {"source", "key", "rule"} <= set(lineage), name
        assert attributes["skills"] == ["math", "python"]
        assert provenance["skills"]["rule"] == "union"
        assert provenance["job_title"] == {"source": "time", "key": "T-1", "rule": "most_recent"}


def _source_priority_as_it_was(
    spec: FieldSpec, name: str, offers: list[Contribution]
) -> object | None:
    """The rule as written before it kept the owner order (two passes, min then max)."""
    order = {kind: i for i, kind in enumerate(spec.owners)}
    owned = [c for c in offers if c.kind in order]
    if not owned:
        return None
    top = min((order[c.kind], c.rank) for c in owned)
    best = max(
        (c for c in owned if (order[c.kind], c.rank) == top),
        key=lambda c: (c.changed_at, c.sequence or 0, c.source, c.key),
    )
    return best.values[name], best.source, best.key


@pytest.mark.parametrize("seed", range(150))
def test_source_priority_picks_what_the_two_pass_rule_picked(seed: int) -> None:
    """Random offers with tied kinds, ranks, times and sequences: the one-pass rule picks the
    same offer, or none, as the rule it replaced."""
    rng = random.Random(seed)
    spec = FieldSpec("name", owners=tuple(rng.sample(["erp", "crm", "psa"], rng.randint(1, 3))))
    offers = [
        Contribution(
            source=rng.choice(["crm", "erp"]),
            kind=rng.choice(["crm", "erp", "psa", "hr"]),
            rank=rng.randint(0, 2),
            key=rng.choice(["A", "B"]),
            changed_at=T0 + timedelta(minutes=rng.randint(0, 1)),
            sequence=rng.choice([None, 1]),
            values={"name": f"v{i}"},
        )
        for i in range(rng.randint(0, 8))
    ]
    got = source_priority(spec, "name", offers)
    want = _source_priority_as_it_was(spec, "name", offers)
    if want is None:
        assert got is None
    else:
        assert got is not None
        assert (got.value, got.provenance["source"], got.provenance["key"]) == want
