"""Company/person name, phone, postcode and date normalisers, with real-world hard cases."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from matching import company_name, date, folded, given_name, person_name, phone, postcode
from matching.formats import phone_in
from matching.names import _fold


class TestCompanyName:
    @pytest.mark.parametrize(
        "raw",
        ["The Acme Group", "ACME GROUP LIMITED", "Acme Grp.", "acme group ltd", "Acme Group, Inc."],
    )
    def test_variants_of_one_group_meet(self, raw: str) -> None:
        assert company_name(raw) == "acme group"

    def test_abbreviations_expand(self) -> None:
        assert company_name("Acme Intl. Corp") == company_name("ACME International Corporation")
        assert company_name("Acme Mfg Svcs") == "acme manufacturing services"

    def test_sister_companies_stay_apart(self) -> None:
        assert company_name("Acme Holdings Ltd") == "acme holdings"
        assert company_name("Acme Services Ltd") == "acme services"

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("Acme GmbH & Co. KG", "acme"),
            ("Acme S.A. de C.V.", "acme"),
            ("Acme Pty Ltd", "acme"),
            ("Acme Sp. z o.o.", "acme"),
            ("Société Générale S.A.", "societe generale"),
            ("Procter & Gamble Co", "procter and gamble"),
            ("Acme A/S", "acme"),
        ],
    )
    def test_legal_forms_of_many_countries(self, raw: str, expected: str) -> None:
        assert company_name(raw) == expected

    def test_never_empties_a_name(self) -> None:
        assert company_name("Ltd") == "ltd"
        assert company_name("The") == "the"

    def test_uk_is_kept(self) -> None:
        assert company_name("Acme UK Ltd") == "acme uk"

    @pytest.mark.parametrize("raw", [None, "", "   ", ["Acme"], True, float("nan")])
    def test_blank_or_garbage_is_none(self, raw: object) -> None:
        assert company_name(raw) is None


class TestPersonNames:
    def test_case_accents_punctuation(self) -> None:
        assert person_name("  José  O'Brien-Smith ") == "jose obrien smith"

    def test_nicknames_meet_formal_names(self) -> None:
        assert given_name("Bill") == given_name("william") == "william"
        assert given_name("Liz Anne") == "elizabeth anne"
        assert given_name("Jon") == "jon"  # ambiguous (John or Jonathan): left alone

    def test_folded_places(self) -> None:
        assert folded("São Paulo") == "sao paulo"
        assert folded(None) is None

    def test_ascii_shortcut_folds_as_unicode_folding_does(self) -> None:
        """ASCII skips NFKD and the accent strip (the hot path); it must give what they
        give, for every ASCII character and for text mixing it with accents."""
        every = "".join(chr(c) for c in range(128))
        for text in (every, every.upper(), "Rue de la Paix 12", "O'BRIEN & Sons"):
            full = "".join(
                ch
                for ch in unicodedata.normalize("NFKD", text.casefold())
                if not unicodedata.combining(ch)
            )
            assert _fold(text) == full
        assert _fold("ÉCOLE Rue") == "ecole rue"

    def test_folded_is_the_same_cached_or_not(self) -> None:
        assert folded("Rue  Saint-Honoré") == folded("Rue  Saint-Honoré") == "rue saint honore"
        assert folded(12) == folded("12") == "12"
        assert folded("A & B") == "a and b"


class TestPhone:
    def test_national_and_international_forms_meet(self) -> None:
        assert phone("020 7946 0000") == phone("+44 (0)20-7946-0000") == "+442079460000"

    def test_region_is_a_parameter(self) -> None:
        assert phone_in("(415) 555-2671", "US") == "+14155552671"

    def test_unparseable_keeps_digits_or_none(self) -> None:
        assert phone("ext 12") is None
        assert phone("123456789012345678") == "123456789012345678"
        assert phone(None) is None


class TestPostcode:
    def test_upper_without_spaces(self) -> None:
        assert postcode(" sw1a  1aa") == "SW1A1AA"
        assert postcode(2000) == "2000"
        assert postcode("  ") is None


class TestDate:
    @pytest.mark.parametrize(
        "raw",
        [
            "1965-03-12",
            "19650312",
            "12/03/1965",
            "12.03.1965",
            "12 Mar 1965",
            "March 12, 1965",
            "1965-03-12T08:00:00",
            dt.date(1965, 3, 12),
            dt.datetime(1965, 3, 12, 8, 0),
            19650312,
        ],
    )
    def test_common_formats(self, raw: object) -> None:
        assert date(raw) == "1965-03-12"

    def test_month_first_when_day_first_is_impossible(self) -> None:
        assert date("03/25/1965") == "1965-03-25"

    @pytest.mark.parametrize("raw", ["19651332", "1965-02-30", "not a date", "31/31/2000"])
    def test_invalid_kept_as_text(self, raw: str) -> None:
        assert date(raw) == raw

    @pytest.mark.parametrize("raw", [None, "", [1965], True])
    def test_blank_is_none(self, raw: object) -> None:
        assert date(raw) is None
