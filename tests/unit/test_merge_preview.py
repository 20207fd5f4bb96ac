"""The merge preview and the competing values (issue 16, must-have 2) run the survivorship
rules themselves: what they say is what a merge would do."""

from __future__ import annotations

from hub.domain.preview import competing, merge_preview
from hub.domain.spec import DomainSpec, FieldSpec
from hub.domain.survivorship import Override, survive
from tests.unit.test_survivorship import offer

DOMAIN = DomainSpec(
    "client",
    (
        FieldSpec("name", owners=("erp",)),
        FieldSpec("city"),
        FieldSpec("skills", "list", rules=("union",)),
    ),
)


def test_the_preview_is_what_survivorship_makes_of_the_merged_records() -> None:
    linked = [offer("crm", 0, name="Acme", city="Leeds", skills=["a"])]
    incoming = offer("erp", 5, key="E-9", name="Acme Ltd", city="York", skills=["b"])
    rows = {p.field: p for p in merge_preview(DOMAIN, linked, incoming)}
    merged, _ = survive(DOMAIN, [*linked, incoming])
    assert {f: p.after for f, p in rows.items()} == merged
    assert rows["name"].now == "Acme" and rows["name"].changes
    assert (rows["name"].source, rows["name"].key, rows["name"].rule) == (
        "erp",
        "E-9",
        "source_priority",
    )
    assert rows["name"].from_incoming and rows["skills"].from_incoming
    assert rows["city"].rule == "most_recent" and rows["city"].after == "York"


def test_an_older_incoming_value_loses_and_says_so() -> None:
    linked = [offer("crm", 10, name="Acme", city="Leeds")]
    incoming = offer("psa", 0, key="P-1", city="York")
    rows = {p.field: p for p in merge_preview(DOMAIN, linked, incoming)}
    assert rows["city"].after == "Leeds" and not rows["city"].changes
    assert not rows["city"].from_incoming and rows["city"].source == "crm"


def test_an_override_still_wins_after_the_merge() -> None:
    linked = [offer("crm", 0, name="Acme")]
    incoming = offer("erp", 5, key="E-9", name="Acme Ltd")
    kept = {"name": Override("ACME (steward)", "legal name", "ann")}
    [row] = [p for p in merge_preview(DOMAIN, linked, incoming, kept) if p.field == "name"]
    assert (row.after, row.rule, row.from_incoming) == ("ACME (steward)", "override", False)


def test_competing_values_name_the_winner_and_its_rule_newest_first() -> None:
    offers = [offer("crm", 0, name="Acme", city="Leeds"), offer("psa", 9, key="P-1", city="York")]
    per_field = competing(DOMAIN, offers)
    assert [(o.source, o.value, o.won, o.rule) for o in per_field["city"]] == [
        ("psa", "York", True, "most_recent"),
        ("crm", "Leeds", False, ""),
    ]
    assert [(o.source, o.won) for o in per_field["name"]] == [("crm", True)]
    assert per_field["skills"] == []
