"""Unit tests for matching.normalise: canonical forms, and None (never an exception) for junk."""

from __future__ import annotations

import ipaddress
import random
import uuid
from decimal import Decimal

import pytest

from matching.normalise import (
    NORMALISERS,
    _may_be_ip,
    code,
    country,
    email,
    identity,
    remembered,
    tax_id,
    text,
    website_domain,
)

ODD_INPUTS: list[object] = [
    None,
    "",
    "   ",
    "\t\n",
    [],
    ["a", "b"],
    {"a": 1},
    {"a"},
    object(),
    True,
    False,
    float("nan"),
    float("inf"),
    Decimal("NaN"),
    b"\xff\xfe",
    10**5000,
    Decimal("1e5000"),
]


@pytest.mark.parametrize("name", sorted(NORMALISERS))
@pytest.mark.parametrize("value", ODD_INPUTS, ids=lambda v: type(v).__name__)
def test_every_normaliser_returns_none_for_blank_or_unusable_input(
    name: str, value: object
) -> None:
    assert NORMALISERS[name](value) is None


@pytest.mark.parametrize("name", sorted(NORMALISERS))
@pytest.mark.parametrize(
    "value",
    [
        123,
        -1,
        1.5,
        "not a url",
        "a@b",
        "\x00",
        "@@@",
        "http://",
        "[",
        "://",
        "é" * 300,
        "\ud800.com",
        "a@\ud800.com",
    ],
    ids=repr,
)
def test_every_normaliser_never_raises(name: str, value: object) -> None:
    result = NORMALISERS[name](value)
    assert result is None or (isinstance(result, str) and result != "")


def test_normaliser_registry_names() -> None:
    assert set(NORMALISERS) == {
        "text",
        "code",
        "email",
        "website",
        "tax_id",
        "country",
        "identity",
        "company_name",
        "person_name",
        "given_name",
        "folded",
        "phone",
        "postcode",
        "date",
    }
    assert NORMALISERS["website"].__wrapped__ is website_domain  # type: ignore[attr-defined]


def _values(rng: random.Random) -> list[object]:
    """Strings that repeat (as the hub's do) and values of other types that print alike."""
    pieces = [
        "Acme",
        " acme ",
        "ACME Ltd",
        "uk",
        "GB",
        "+44 20 7946 0000",
        "020 7946 0000",
        "www.acme.co.uk",
        "https://Acme.example/x",
        "a@Acme.com",
        "SW1A 1AA",
        "12",
        "2024-02-30",
        "\uff26\uff55\uff4c\uff4c",
        "Caf\u00e9",
        "Cafe\u0301",
        "\u200b",
        "1",
        "1.0",
        "True",
    ]
    out: list[object] = []
    for _ in range(3000):
        kind = rng.random()
        if kind < 0.7:
            out.append(rng.choice(pieces) + rng.choice(["", "", " 2", "-x"]))
        elif kind < 0.8:
            out.append(rng.choice([1, True, 1.0, 12, 12.0, Decimal("12"), False, 0, None]))
        elif kind < 0.9:
            out.append(rng.choice(pieces).encode())
        else:
            out.append("".join(rng.choice("a\u00e91 .-@\uff21") for _ in range(rng.randint(0, 6))))
    return out


@pytest.mark.parametrize("name", sorted(NORMALISERS))
def test_a_kept_answer_is_the_answer(name: str) -> None:
    """The registry's normalisers keep answers; each must equal its normaliser's own, for
    values seen for the first time or again, and never carry one type's answer to another
    (``1``, ``True`` and ``1.0`` are one key of a dict)."""
    kept, plain = NORMALISERS[name], NORMALISERS[name].__wrapped__  # type: ignore[attr-defined]
    for value in _values(random.Random(name)):
        assert kept(value) == plain(value), (name, value)


def test_only_exact_strings_are_kept_and_a_full_memo_starts_again() -> None:
    calls: list[object] = []

    def fn(v: object) -> str | None:
        calls.append(v)
        return None if v is None else f"{type(v).__name__}:{v}"

    class Shout(str):
        def __str__(self) -> str:
            return self.upper()

    memo = remembered(fn, size=2)
    assert [memo("a"), memo("a"), memo("b")] == ["str:a", "str:a", "str:b"]
    assert calls == ["a", "b"]  # the second "a" was kept
    assert memo(1) == "int:1" and memo(True) == "bool:True" and memo(1) == "int:1"
    assert memo(Shout("a")) == "Shout:A"  # a subclass is never answered from a str's answer
    assert calls[2:] == [1, True, 1, Shout("a")]
    memo("c")  # full: starts again with "c"
    memo("a")
    assert calls[-2:] == ["c", "a"]
    long = "x" * 257  # never kept: a field holding a document
    assert memo(long) == memo(long) == f"str:{long}" and calls[-2:] == [long, long]


class TestText:
    def test_casefold_collapse_and_strip(self) -> None:
        assert text("  Acme   Widgets\tLtd \n") == "acme widgets ltd"

    def test_casefold_is_stronger_than_lower(self) -> None:
        assert text("Straße") == "strasse"

    def test_accents_are_kept_but_composed_forms_are_equal(self) -> None:
        composed = "Caf\u00e9"
        decomposed = "Cafe\u0301"
        assert text(composed) == "café"
        assert text(decomposed) == "café"
        assert text("Cafe") != text("Café")

    def test_nfkc_folds_compatibility_characters(self) -> None:
        assert text("\uff21\uff23\uff2d\uff25") == "acme"  # full-width ACME
        assert text("ﬁne") == "fine"  # ligature

    def test_invisible_format_characters_are_dropped(self) -> None:
        assert text("\ufeffAcme") == "acme"
        assert text("Ac\u200bme") == "acme"

    def test_numbers(self) -> None:
        assert text(123) == "123"
        assert text(123.0) == "123"
        assert text(1.5) == "1.5"
        assert text(Decimal("42.00")) == "42"

    def test_bytes_and_uuid(self) -> None:
        assert text(b"Acme") == "acme"
        u = uuid.UUID("12345678-1234-5678-1234-567812345678")
        assert text(u) == str(u)


class TestCode:
    def test_uppercase_and_remove_all_whitespace(self) -> None:
        assert code("  prj 00 1 ") == "PRJ001"
        assert code("e-123\t4") == "E-1234"

    def test_punctuation_is_kept(self) -> None:
        assert code("a-1") != code("a1")

    def test_numbers(self) -> None:
        assert code(123) == "123"
        assert code(123.0) == "123"

    def test_full_width_digits(self) -> None:
        assert code("\uff11\uff12\uff13") == "123"


class TestIdentity:
    def test_only_strips(self) -> None:
        assert identity("  Mixed Case  x ") == "Mixed Case  x"
        assert identity(7) == "7"


class TestEmail:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("  John.Smith@Acme.COM ", "john.smith@acme.com"),
            ("j+sales@acme.co.uk", "j+sales@acme.co.uk"),
            ("first.last@sub.acme.com", "first.last@sub.acme.com"),
        ],
    )
    def test_valid(self, raw: str, expected: str) -> None:
        assert email(raw) == expected

    def test_plus_tags_and_dots_are_not_stripped(self) -> None:
        assert email("j.smith+x@gmail.com") != email("jsmith@gmail.com")

    @pytest.mark.parametrize(
        "raw",
        [
            "a@b",
            "acme.com",
            "@acme.com",
            "a@",
            "a@@acme.com",
            "a@b@acme.com",
            "john smith@acme.com",
            "a@.com",
            "a@acme.",
            "a@acme..com",
            123,
        ],
        ids=repr,
    )
    def test_invalid(self, raw: object) -> None:
        assert email(raw) is None


class TestWebsiteDomain:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("https://www.acme.co.uk/x", "acme.co.uk"),
            ("acme.co.uk", "acme.co.uk"),
            ("WWW.Acme.com", "acme.com"),
            ("http://shop.example.com:8080", "example.com"),
            ("http://shop.example.com:8080/path?q=1#frag", "example.com"),
            ("  https://user:pw@a.b.Example.COM./  ", "example.com"),
            ("acme.com/about", "acme.com"),
            ("ftp://files.acme.de", "acme.de"),
            ("bücher.de", "xn--bcher-kva.de"),
            ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ],
    )
    def test_registered_domain(self, raw: str, expected: str) -> None:
        assert website_domain(raw) == expected

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("https://acme.example", "acme.example"),
            ("https://www.acme.example/about", "acme.example"),
            ("shop.globex.test", "globex.test"),
            ("http://initech.invalid:8080/", "initech.invalid"),
            ("https://www.example.com", "example.com"),
            ("example.org", "example.org"),
        ],
    )
    def test_reserved_test_domains_are_domains(self, raw: str, expected: str) -> None:
        # The README's and the demo's sites live on reserved TLDs (RFC 2606, RFC 6761).
        assert website_domain(raw) == expected

    def test_a_bare_reserved_tld_is_no_domain(self) -> None:
        assert website_domain("example") is None
        assert website_domain("https://test/") is None

    def test_private_suffixes_keep_the_owners_label(self) -> None:
        # Documented choice: sites on shared platforms must not share one key.
        assert website_domain("https://acme.github.io/docs") == "acme.github.io"
        assert website_domain("www.acme.blogspot.com") == "acme.blogspot.com"
        assert website_domain("acme.github.io") != website_domain("other.github.io")

    @pytest.mark.parametrize(
        "raw",
        [
            "not a url",
            "localhost",
            "http://localhost:8000",
            "co.uk",
            "github.io",
            "com",
            "127.0.0.1",
            "http://10.0.0.1/x",
            "http://[::1]:80/",
            "http://[",
            "acme.local",
            "acme.invalidtld",
            "-acme-.com",
            "a" * 64 + ".com",
            "acme..com",
            "https://",
            "a@b",
            123,
        ],
        ids=repr,
    )
    def test_invalid(self, raw: object) -> None:
        assert website_domain(raw) is None

    def test_every_ip_literal_is_asked_about(self) -> None:
        """The quick test that spares real site names the ``ipaddress`` check lets every
        address through: random strings of address characters and known addresses."""
        rng = random.Random(7)
        alphabet = "0123456789abcdef.:%[]ex\u0661"
        hosts = ["1.2.3.4", "::1", "::ffff:10.0.0.1", "fe80::1%eth0", "0.0.0.0", "2001:db8::"]
        hosts += ["".join(rng.choices(alphabet, k=rng.randint(1, 16))) for _ in range(20_000)]
        hosts += [".".join(str(rng.randint(0, 300)) for _ in range(4)) for _ in range(2_000)]
        checked = 0
        for host in hosts:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                continue
            checked += 1
            assert _may_be_ip(host), host
        assert checked > 1_000


class TestTaxId:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("GB 123-456 789", "GB123456789"),
            ("gb123456789", "GB123456789"),
            ("DE.123/456.789", "DE123456789"),
            (123456789, "123456789"),
        ],
    )
    def test_valid(self, raw: object, expected: str) -> None:
        assert tax_id(raw) == expected

    @pytest.mark.parametrize("raw", ["-", " - / . ", "---"])
    def test_only_separators(self, raw: str) -> None:
        assert tax_id(raw) is None


class TestCountry:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("gb", "GB"),
            (" de ", "DE"),
            ("UK", "GB"),
            ("uk", "GB"),
            ("United Kingdom", "GB"),
            ("great  britain", "GB"),
            ("United States", "US"),
            ("USA", "US"),
            ("U.S.A.", "US"),
            ("u. s. a.", "US"),
            ("Germany", "DE"),
            ("Deutschland", "DE"),
            ("France", "FR"),
            ("Netherlands", "NL"),
            ("Spain", "ES"),
            ("Italy", "IT"),
            ("Ireland", "IE"),
            ("Canada", "CA"),
            ("Australia", "AU"),
            ("Switzerland", "CH"),
            ("Sweden", "SE"),
            ("Belgium", "BE"),
            ("Austria", "AT"),
            ("Denmark", "DK"),
            ("Norway", "NO"),
            ("Poland", "PL"),
            ("Portugal", "PT"),
            ("Japan", "JP"),
            ("India", "IN"),
            ("Singapore", "SG"),
            ("Brazil", "BR"),
            ("Mexico", "MX"),
            ("México", "MX"),
        ],
    )
    def test_recognised(self, raw: str, expected: str) -> None:
        assert country(raw) == expected

    def test_unknown_name_falls_back_to_text_form(self) -> None:
        assert country("  Republic of  Elbonia ") == "republic of elbonia"

    def test_non_ascii_two_letters_are_not_a_code(self) -> None:
        assert country("Éé") == "éé"

    def test_odd(self) -> None:
        assert country(123) == "123"
        assert country(None) is None


def test_clean_folds_and_drops_format_characters_and_passes_ascii_through() -> None:
    """ASCII skips NFKC (it is its own normal form and holds no format character); anything
    else is folded and stripped as before."""
    import unicodedata

    from matching._scalar import clean

    for i in range(128):
        ch = chr(i)
        assert clean(ch) == unicodedata.normalize("NFKC", ch) == ch
    assert clean("\ufeffAcme\u00adCorp\u200b") == "AcmeCorp"
    assert clean("\uff21\uff23\uff2d\uff25 \ufb01nance") == "ACME finance"
    assert clean("Cafe\u0301") == "Café"
