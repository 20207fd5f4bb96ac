"""Comparisons (levels, validation at declaration) and blocking rules."""

from __future__ import annotations

import dataclasses

import pytest

from matching import (
    NULL_LEVEL,
    BlockingIndex,
    BlockPart,
    DateComparison,
    ExactMatch,
    FellegiSunterMatcher,
    JaroWinklerAtThresholds,
    LevenshteinAtThresholds,
    NamesSwapped,
    Or,
    TokenRatioAtThresholds,
    block_on,
    company_name,
)


class TestDeclaration:
    def test_level_names(self) -> None:
        assert ExactMatch("email").level_names == ("exact", "else")
        assert JaroWinklerAtThresholds("family_name", (0.92, 0.8)).level_names == (
            "exact",
            "jw>=0.92",
            "jw>=0.8",
            "else",
        )

    @pytest.mark.parametrize(
        "build",
        [
            lambda: ExactMatch(""),
            lambda: ExactMatch("email", normaliser="soundex"),
            lambda: JaroWinklerAtThresholds("n", (0.8, 0.92)),
            lambda: JaroWinklerAtThresholds("n", (1.5,)),
            lambda: JaroWinklerAtThresholds("n", ()),
            lambda: TokenRatioAtThresholds("n", (95, 85), method="wratio"),  # type: ignore[arg-type]
            lambda: LevenshteinAtThresholds("n", (2, 1)),
            lambda: ExactMatch("e", m=(0.5, 0.4)),
            lambda: ExactMatch("e", u=(0.5, 0.3, 0.2)),
            lambda: ExactMatch("e", m=(1.0, 0.0)),
            lambda: DateComparison("dob", years=0),
        ],
    )
    def test_bad_declarations_fail_when_declared(self, build: object) -> None:
        with pytest.raises(ValueError):
            build()  # type: ignore[operator]

    def test_frozen_and_hashable(self) -> None:
        c = ExactMatch("email", normaliser="email")
        with pytest.raises(dataclasses.FrozenInstanceError):
            c.field = "x"  # type: ignore[misc]
        assert hash(c) == hash(ExactMatch("email", normaliser="email"))

    def test_default_priors_fit_the_levels(self) -> None:
        c = TokenRatioAtThresholds("name", (95, 85))
        assert len(c.prior_m) == len(c.prior_u) == 4
        assert sum(c.prior_m) == pytest.approx(1.0)
        assert c.prior_m[0] > c.prior_u[0]
        assert c.prior_m[-1] < c.prior_u[-1]


class TestLevels:
    def test_null_on_either_side(self) -> None:
        levels = ExactMatch("e").levels(["a", None, None], [None, "a", None])
        assert levels.tolist() == [NULL_LEVEL] * 3

    def test_jaro_winkler(self) -> None:
        c = JaroWinklerAtThresholds("family_name", (0.92, 0.8))
        got = c.levels(["smith", "smith", "smith", "smith"], ["smith", "smiht", "smyth", "jones"])
        assert got.tolist() == [0, 1, 2, 3]

    def test_token_sort_forgives_order_not_other_words(self) -> None:
        c = TokenRatioAtThresholds("name", (95, 85))
        got = c.levels(["acme group", "acme holdings"], ["group acme", "acme services"])
        assert got.tolist() == [1, 3]

    def test_token_set_forgives_extra_words(self) -> None:
        c = TokenRatioAtThresholds("name", (95,), method="token_set")
        assert c.levels(["acme"], ["acme holdings"]).tolist() == [1]

    def test_levenshtein(self) -> None:
        c = LevenshteinAtThresholds("postcode", (1, 2))
        got = c.levels(["2000", "2000", "2000", "2000"], ["2000", "2001", "2011", "3111"])
        assert got.tolist() == [0, 1, 2, 3]

    def test_dates(self) -> None:
        c = DateComparison("dob")
        left = ["1965-03-12"] * 5
        right = ["1965-03-12", "1965-03-13", "1965-12-03", "1965-09-30", "1990-01-01"]
        assert c.levels(left, right).tolist() == [0, 1, 1, 2, 3]

    def test_impossible_date_kept_as_text_is_a_typo(self) -> None:
        c = DateComparison("dob")
        assert c.levels([c.normalise("19341105")], [c.normalise("19341195")]).tolist() == [1]

    def test_empty_input(self) -> None:
        assert ExactMatch("e").levels([], []).tolist() == []


class TestBlocking:
    def test_keys_are_prefixed_and_skip_missing_parts(self) -> None:
        rules = Or(
            block_on("postcode"),
            block_on(BlockPart("name", "company_name", length=3), BlockPart("country", "country")),
        )
        keys = rules.keys({"name": "The Acme Group", "country": "United Kingdom"})
        assert keys == ["b:name3+country:acm|GB"]

    def test_first_token(self) -> None:
        rule = block_on(BlockPart("name", "company_name", first_token=True))
        assert rule.key({"name": "Acme Intl Corp"}) == "b:name.w:acme"

    def test_shared_name_catches_swapped_fields(self) -> None:
        rules = Or(
            block_on("given_name", "family_name", name="names"),
            block_on("family_name", "given_name", name="names"),
        )
        a = rules.keys({"given_name": "Ann", "family_name": "Lee"})
        b = rules.keys({"given_name": "Lee", "family_name": "Ann"})
        assert set(a) & set(b)

    def test_bad_rules_fail_when_declared(self) -> None:
        with pytest.raises(ValueError):
            BlockPart("x", "nope")
        with pytest.raises(ValueError):
            BlockPart("x", length=0)
        with pytest.raises(ValueError):
            block_on()
        with pytest.raises(ValueError):
            block_on("x", name="a:b")

    def test_index_follows_changes(self) -> None:
        index = BlockingIndex()
        index.put("g1", ["k1", "k2"])
        index.put("g2", ["k2"])
        assert index.find(["k2"]) == {"g1", "g2"}
        index.put("g1", ["k3"])
        assert index.find(["k1", "k2"]) == {"g2"}
        index.remove("g2")
        assert index.find(["k2"]) == set()
        assert len(index) == 1


class TestNamesSwapped:
    comp = NamesSwapped("given_name", other="family_name")

    def _level(self, a: dict[str, object], b: dict[str, object]) -> int:
        return int(self.comp.levels([self.comp.value(a)], [self.comp.value(b)])[0])

    def test_swapped_names_even_with_a_typo(self) -> None:
        a = {"given_name": "Robert", "family_name": "Sheldon"}
        assert self._level(a, {"given_name": "Sheldon", "family_name": "Robert"}) == 0
        assert self._level(a, {"given_name": "Sheldom", "family_name": "Robert"}) == 0

    def test_names_in_order_are_not_a_swap(self) -> None:
        a = {"given_name": "Anna", "family_name": "Anna"}  # the same both ways: no evidence
        assert self._level(a, dict(a)) == 1
        b = {"given_name": "Robert", "family_name": "Sheldon"}
        assert self._level(b, {"given_name": "Robert", "family_name": "Shelden"}) == 1

    def test_a_missing_name_is_no_evidence(self) -> None:
        a = {"given_name": "Robert", "family_name": None}
        assert self._level(a, {"given_name": None, "family_name": "Robert"}) == NULL_LEVEL

    def test_a_swapped_person_links_automatically(self) -> None:
        matcher = FellegiSunterMatcher()
        golden = {
            "given_name": "Robert",
            "family_name": "Sheldon",
            "date_of_birth": "1930-11-18",
            "address_line": "37 Baume Crescent",
            "city": "Cowra",
            "postcode": "4650",
        }
        incoming = {**golden, "given_name": "Sheldon", "family_name": "Robert"}
        (best,) = matcher.score("resource", incoming, [("g1", golden)])
        assert best.tier == "auto"
        assert best.weights["given_name/family_name swapped"] > 5


class TestCompanyNames:
    """Legal forms written out in full, abbreviations and glued words: an acquired firm's
    system spells a registry's company another way, and the two must still meet."""

    def test_spelled_out_legal_forms_meet_their_abbreviations(self) -> None:
        for long, short in (
            ("Monos Software Kabushiki Kaisha", "Monos Software KK"),
            ("Danne Management Aktiebolag", "Danne Management AB"),
            ("Laurent Associates Public Limited Company", "Laurent Associates PLC"),
            ("Siemens Aktiengesellschaft", "Siemens AG"),
            ("Junwenquin Company Pty Limited", "Junwenquin Co Pty Ltd"),
            ("Fikaix Technologies S.p.A.", "Fikaix Tech SpA"),
        ):
            assert company_name(long) == company_name(short), (long, short)
        # words that tell sisters apart stay
        assert company_name("Acme Holdings Ltd") != company_name("Acme Services Ltd")

    def test_glued_and_split_words_meet_when_spaces_are_ignored(self) -> None:
        plain = TokenRatioAtThresholds("name", (95, 88), normaliser="company_name")
        glued = TokenRatioAtThresholds(
            "name", (95, 88), normaliser="company_name", ignore_spaces=True
        )
        pairs = [("RossiGroup AB", "Rossi Group AB"), ("Ragilmi R etail SARL", "Ragilmi Retail")]
        left = [company_name(a) for a, _ in pairs]
        right = [company_name(b) for _, b in pairs]
        assert plain.levels(left, right).tolist() == [3, 3]
        assert glued.levels(left, right).tolist() == [1, 1]
        # two different firms stay apart
        apart = glued.levels(
            [company_name("Northgate Holdings")], [company_name("Northgate Energy")]
        )
        assert apart.tolist() == [3]
