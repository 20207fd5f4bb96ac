"""Fellegi-Sunter scoring, EM, labels, tiers and the matcher port with hard real-world cases."""

from __future__ import annotations

import numpy as np
import pytest

from matching import (
    DeterministicKey,
    DeterministicMatcher,
    ExactMatch,
    FellegiSunterMatcher,
    FellegiSunterModel,
    KeyPart,
    LevenshteinAtThresholds,
    assign_tiers,
    client_spec,
    dedupe,
    estimate_u,
    expectation_maximisation,
    link,
    probability,
    resource_spec,
)

MATCHER = FellegiSunterMatcher()


def client(name: str, city: str = "London", postcode: str = "EC1A 1BB", country: str = "GB"):  # type: ignore[no-untyped-def]
    return {"name": name, "city": city, "postcode": postcode, "country": country}


class TestModel:
    def test_weight_is_prior_plus_log_ratios(self) -> None:
        comps = (ExactMatch("a", m=(0.9, 0.1), u=(0.1, 0.9)), ExactMatch("b"))
        model = FellegiSunterModel.from_comparisons(comps, prior=0.5)
        gamma = np.array([[0, -1], [1, -1]], dtype=np.int8)
        fw, total, prob = model.score(gamma)
        assert fw[0, 0] == pytest.approx(np.log2(9))
        assert fw[0, 1] == 0.0  # missing value: no evidence
        assert total[1] == pytest.approx(np.log2(0.1 / 0.9))
        assert prob[0] == pytest.approx(0.9)

    def test_probability_is_logistic_base_2(self) -> None:
        assert probability(0.0) == pytest.approx(0.5)
        assert probability(np.log2(99)) == pytest.approx(0.99)

    def test_term_frequency_rare_value_weighs_more(self) -> None:
        comp = ExactMatch("family_name", term_frequency=True, m=(0.9, 0.1), u=(0.01, 0.99))
        model = FellegiSunterModel.from_comparisons((comp,), 1e-3).with_term_frequencies(
            {"family_name": {"smith": 0.05, "zygmunt": 0.0001}}
        )
        gamma = np.zeros((3, 1), dtype=np.int8)
        fw, _, _ = model.score(gamma, [["smith", "zygmunt", "unseen"]])
        assert fw[0, 0] < fw[2, 0] < fw[1, 0]

    def test_em_recovers_known_m_and_u(self) -> None:
        rng = np.random.default_rng(0)
        true_m = [(0.9, 0.1), (0.7, 0.2, 0.1), (0.8, 0.2)]
        true_u = [(0.05, 0.95), (0.1, 0.2, 0.7), (0.3, 0.7)]
        lam, n = 0.2, 40_000
        is_match = rng.random(n) < lam
        gamma = np.empty((n, 3), dtype=np.int8)
        for j in range(3):
            gamma[is_match, j] = rng.choice(len(true_m[j]), is_match.sum(), p=true_m[j])
            gamma[~is_match, j] = rng.choice(len(true_u[j]), (~is_match).sum(), p=true_u[j])
        comps = (ExactMatch("a"), LevenshteinAtThresholds("b", (1,)), ExactMatch("c"))
        start = FellegiSunterModel.from_comparisons(comps, prior=0.05)
        m, u, prior = expectation_maximisation(gamma, start)
        assert prior == pytest.approx(lam, abs=0.02)
        for j in range(3):
            assert m[j] == pytest.approx(true_m[j], abs=0.03)
            assert u[j] == pytest.approx(true_u[j], abs=0.03)

    def test_u_from_random_pairs(self) -> None:
        comp = ExactMatch("x")
        values = [[str(i % 10) for i in range(1000)]]
        (u,) = estimate_u([comp], values, max_pairs=50_000)
        assert u[0] == pytest.approx(0.1, abs=0.01)

    def test_labels_move_m_toward_decisions(self) -> None:
        comp = ExactMatch("a", m=(0.5, 0.5), u=(0.5, 0.5))
        model = FellegiSunterModel.from_comparisons((comp,), 0.01)
        gamma = np.array([[0]] * 90 + [[1]] * 10 + [[1]] * 100, dtype=np.int8)
        labels = [True] * 100 + [False] * 100
        fitted = model.with_labels(gamma, labels)
        assert fitted.fields[0].m[0] == pytest.approx(0.86, abs=0.02)
        assert fitted.fields[0].u[0] < 0.05


class TestTiers:
    def test_one_winner(self) -> None:
        assert assign_tiers([30.0, 1.0, -20.0], [1.0, 0.7, 0.0], 0.99, 0.5, 5.0) == [
            (0, "auto"),
            (1, "review"),
        ]

    def test_close_runner_up_sends_to_review(self) -> None:
        assert assign_tiers([12.0, 9.0], [0.999, 0.99], 0.99, 0.5, 5.0) == [
            (0, "review"),
            (1, "review"),
        ]

    def test_nothing_below_review(self) -> None:
        assert assign_tiers([-5.0], [0.03], 0.99, 0.5, 5.0) == []


class TestHardCases:
    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("The Acme Group", "ACME GROUP LIMITED"),
            ("The Acme Group", "Acme Grp."),
            ("ACME GROUP LIMITED", "Acme Grp."),
            ("Acme Intl. Corp", "ACME International Corporation"),
        ],
    )
    def test_same_company_auto_links(self, a: str, b: str) -> None:
        (cand,) = MATCHER.score("client", client(a), [("g1", client(b))])
        assert cand.tier == "auto"
        assert cand.rule == "fellegi-sunter"
        assert cand.weights["name"] > 0

    def test_sister_companies_do_not_auto_link(self) -> None:
        found = MATCHER.score(
            "client", client("Acme Holdings Ltd"), [("g1", client("Acme Services Ltd"))]
        )
        assert all(c.tier != "auto" for c in found)
        if found:
            assert found[0].weights["name"] < 0

    def test_same_name_in_another_country_does_not_link(self) -> None:
        other = client("Acme Ltd", city="Berlin", postcode="10115", country="DE")
        found = MATCHER.score("client", client("Acme Ltd"), [("g1", other)])
        assert all(c.tier != "auto" for c in found)

    def test_two_equally_good_goldens_go_to_review(self) -> None:
        found = MATCHER.score(
            "client",
            client("Acme Group"),
            [("g1", client("Acme Grp")), ("g2", client("ACME GROUP"))],
        )
        assert sorted(c.tier for c in found) == ["review", "review"]

    def test_at_most_one_auto_and_weights_per_field(self) -> None:
        found = MATCHER.score(
            "client",
            client("Acme Group"),
            [("g1", client("Acme Grp")), ("g2", client("Zenith Ltd", "Leeds", "LS1 1AA"))],
        )
        assert [c.golden_id for c in found if c.tier == "auto"] == ["g1"]
        assert set(found[0].weights) == set(client_spec().labels)

    def test_nickname_and_typo_person(self) -> None:
        golden = {"given_name": "William", "family_name": "Smythe", "date_of_birth": "1980-01-02",
                  "postcode": "2000", "city": "Sydney"}  # fmt: skip
        record = {"given_name": "Bill", "family_name": "Smyth", "date_of_birth": "02/01/1980",
                  "postcode": "2000", "city": "sydney"}  # fmt: skip
        (cand,) = MATCHER.score("resource", record, [("g", golden)])
        assert cand.tier == "auto"

    def test_unknown_domain_and_no_candidates(self) -> None:
        assert MATCHER.score("assignment", {"x": 1}, [("g", {"x": 1})]) == []
        assert MATCHER.score("client", client("Acme"), []) == []
        assert MATCHER.blocking_keys("assignment", {"x": 1}) == []


class TestPort:
    def test_deterministic_keys_are_delegated(self) -> None:
        det = DeterministicMatcher(
            {"client": [DeterministicKey("web", (KeyPart("website", "website"),))]}
        )
        matcher = FellegiSunterMatcher(deterministic=det)
        assert matcher.deterministic_keys("client", {"website": "https://www.acme.com/x"}) == [
            "web:acme.com"
        ]
        assert FellegiSunterMatcher().deterministic_keys("client", {"website": "acme.com"}) == []

    def test_blocking_keys_find_the_golden_record(self) -> None:
        a = MATCHER.blocking_keys("client", client("Acme Intl. Corp"))
        b = MATCHER.blocking_keys("client", client("ACME International Corporation"))
        assert all(k.startswith("b:") for k in a)
        assert set(a) & set(b)

    def test_project_matches_within_its_golden_client(self) -> None:
        mine = {"code": "P-100", "name": "ERP rollout", "client": "gc1"}
        same = {"code": "P-100", "name": "ERP Rollout", "client": "gc1"}
        other = {"code": "P-100", "name": "ERP rollout", "client": "gc2"}
        found = MATCHER.score("project", mine, [("g1", same), ("g2", other)])
        assert (found[0].golden_id, found[0].tier) == ("g1", "auto")
        assert all(c.golden_id != "g2" or c.tier != "auto" for c in found)

    def test_spec_mismatch_is_rejected(self) -> None:
        with pytest.raises(ValueError):
            FellegiSunterMatcher({"client": resource_spec()})


class TestBulk:
    def test_link_at_most_one_auto_per_left(self) -> None:
        left = [client("Acme Group")]
        right = [client("Acme Grp"), client("ACME GROUP"), client("Zenith", "Leeds", "LS1 1AA")]
        pairs = link(left, right, client_spec())
        assert sum(p.tier == "auto" for p in pairs) <= 1

    def test_dedupe_finds_the_duplicate(self) -> None:
        records = [client("Acme Group"), client("Zenith", "Leeds", "LS1 1AA"), client("Acme Grp.")]
        pairs = dedupe(records, client_spec())
        assert [(p.left, p.right, p.tier) for p in pairs] == [(0, 2, "auto")]


def test_views_keep_their_compared_values_and_score_as_plain_lists() -> None:
    """A candidate met by many records of one batch is normalised once (``Views``), and
    scores exactly as the same views given as a plain list."""
    from matching import FellegiSunterMatcher, Views

    matcher = FellegiSunterMatcher()
    golden = [
        {"name": "Acme International Ltd", "city": "London", "postcode": "EC1A 1BB"},
        {"name": "ACME Intl", "phone": "+44 20 7946 0000", "country": "GB"},
    ]
    other = [{"name": "Borealis Trading", "city": "Leeds", "postcode": "LS1 4AP"}]
    views = Views(golden)
    records = [
        {"name": "Acme International Limited", "city": "London", "postcode": "EC1A 1BB"},
        {"name": "Acme Intl", "phone": "020 7946 0000", "country": "GB"},
    ]
    for record in records:
        kept = matcher.score("client", record, [("g1", views), ("g2", Views(other))])
        plain = matcher.score("client", record, [("g1", golden), ("g2", other)])
        assert kept == plain
    assert views.compared  # filled by the first record, read by the second
    assert all(len(values) == 2 for values in views.compared.values())


def test_records_compared_together_score_as_each_alone() -> None:
    """``levels_many`` compares a batch's records with their candidates in one call per
    field (pairs graded once, a long column on every core); each record's levels and verdict
    must be exactly those it gets scored alone. Enough pairs for the deduplicated and the
    threaded grading paths; views missing fields, single mappings, an empty entity."""
    import random

    from matching import FellegiSunterMatcher, Views
    from matching.compare import NULL_LEVEL
    from matching.matcher import Entity

    rng = random.Random(7)
    words = ["Acme", "Acne", "Borealis", "Zenith", "Zenit", "Northwind", "Contoso", "Fabrikam"]
    cities = ["London", "Leeds", "Londn", "Paris", None]

    def company() -> dict[str, object]:
        out: dict[str, object] = {
            "name": " ".join(rng.sample(words, rng.randint(1, 3))) + rng.choice([" Ltd", ""]),
            "city": rng.choice(cities),
            "country": rng.choice(["GB", "FR", None]),
        }
        if rng.random() < 0.5:
            out["postcode"] = rng.choice(["EC1A 1BB", "LS1 4AP", "EC1A1BB"])
        if rng.random() < 0.3:
            out["website"] = rng.choice(["acme.com", "www.acme.com", "zenith.fr"])
        return out

    goldens: list[Entity] = [
        Views([company() for _ in range(rng.randint(1, 3))]) for _ in range(60)
    ]
    goldens += [company() for _ in range(20)] + [Views([])]
    matcher = FellegiSunterMatcher()
    work = [
        (company(), [rng.choice(goldens) for _ in range(rng.randint(0, 40))]) for _ in range(400)
    ]
    together = matcher.levels_many("client", work)
    assert sum(len(pool) for _, pool in work) > 7_000
    fields = matcher.spec("client").current_model().fields  # type: ignore[union-attr]

    def by_hand(record: dict[str, object], entity: Entity) -> list[int]:
        """Per field, the best level of any view, each pair compared on its own."""
        views = [entity] if isinstance(entity, dict) else list(entity)
        out = []
        for fm in fields:
            c = fm.comparison
            found = [int(c.levels([c.value(record)], [c.value(v)])[0]) for v in views]
            found = [level for level in found if level != NULL_LEVEL]
            out.append(min(found) if found else NULL_LEVEL)
        return out

    for (record, pool), levels in zip(work, together, strict=True):
        candidates = [(f"g{i}", entity) for i, entity in enumerate(pool)]
        alone = matcher.score("client", record, candidates)
        assert matcher.score("client", record, candidates, levels=levels) == alone
        assert levels.tolist() == [by_hand(record, entity) for entity in pool]
