"""The link decision and the recomputation of a golden record, as pure rules (issue 15,
must-have 1): values in, the new state and its event out, no store."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.domain import golden as recompute
from hub.domain import linking as link
from hub.domain.model import GoldenRecord, SourceRecord
from hub.domain.spec import DomainSpec, FieldSpec, ReferenceSpec, SourceSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


@dataclass(frozen=True)
class Cand:
    golden_id: str
    tier: str
    rule: str = "fellegi-sunter"
    notes: dict[str, str] = field(default_factory=dict)


def test_the_first_key_that_reaches_a_golden_record_decides_and_the_smallest_id_wins() -> None:
    found = link.link_by_keys([("tax:GB1", set()), ("lei:L1", {"g9", "g2"}), ("erp:7", {"g5"})])
    assert found == link.KeyLink("g2", "deterministic:lei", ("g5", "g9"))
    assert link.link_by_keys([("tax:GB1", set())]) is None
    assert link.link_by_keys([]) is None


def test_a_shared_key_never_merges_what_a_steward_kept_apart() -> None:
    found = link.link_by_keys([("tax:GB1", {"g1", "g2", "g3"})])
    assert found is not None
    assert link.to_merge(found, {"g3"}) == ["g2"]
    assert link.to_merge(found, set()) == ["g2", "g3"]


def test_candidates_are_the_most_shared_without_the_rejected() -> None:
    shared = Counter({"g1": 5, "g2": 4, "g3": 1})
    assert link.candidate_ids(shared, {"g2"}, 2) == {"g1"}
    assert link.candidate_ids(shared, set(), 3) == {"g1", "g2", "g3"}


def test_ties_at_the_cut_go_to_the_smaller_golden_id_whatever_the_counting_order() -> None:
    ids = [f"g{i:03d}" for i in range(60)]
    forward = Counter(dict.fromkeys(ids, 2))
    backward = Counter(dict.fromkeys(reversed(ids), 2))
    backward["g059"] = 3  # sharing more keys still wins over any tie
    assert link.candidate_ids(forward, set(), 50) == set(ids[:50])
    assert link.candidate_ids(backward, set(), 50) == set(ids[:49]) | {"g059"}


def test_one_automatic_winner_links_unless_its_golden_record_is_crowded() -> None:
    scored = [Cand("g1", "auto"), Cand("g2", "review")]
    assert link.link_by_score(scored, None, lambda gid: None) == link.ScoreLink(scored[0], [])
    waiting = link.link_by_score(scored, None, lambda gid: "crm keeps them apart")
    assert waiting.linked is None
    assert [(c.golden_id, c.tier) for c in waiting.review] == [("g1", "review"), ("g2", "review")]
    assert waiting.review[0].notes == {"tier": "crm keeps them apart"}


def test_two_automatic_winners_or_none_go_to_review() -> None:
    two = [Cand("g1", "auto"), Cand("g2", "auto")]
    assert link.link_by_score(two, None, lambda gid: None) == link.ScoreLink(None, two)
    assert link.link_by_score([], None, lambda gid: None) == link.ScoreLink(None, [])


def test_the_per_source_guard_counts_up_to_its_limit() -> None:
    assert link.crowded_reason("crm", 0, 1) is None
    reason = link.crowded_reason("crm", 1, 1)
    assert reason is not None and "1 record(s) of crm" in reason


SPEC = DomainSpec(
    "client",
    fields=(
        FieldSpec("name", owners=("crm",)),
        FieldSpec("city", rules=("most_recent",)),
    ),
    references=(ReferenceSpec("parent", "parent_key", "client"),),
)
SOURCES = {"crm": SourceSpec("crm", "crm"), "erp": SourceSpec("erp", "erp")}


def _record(source: str, key: str, at: datetime, **attrs: object) -> SourceRecord:
    return SourceRecord(source, "client", key, dict(attrs), at, None, "", golden_id="g1")


def _golden(version: int = 0, **kw: object) -> GoldenRecord:
    base: dict[str, object] = {"attributes": {}, "provenance": {}, "references": {}}
    base.update(kw)
    return GoldenRecord("g1", "client", version, "active", **base)  # type: ignore[arg-type]


def test_a_golden_record_is_survived_from_its_records_with_lineage_and_an_event() -> None:
    live = [
        _record("erp", "E1", T1, name="Acme Corp", city="Leeds"),
        _record("crm", "C1", T0, name="Acme Ltd", city="York", parent_key="P1"),
    ]
    parent = SourceRecord("crm", "client", "P1", {}, T0, None, "", golden_id="g7")
    offers = recompute.offers_of(SPEC, live, {("crm", "client", "P1"): parent}, SOURCES, "g1")
    done = recompute.resurvive(_golden(), SPEC, offers, recompute.xref_of(live), T1)
    assert done is not None and done.kind == "created"
    assert done.golden.version == 1 and done.golden.created_at == T1
    # the owner's name, the newest city, the reference resolved through the parent's record
    assert done.golden.attributes == {"name": "Acme Ltd", "city": "Leeds"}
    assert done.golden.references == {"parent": "g7"}
    assert done.golden.provenance["name"]["source"] == "crm"
    assert done.golden.xref == [{"source": "crm", "key": "C1"}, {"source": "erp", "key": "E1"}]
    assert done.event.type == "concord.client.created"
    assert done.event.changed_fields == ["city", "name", "parent"]
    # the same offers again change nothing: no version, no event
    assert recompute.resurvive(done.golden, SPEC, offers, done.golden.xref, T1) is None


def test_a_reference_to_a_record_not_held_yet_is_kept_pending() -> None:
    live = [_record("crm", "C1", T0, name="Acme", parent_key="P9")]
    offers = recompute.offers_of(SPEC, live, {}, SOURCES, "g1")
    assert [p["target_key"] for p in offers.pending] == ["P9"]
    done = recompute.resurvive(_golden(), SPEC, offers, recompute.xref_of(live), T0)
    assert done is not None and done.golden.references == {"parent": None}


def test_a_steward_override_beats_every_rule() -> None:
    live = [_record("crm", "C1", T0, name="Acme Ltd")]
    golden = _golden(overrides={"name": {"value": "ACME Limited", "reason": "legal", "by": "ann"}})
    offers = recompute.offers_of(SPEC, live, {}, SOURCES, "g1")
    done = recompute.resurvive(golden, SPEC, offers, recompute.xref_of(live), T0)
    assert done is not None and done.golden.attributes["name"] == "ACME Limited"


def test_retiring_keeps_the_last_values_and_happens_once() -> None:
    golden = _golden(3, attributes={"name": "Acme"}, xref=[{"source": "crm", "key": "C1"}])
    done = recompute.retire(golden, T1)
    assert done is not None and done.kind == "retired"
    assert (done.golden.version, done.golden.status) == (4, "retired")
    assert done.golden.attributes == {"name": "Acme"} and done.golden.xref == []
    assert done.event.type == "concord.client.retired"
    assert recompute.retire(done.golden, T1) is None
    assert golden.version == 3  # the input is not changed


def test_merging_away_names_the_winner_and_a_record_born_in_the_batch_is_silent() -> None:
    done = recompute.merge_away(_golden(2, attributes={"name": "Acme"}), "g9", T1)
    assert done is not None and done.golden.status == "merged"
    assert done.golden.merged_into == "g9" and done.golden.version == 3
    assert done.event.cloud_event()["data"]["merge"] == {"loser": "g1", "winner": "g9"}
    assert recompute.merge_away(_golden(0), "g9", T1) is None


def test_a_resend_is_quiet_only_where_its_recency_cannot_win() -> None:
    spec = DomainSpec(
        "client",
        fields=(FieldSpec("name", owners=("crm", "erp")), FieldSpec("industry", owners=("crm",))),
    )
    sources = {
        "crm": SourceSpec("crm", "crm"),
        "erp": SourceSpec("erp", "erp"),
        "psa": SourceSpec("psa", "psa"),
        "crm2": SourceSpec("crm2", "crm", 1),
    }

    def golden(
        name_from: tuple[str, str, str], industry_from: tuple[str, str, str]
    ) -> GoldenRecord:
        return _golden(
            2,
            attributes={"name": "Acme", "industry": "legal"},
            provenance={
                "name": {"source": name_from[0], "key": "K", "rule": name_from[1]},
                "industry": {"source": industry_from[0], "key": "K", "rule": industry_from[1]},
            },
        )

    def quiet(g: GoldenRecord, source: str, **attrs: object) -> bool:
        record = SourceRecord(source, "client", "X", dict(attrs), T1, None, "", golden_id="g1")
        return recompute.update_changes_nothing(
            g, spec, record, record.attributes, sources, frozenset()
        )

    owned = golden(("crm", "source_priority", ""), ("crm", "source_priority", ""))
    assert quiet(owned, "erp", name="Acme Corp")  # CRM outranks ERP: ERP cannot win the name
    assert quiet(owned, "crm2", name="Acme Corp")  # an acquired CRM ranks below ours
    assert not quiet(owned, "crm", name="Acme Corp")  # a tie within CRM goes to the newest
    assert quiet(owned, "psa", name="Acme", industry="legal")  # its values are the golden's
    newest = golden(("crm", "source_priority", ""), ("erp", "most_recent", ""))
    assert not quiet(newest, "psa", industry="software")  # the newest sender's value wins
    assert quiet(newest, "psa", industry="")  # a blank never wins
    kept = golden(("steward", "override", ""), ("crm", "source_priority", ""))
    assert quiet(kept, "crm", name="Acme Corp")
    assert not quiet(_golden(0), "crm", name="Acme")  # not stored yet: always survived
