"""Fitting without labels on data with few fields: the shape of an HR export (names and a birth
date only), made here by a seeded generator so each case is known."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from matching import ExactMatch, FellegiSunterModel, JaroWinklerAtThresholds, dedupe, resource_spec
from matching.bulk import FitWarning, fit
from matching.estimate import TrainingBlock, fit_unlabelled
from matching.model import model_from_dict, model_to_dict
from matching.random_pairs import CodedField, estimate_u_coded

_GIVEN_WORDS = (
    "james mary john patricia robert jennifer michael linda william elizabeth david barbara "
    "richard susan joseph jessica thomas sarah charles karen christopher nancy daniel lisa "
    "matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily andrew "
    "donna joshua michelle kenneth carol kevin amanda brian melissa george deborah timothy "
    "stephanie ronald rebecca edward sharon jason laura jeffrey cynthia ryan kathleen jacob amy"
)
GIVEN = _GIVEN_WORDS.split()
_FAMILY_WORDS = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez "
    "gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white "
    "harris sanchez clark ramirez lewis robinson walker young allen king wright scott torres "
    "nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter roberts "
    "gomez phillips evans turner diaz parker cruz edwards collins reyes stewart morris morales "
    "murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos "
    "kim cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes "
    "price alvarez castillo sanders patel myers long ross foster jimenez powell jenkins perry "
    "russell sullivan bell coleman butler henderson barnes gonzales fisher vasquez simmons "
    "romero jordan patterson alexander hamilton graham reynolds griffin wallace moreno west "
    "cole hayes bryant herrera gibson ellis tran medina aguilar stevens murray ford castro "
    "marshall owens harrison fernandez mcdonald woods washington kennedy wells vargas henry "
    "chen freeman webb tucker guzman burns crawford olson simpson porter hunter gordon mendez"
)
FAMILY = _FAMILY_WORDS.split()


def _typo(s: str, rng: random.Random) -> str:
    """One keying error inside the word: two letters swapped, one dropped or one mistyped."""
    i = rng.randrange(1, len(s) - 1)
    kind = rng.random()
    if kind < 0.4:
        return s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    if kind < 0.7:
        return s[:i] + s[i + 1 :]
    return s[:i] + rng.choice("aeioulnrst") + s[i + 1 :]


def people(
    n: int = 3_000,
    duplicates: int = 300,
    seed: int = 7,
    given: list[str] = GIVEN,
    family: list[str] = FAMILY,
) -> tuple[list[dict[str, object]], set[tuple[int, int]]]:
    """``n`` people with names and birth dates, then ``duplicates`` re-keyed copies: most with a
    surname typo and the same date, some with a given-name typo or a date typo, some exact."""
    rng = random.Random(seed)
    records: list[dict[str, object]] = [
        {
            "given_name": rng.choice(given),
            "family_name": rng.choice(family),
            "date_of_birth": f"{rng.randint(1955, 2004)}-{rng.randint(1, 12):02d}-"
            f"{rng.randint(1, 28):02d}",
        }
        for _ in range(n)
    ]
    pairs = []
    for _ in range(duplicates):
        k = rng.randrange(n)
        copy = dict(records[k])
        roll = rng.random()
        if roll < 0.6:
            copy["family_name"] = _typo(str(copy["family_name"]), rng)
        elif roll < 0.75:
            copy["given_name"] = _typo(str(copy["given_name"]), rng)
        elif roll < 0.85:
            date = str(copy["date_of_birth"])
            copy["date_of_birth"] = date[:-1] + str((int(date[-1]) + 1) % 10)
        pairs.append((k, len(records)))
        records.append(copy)
    copies: dict[int, list[int]] = {}
    for k, dup in pairs:  # one person copied twice: the two copies are a true pair too
        copies.setdefault(k, [k]).append(dup)
    truth = {(a, b) for group in copies.values() for a in group for b in group if a < b}
    return records, truth


NAMES_DOB = ("given_name", "family_name", "date_of_birth")


def _fitted(records: list[dict[str, object]]) -> FellegiSunterModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        model = fit(resource_spec(), records).model
    assert model is not None
    return model


class TestFewFields:
    def test_em_on_names_and_birth_date_converges_with_m_above_u(self) -> None:
        records, _ = people()
        model = _fitted(records)
        by_label = {f.comparison.label: f for f in model.fields}
        for label in NAMES_DOB:
            fm = by_label[label]
            assert fm.m != fm.comparison.prior_m, f"{label}: m was not estimated"
            for level in range(fm.comparison.agreeing_levels):
                assert fm.m[level] > fm.u[level], (label, fm.comparison.level_names[level])
        # most true pairs agree exactly on the given name and the date (not on the surname:
        # most copies have a typo there)
        assert by_label["given_name"].m[0] > 0.6
        assert by_label["date_of_birth"].m[0] > 0.6
        assert not [w for w in model.warnings if w.split(":")[0] in NAMES_DOB]

    def test_prior_is_estimated_within_a_sane_factor(self) -> None:
        records, truth = people(n=2_000, duplicates=200, seed=3)
        model = _fitted(records)
        true_prior = len(truth) / (len(records) * (len(records) - 1) / 2)
        assert true_prior / 2 < model.prior < true_prior * 2
        assert model.prior != resource_spec().prior

    def test_prior_holds_when_half_the_birth_dates_are_blank(self) -> None:
        # The block on birth date then holds a quarter of the matches; its m is among pairs
        # with both dates, so the prior must count the blanks back in.
        records, truth = people(n=2_000, duplicates=200, seed=3)
        blank = random.Random(9)
        for rec in records:
            if blank.random() < 0.5:
                rec["date_of_birth"] = None
        model = _fitted(records)
        true_prior = len(truth) / (len(records) * (len(records) - 1) / 2)
        assert true_prior / 2 < model.prior < true_prior * 2

    def test_dedupe_finds_a_surname_typo_with_the_same_birth_date(self) -> None:
        # A staff list of 10,000 where names are common and alike (26 given names; surnames
        # and their -son/-s/-ley variants): the birth date carries most of the evidence.
        family = [f + end for f in FAMILY[:24] for end in ("", "", "", "son", "s", "ley")]
        records, truth = people(9_000, 1_000, seed=5, given=GIVEN[:26], family=family)
        typos = [
            (a, b)
            for a, b in sorted(truth)
            if records[a]["date_of_birth"] == records[b]["date_of_birth"]
            and records[a]["given_name"] == records[b]["given_name"]
            and records[a]["family_name"] != records[b]["family_name"]
            # two letters swapped, the commonest keying error
            and sorted(str(records[a]["family_name"])) == sorted(str(records[b]["family_name"]))
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            found = dedupe(records, resource_spec())
        auto = {(p.left, p.right) for p in found if p.tier == "auto"}
        a, b = typos[0]
        assert (records[a]["family_name"], records[b]["family_name"]) == ("gonzalez", "gonzalze")
        assert (a, b) in auto
        assert len(auto & set(typos)) > 0.6 * len(typos)
        assert len(auto & truth) > 0.7 * len(truth)
        assert len(auto - truth) <= 0.01 * len(auto)


class TestGenericValues:
    def test_a_placeholder_birth_date_neither_links_nor_drowns_the_real_dates(self) -> None:
        # 15% of an HR export carries 1900-01-01 for "unknown". Two random people then share a
        # birth date one time in 45: pooled, every shared date would be weak evidence (no
        # duplicate found at all), and EM in that block would learn "same date" as a match.
        records, truth = people(n=3_000, duplicates=300, seed=7)
        unknown = random.Random(2)
        for rec in records:
            if unknown.random() < 0.15:
                rec["date_of_birth"] = "1900-01-01"
        mary: dict[str, object] = {"given_name": "mary", "family_name": "johnson"}
        mary["date_of_birth"] = "1900-01-01"
        records += [mary, {**mary, "family_name": "jonson"}]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            found = dedupe(records, resource_spec())
        auto = {(p.left, p.right) for p in found if p.tier == "auto"}
        assert (len(records) - 2, len(records) - 1) not in auto
        assert len(auto & truth) > 0.5 * len(truth)
        assert len(auto - truth) <= 0.01 * len(auto)
        # a saved model keeps the generic values its u was fitted without
        model = _fitted(records)
        again = model_from_dict(model_to_dict(model), resource_spec().comparisons)
        (dob,) = (f for f in again.fields if f.comparison.label == "date_of_birth")
        assert dob.tf == {"1900-01-01": pytest.approx(0.15, abs=0.02)}


class TestRandomPairs:
    def test_u_is_repeatable_with_the_seed(self) -> None:
        comp = JaroWinklerAtThresholds("family_name", (0.92, 0.8))
        rng = random.Random(1)
        values = [rng.choice(FAMILY) + rng.choice(["", "s", "son"]) for _ in range(3_000)]
        vocab = np.empty(len(set(values)), dtype=object)
        index = {v: k for k, v in enumerate(dict.fromkeys(values))}
        vocab[:] = list(index)
        codes = np.array([index[v] for v in values], dtype=np.int64)
        field = CodedField(vocab, codes, codes)
        first = estimate_u_coded([comp], [field], dedupe=True, max_pairs=20_000, seed=5)
        again = estimate_u_coded([comp], [field], dedupe=True, max_pairs=20_000, seed=5)
        other = estimate_u_coded([comp], [field], dedupe=True, max_pairs=20_000, seed=6)
        assert first[0].tolist() == again[0].tolist()
        assert first[0].tolist() != other[0].tolist()
        # the exact level is counted over all pairs, so it does not depend on the sample
        assert first[0][0] == pytest.approx(other[0][0])
        assert first[0].sum() == pytest.approx(1.0)

    def test_a_fit_is_repeatable(self) -> None:
        records, _ = people(n=1_500, duplicates=150, seed=2)
        first, again = _fitted(records), _fitted(records)
        assert first.prior == again.prior
        assert [(f.m, f.u) for f in first.fields] == [(f.m, f.u) for f in again.fields]


class TestAgreeingLevelsCheck:
    def test_field_whose_fit_says_agreeing_is_against_falls_back_with_a_warning(self) -> None:
        # "country" agrees for 90% of random pairs (one big country) but for only 10% of the
        # candidate pairs EM calls matches: a fit with m < u on "exact" would make agreeing
        # count against a match. It must keep its declared m and say so.
        rng = np.random.default_rng(0)
        n = 4_000
        is_match = rng.random(n) < 0.3
        name = np.where(is_match, rng.random(n) < 0.05, rng.random(n) < 0.95).astype(np.int8)
        code = np.where(is_match, rng.random(n) < 0.05, rng.random(n) < 0.97).astype(np.int8)
        country = np.where(rng.random(n) < 0.9, 1, 0).astype(np.int8)
        country[is_match] = 1
        gamma = np.stack([name, code, country], axis=1)
        comps = (
            ExactMatch("name", m=(0.9, 0.1), u=(0.01, 0.99)),
            ExactMatch("code", m=(0.9, 0.1), u=(0.01, 0.99)),
            ExactMatch("country", m=(0.95, 0.05), u=(0.5, 0.5)),
        )
        u_random = [np.array([0.01, 0.99]), np.array([0.01, 0.99]), np.array([0.9, 0.1])]
        block = TrainingBlock("all", np.arange(n), frozenset(), None)
        start = FellegiSunterModel.from_comparisons(comps, prior=1e-3)
        model = fit_unlabelled(gamma, [block], u_random, start, total_pairs=10**7)
        assert model.fields[2].m == comps[2].prior_m
        assert any(w.startswith("country:") and "m <= u" in w for w in model.warnings)
        assert model.fields[0].m[0] > model.fields[0].u[0]

    def test_bulk_fit_issues_the_warning(self) -> None:
        # Region is recoded between the two halves of one system: true duplicates never agree
        # on it, while random people do half the time.
        records, _ = people(n=2_000, duplicates=300, seed=11)
        for k, rec in enumerate(records):
            rec["region"] = "north" if k < 2_000 and k % 2 else "south"
            if k >= 2_000:
                rec["region"] = "east"
        with pytest.warns(FitWarning, match="region"):
            spec = fit(resource_spec(), records)
        assert spec.model is not None
        region = next(f for f in spec.model.fields if f.comparison.label == "region")
        assert region.m == region.comparison.prior_m
